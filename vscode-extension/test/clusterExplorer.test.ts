import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CLUSTERS_REQUEST, MAX_ROWS_PER_REQUEST, ROWS_REQUEST } from '../src/protocol';
import { ExplorerController, explorerHtml, makeNonce, rowsToDraw, ToWebview } from '../src/views/clusterExplorer';
import { clustersResult, DANCE_ROW, rowInfo, URI } from './fixtures';

describe('the cluster explorer page', () => {
  const html = explorerHtml({
    cspSource: 'vscode-resource:',
    nonce: 'abc123',
    renderScript: 'vscode-resource:/media/render.js',
    mainScript: 'vscode-resource:/media/explorer.js',
    style: 'vscode-resource:/media/explorer.css',
  });

  it("has a strict content security policy", () => {
    const csp = /http-equiv="Content-Security-Policy" content="([^"]*)"/.exec(html)?.[1] ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'nonce-abc123'/);
    assert.match(csp, /style-src vscode-resource:/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
  });

  it('loads only nonce-carrying scripts from media/, and nothing remote', () => {
    const scripts = [...html.matchAll(/<script([^>]*)>/g)].map((match) => match[1]);
    assert.equal(scripts.length, 2);
    scripts.forEach((attributes) => {
      assert.match(attributes, /nonce="abc123"/);
      assert.match(attributes, /src="vscode-resource:\/media\//);
    });
    assert.doesNotMatch(html, /https?:\/\//);
    assert.doesNotMatch(html, /style="/, 'no inline styles (the CSP forbids them)');
  });

  it('makes a fresh nonce each time', () => {
    assert.notEqual(makeNonce(), makeNonce());
    assert.match(makeNonce(), /^[A-Za-z0-9]{16,}$/);
  });
});

describe('rows drawn per cluster', () => {
  it('takes the first rows of each cluster', () => {
    const clusters = clustersResult().cut!.clusters;
    assert.deepEqual(rowsToDraw(clusters, 1), [0, 2, 3]);
  });

  it('stays within one lens/rows request', () => {
    const many = Array.from({ length: 50 }, (_, id) => ({ id, level: 'pos', size: 40, rows: Array.from({ length: 40 }, (_, i) => id * 40 + i) }));
    const rows = rowsToDraw(many);
    assert.ok(rows.length <= MAX_ROWS_PER_REQUEST);
    assert.equal(rows.length, 500);
  });
});

function harness(answers: { clusters?: unknown; rows?: unknown } = {}) {
  const sent: [string, any][] = [];
  const posted: ToWebview[] = [];
  const opened: [string, any][] = [];
  const server = {
    request: async (method: string, params: any) => {
      sent.push([method, params]);
      if (method === CLUSTERS_REQUEST) {
        return ('clusters' in answers ? answers.clusters : clustersResult({ similarity: params.similarity ?? 'pos', k: params.k ?? 3 })) as any;
      }
      return (answers.rows ?? { rows: params.rows.map((row: number) => ({ ...DANCE_ROW, row })) }) as any;
    },
  };
  const controller = new ExplorerController(URI, server, (message) => posted.push(message), async (uri, range) => { opened.push([uri, range]); });
  return { controller, sent, posted, opened };
}

describe('the cluster explorer controller', () => {
  it('loads the clusters and the rows to draw when the page is ready', async () => {
    const { controller, sent, posted } = harness();
    await controller.handle({ type: 'ready' });
    assert.deepEqual(sent[0], [CLUSTERS_REQUEST, { uri: URI }]);
    assert.deepEqual(sent[1], [ROWS_REQUEST, { uri: URI, column: 'query', rows: [0, 1, 2, 3] }]);
    assert.equal(posted.length, 1);
    const message = posted[0];
    assert.equal(message.type, 'render');
    assert.equal(message.type === 'render' && message.model.fileName, 'music_requests.csv');
    assert.equal(message.type === 'render' && message.model.rows.length, 4);
  });

  it('asks for another similarity and k, keeping the rest', async () => {
    const { controller, sent } = harness();
    await controller.handle({ type: 'ready' });
    await controller.handle({ type: 'query', similarity: 'embedding' });
    await controller.handle({ type: 'query', k: 5 });
    const clusterRequests = sent.filter(([method]) => method === CLUSTERS_REQUEST).map(([, params]) => params);
    assert.deepEqual(clusterRequests.at(-2), { uri: URI, column: 'query', similarity: 'embedding', k: 3 });
    assert.deepEqual(clusterRequests.at(-1), { uri: URI, column: 'query', similarity: 'embedding', k: 5 });
  });

  it('drops an answer that a newer request overtook', async () => {
    const { controller, posted } = harness();
    await Promise.all([controller.handle({ type: 'query', k: 5 }), controller.handle({ type: 'query', k: 8 })]);
    assert.equal(posted.length, 1);
    assert.equal(posted[0].type === 'render' && posted[0].model.clusters.k, 8);
  });

  it('tells the page to wait while the document is analysed', async () => {
    const { controller, posted } = harness({ clusters: null });
    await controller.handle({ type: 'ready' });
    assert.deepEqual(posted, [{ type: 'message', text: 'Analysing… the clusters appear when the analysis is done.' }]);
  });

  it('says so when the column has no hierarchy', async () => {
    const { controller, posted } = harness({ clusters: { ...clustersResult(), similarities: [], ks: [], cut: null } });
    await controller.handle({ type: 'ready' });
    assert.equal(posted.length, 1);
    assert.match(posted[0].type === 'message' ? posted[0].text : '', /No clusters/);
  });

  it('opens a clicked row at its range', async () => {
    const { controller, opened } = harness({ rows: { rows: [rowInfo(1, [['x', 'X', 'ROOT', 0]])] } });
    await controller.handle({ type: 'ready' });
    await controller.handle({ type: 'openRow', row: 1 });
    assert.equal(opened.length, 1);
    assert.equal(opened[0][0], URI);
    assert.deepEqual([opened[0][1].start.line, opened[0][1].end.character], [2, 1]);
  });
});
