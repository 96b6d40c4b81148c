// media/render.js is the webview's drawing code; it is plain JavaScript so that the
// webview loads it as it is, and these tests load the same file.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { clustersResult, DANCE_ROW, rowInfo } from './fixtures';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const render = require(path.join(__dirname, '..', '..', 'media', 'render.js'));

const ROWS = [
  DANCE_ROW,
  rowInfo(1, [['songs', 'NOUN', 'ROOT', 0], ['to', 'PART', 'aux', 2], ['cook', 'VERB', 'relcl', 0]]),
  rowInfo(2, [['jazz', 'NOUN', 'compound', 1], ['music', 'NOUN', 'ROOT', 1]]),
  rowInfo(3, [['<b>', 'X', 'ROOT', 0]]),
];

function explorer(overrides: object = {}) {
  return render.renderExplorer({ fileName: 'music.csv', clusters: clustersResult(), rows: ROWS, ...overrides });
}

describe('the cluster explorer drawing', () => {
  it('draws one column per cluster with its size and pattern', () => {
    const html = explorer();
    assert.equal((html.match(/<section class="cluster"/g) ?? []).length, 3);
    assert.match(html, /<span class="size">2 rows<\/span>/);
    assert.match(html, /<span class="chip word">songs<\/span>/);
    assert.match(html, /<span class="chip slot pos-VERB">VERB<\/span>/);
    assert.match(html, /<span class="chip gap">…<\/span>/);
  });

  it('draws each row as POS-coloured tokens with dependency arcs', () => {
    const svg = render.renderRowSvg(DANCE_ROW);
    assert.match(svg, /<g class="tok pos-NOUN root" data-posdep="NOUN\|ROOT">/);
    assert.match(svg, /<g class="tok pos-VERB" data-posdep="VERB\|relcl">/);
    // Two arcs: songs → dance (relcl) and dance → to (aux); the root has none.
    assert.equal((svg.match(/<g class="arc"/g) ?? []).length, 2);
    assert.match(svg, /<text class="dep"[^>]*>relcl<\/text>/);
  });

  it('lays tokens out left to right and arcs higher for longer distances', () => {
    const { boxes } = render.layoutTokens(DANCE_ROW.tokens);
    assert.ok(boxes[0].x < boxes[1].x && boxes[1].x < boxes[2].x);
    assert.ok(render.arcHeight(2) > render.arcHeight(1));
    const arcs = render.dependencyArcs(DANCE_ROW.tokens, boxes, 40);
    assert.deepEqual(arcs.map((arc: any) => [arc.from, arc.to, arc.dep]), [[2, 1, 'aux'], [0, 2, 'relcl']]);
  });

  it('ignores heads outside the row', () => {
    const tokens = [{ text: 'a', start: 0, pos: 'DET', dep: 'det', head: 7 }];
    assert.deepEqual(render.dependencyArcs(tokens, render.layoutTokens(tokens).boxes, 40), []);
  });

  it('marks rows for click-to-open with their row index', () => {
    assert.match(explorer(), /<div class="row" data-row="1" tabindex="0" role="button"/);
  });

  it('offers the similarity switch, with unavailable ones disabled', () => {
    const html = explorer({ clusters: clustersResult({ similarities: ['pos', 'token'] }) });
    assert.match(html, /data-value="pos"[^>]*aria-pressed="true">POS</);
    assert.match(html, /data-value="token"[^>]*aria-pressed="false">Token</);
    assert.match(html, /data-value="embedding"[^>]*aria-pressed="false" disabled>Embedding</);
    assert.match(html, /data-value="dep"[^>]*disabled>DEP</);
  });

  it('steps k with − and +, disabled at the ends', () => {
    const first = explorer({ clusters: clustersResult({ ks: [3, 5, 8], k: 3 }) });
    assert.match(first, /<button data-action="k" disabled title="Fewer clusters">−<\/button>/);
    assert.match(first, /<button data-action="k" data-value="5" title="More clusters">\+<\/button>/);
    const middle = explorer({ clusters: clustersResult({ ks: [3, 5, 8], k: 5 }) });
    assert.match(middle, /data-value="3" title="Fewer clusters"/);
    assert.match(middle, /data-value="8" title="More clusters"/);
  });

  it('computes the next k from the available ones', () => {
    assert.equal(render.nextK([3, 5, 8, 10], 5, 1), 8);
    assert.equal(render.nextK([3, 5, 8, 10], 5, -1), 3);
    assert.equal(render.nextK([3, 5, 8, 10], 10, 1), undefined);
    assert.equal(render.nextK([3, 5, 8, 10], 6, 1), 8, 'from a k that is not offered');
    assert.equal(render.nextK([3, 5, 8, 10], 6, -1), 5);
    assert.equal(render.nextK([], 5, 1), undefined);
  });

  it('gives every token its POS+DEP key for the hover highlight', () => {
    const html = explorer();
    assert.ok((html.match(/data-posdep="NOUN\|ROOT"/g) ?? []).length >= 3, 'the same key in several clusters');
  });

  it('escapes the data', () => {
    const html = explorer();
    assert.doesNotMatch(html, /<b>/);
    assert.match(html, /&lt;b&gt;/);
  });

  it('has a compact mode without arcs', () => {
    const html = explorer({ compact: true });
    assert.doesNotMatch(html, /<svg/);
    assert.match(html, /<span class="tok pos-NOUN" data-posdep="NOUN\|ROOT"/);
  });

  it('offers a column choice when there are several', () => {
    assert.match(explorer(), /<select data-action="column"><option value="query" selected>query<\/option><option value="recommended_artists">/);
  });

  it('uses no inline styles (the CSP forbids them)', () => {
    assert.doesNotMatch(explorer(), /style=/);
  });
});
