import * as assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { MAX_ROWS_PER_REQUEST, ROWS_REQUEST } from '../src/protocol';
import { fetchRows, revealRow, showRowsAsReferences } from '../src/rows';
import { DANCE_ROW, URI } from './fixtures';
import * as mock from './vscode-mock';

function fakeServer() {
  const sent: [string, any][] = [];
  return {
    sent,
    request: async (method: string, params: any) => {
      sent.push([method, params]);
      return { rows: params.rows.map((row: number) => ({ ...DANCE_ROW, row, range: { start: { line: row + 1, character: 0 }, end: { line: row + 1, character: 5 } } })) } as any;
    },
  };
}

describe('rows by index', () => {
  beforeEach(() => mock.resetMock());

  it('asks for at most one request worth of rows', async () => {
    const server = fakeServer();
    const rows = await fetchRows(server, URI, Array.from({ length: 700 }, (_, i) => i), 'query');
    assert.equal(rows.length, MAX_ROWS_PER_REQUEST);
    assert.deepEqual(server.sent[0][0], ROWS_REQUEST);
    assert.equal(server.sent[0][1].column, 'query');
  });

  it('reveals a row by selecting its range', async () => {
    await revealRow(fakeServer(), URI, 4);
    const editor = mock.calls.shown[0];
    assert.deepEqual([editor.selection.start.line, editor.selection.end.character], [5, 5]);
    assert.equal(editor.revealed.start.line, 5);
  });

  it("shows a cluster's rows in the references peek, saying when they are cut at 500", async () => {
    await showRowsAsReferences(fakeServer(), URI, Array.from({ length: 600 }, (_, i) => i));
    const [command, uri, position, locations] = mock.calls.executeCommand[0];
    assert.equal(command, 'editor.action.showReferences');
    assert.equal(uri.toString(), URI);
    assert.equal(position.line, 1);
    assert.equal(locations.length, 500);
    assert.match(mock.calls.messages[0].text, /first 500 of 600 rows/);
  });
});
