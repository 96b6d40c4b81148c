import * as assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { analyzeFileOnDisk, fileToAnalyze, showRows } from '../src/commands';
import { ANALYZE_FILE_REQUEST } from '../src/protocol';
import * as mock from './vscode-mock';

describe('lens.showRows', () => {
  beforeEach(() => mock.resetMock());

  it('converts LSP JSON arguments and opens the references peek', async () => {
    const range = { start: { line: 4, character: 0 }, end: { line: 4, character: 20 } };
    await showRows('file:///data/a.csv', { line: 1, character: 0 }, [
      { uri: 'file:///data/a.csv', range },
      { uri: 'file:///data/a.csv', range: { start: { line: 9, character: 2 }, end: { line: 9, character: 7 } } },
    ]);
    assert.equal(mock.calls.executeCommand.length, 1);
    const [command, uri, position, locations] = mock.calls.executeCommand[0];
    assert.equal(command, 'editor.action.showReferences');
    assert.ok(uri instanceof mock.Uri);
    assert.equal(uri.toString(), 'file:///data/a.csv');
    assert.ok(position instanceof mock.Position);
    assert.deepEqual([position.line, position.character], [1, 0]);
    assert.equal(locations.length, 2);
    assert.ok(locations[0] instanceof mock.Location);
    assert.ok(locations[0].range instanceof mock.Range);
    assert.deepEqual([locations[1].range.start.line, locations[1].range.start.character, locations[1].range.end.character], [9, 2, 7]);
  });

  it('passes vscode objects through unchanged', async () => {
    const uri = mock.Uri.parse('file:///d.csv');
    const location = new mock.Location(uri, new mock.Range(new mock.Position(1, 0), new mock.Position(1, 3)));
    await showRows(uri as any, new mock.Position(1, 0) as any, [location as any]);
    assert.equal(mock.calls.executeCommand[0][3][0], location);
  });
});

describe('Lens: Analyze File on Disk', () => {
  beforeEach(() => mock.resetMock());

  it('analyses the active dataset file', async () => {
    const sent: [string, unknown][] = [];
    const server = { request: async (method: string, params: unknown) => { sent.push([method, params]); return { rows: 10, findings: 3 } as any; } };
    const result = await analyzeFileOnDisk(server, mock.Uri.file('/data/big.jsonl') as any);
    assert.deepEqual(sent, [[ANALYZE_FILE_REQUEST, { uri: 'file:///data/big.jsonl' }]]);
    assert.deepEqual(result, { rows: 10, findings: 3 });
    assert.match(mock.calls.messages[0].text, /10 rows, 3 findings/);
  });

  it('asks for a file when the active one is not a dataset', async () => {
    mock.dialog.result = [mock.Uri.file('/data/picked.csv')];
    const picked = await fileToAnalyze(mock.Uri.file('/src/readme.md') as any);
    assert.equal(picked?.toString(), 'file:///data/picked.csv');
  });

  it('does nothing when the user cancels the dialog', async () => {
    const server = { request: async () => assert.fail('no request expected') };
    assert.equal(await analyzeFileOnDisk(server as any, undefined), undefined);
  });
});
