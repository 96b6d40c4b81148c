import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CLUSTERS_REQUEST } from '../src/protocol';
import { ClusterTreeProvider, patternText } from '../src/views/clusterTree';
import { clustersResult, URI } from './fixtures';
import * as mock from './vscode-mock';

function fakeServer(answer: unknown) {
  const sent: [string, unknown][] = [];
  return { sent, request: async (method: string, params: unknown) => { sent.push([method, params]); return answer as any; } };
}

describe('the cluster tree', () => {
  it('shows nothing without a document', async () => {
    const tree = new ClusterTreeProvider(fakeServer(null));
    assert.deepEqual(await tree.getChildren(), []);
  });

  it('walks syntax → lexicon → semantics from lens/clusters', async () => {
    const server = fakeServer(clustersResult());
    const tree = new ClusterTreeProvider(server);
    tree.setDocument(URI);
    const roots = await tree.getChildren();
    assert.deepEqual(server.sent, [[CLUSTERS_REQUEST, { uri: URI }]]);
    assert.deepEqual(roots.map((node) => node.cluster.id), ['s1', 's2']);
    const lexicon = await tree.getChildren(roots[0]);
    assert.deepEqual(lexicon.map((node) => node.cluster.level), ['lexicon', 'lexicon']);
    const semantics = await tree.getChildren(lexicon[0]);
    assert.deepEqual(semantics.map((node) => node.cluster.level), ['semantics']);
    assert.equal(tree.message, 'query: syntax → lexicon → semantics');
  });

  it('labels items with pattern and size, and selecting one reveals its first row', async () => {
    const tree = new ClusterTreeProvider(fakeServer(clustersResult()));
    tree.setDocument(URI);
    const [syntax] = await tree.getChildren();
    const item = tree.getTreeItem(syntax);
    assert.equal(item.label, 'songs that make you want to VERB');
    assert.equal(item.description, '3 rows · syntax');
    assert.equal(item.collapsibleState, mock.TreeItemCollapsibleState.Collapsed);
    assert.equal(item.contextValue, 'lensCluster', 'the "Show All Rows" context command applies');
    assert.equal(item.command?.command, 'lens.revealClusterRow');
    assert.equal(item.command?.arguments?.[0], syntax);
    const leaf = tree.getTreeItem((await tree.getChildren((await tree.getChildren(syntax))[0]))[0]);
    assert.equal(leaf.label, 'semantics cluster m1', 'a cluster without a pattern is named by level and id');
    assert.equal(leaf.collapsibleState, mock.TreeItemCollapsibleState.None);
  });

  it('says so while the document is being analysed', async () => {
    const tree = new ClusterTreeProvider(fakeServer(null));
    const messages: (string | undefined)[] = [];
    tree.onMessage = (message) => messages.push(message);
    tree.setDocument(URI);
    assert.deepEqual(await tree.getChildren(), []);
    assert.match(String(messages.at(-1)), /Analysing/);
  });

  it('says so when the server is not running', async () => {
    const tree = new ClusterTreeProvider({ request: async () => { throw new Error('The Lens server is not running'); } });
    tree.setDocument(URI);
    assert.deepEqual(await tree.getChildren(), []);
    assert.match(String(tree.message), /not running/);
  });

  it('joins array patterns', () => {
    assert.equal(patternText(['NOUN', 'music']), 'NOUN music');
    assert.equal(patternText(null), '');
  });
});
