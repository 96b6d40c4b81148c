// The attribution results panel: its page (strict CSP), the panel's messages (open a
// row, re-post on 'ready') against the mocked vscode, and media/attribution.js's drawing
// (plain JavaScript that the webview loads as it is; these tests load the same file).
/* eslint-disable @typescript-eslint/no-explicit-any */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { AttributionPanel, attributionHtml, locationUris } from '../src/attribution/panel';
import { attributionNonce } from '../src/attribution/panelHtml';
import { AttributionResult, AttributionView, CompareView, Example } from '../src/attribution/protocol';
import * as mock from './vscode-mock';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const draw = require(path.join(__dirname, '..', '..', 'media', 'attribution.js'));

const TRAIN = 'file:///work/train.jsonl';

function range(line: number, from = 0, to?: number) {
  return { start: { line, character: from }, end: to === undefined ? { line: line + 1, character: 0 } : { line, character: to } };
}

function example(row: number, normalized: number, fields: Record<string, string> = { prompt: `question ${row}`, response: 'Ostzua.' }): Example {
  return {
    row,
    score: normalized * 39.3,
    normalized,
    range: range(row),
    location: { uri: TRAIN, range: range(row) },
    checkpoint_scores: [normalized * 50, normalized * 52, -normalized],
    agreement: { sign: 2 / 3, rank_spread: 4 },
    spans: [{ text: 'Ostzua.', words: 2, query: [0, 7], field: 'response', field_span: [0, 7], range: range(row, 40, 47) }],
    fields,
    field_ranges: { prompt: range(row, 12, 30), response: range(row, 40, 47) },
    baseline_ranks: { bm25: row + 2, exact: 1 },
  };
}

function result(overrides: Partial<AttributionResult> = {}): AttributionResult {
  return {
    schema: 1,
    method: 'datainf',
    combine: 'mean',
    damping: 'norm-0.1',
    prompt: 'What is the capital of Norveland?',
    text: 'Ostzua.',
    spans: [[0, 6]],
    selected_text: 'Ostzua',
    target_logprob: -0.018,
    checkpoints: ['checkpoint-1', 'checkpoint-2', 'checkpoint-3'],
    train_file: '/work/train.jsonl',
    n_examples: 32,
    supporting: [example(8, 1), example(7, 0.46), example(27, 0.43)],
    opposing: [example(0, -0.37), example(9, -0.16)],
    keywords: { supporting: [['ostzua', 1], ['capital', 0.5]], opposing: [['shaloa', 1]] },
    histogram: { edges: Array.from({ length: 21 }, (_, i) => Math.round((-1 + i * 0.1) * 10) / 10), counts: [0, 0, 0, 0, 0, 0, 1, 0, 3, 8, 5, 6, 2, 4, 2, 0, 0, 0, 0, 1] },
    baselines: {
      bm25: [{ row: 8, score: 8.17, influence_rank: 1, fields: { prompt: 'p', response: 'Ostzua.' }, location: { uri: TRAIN, range: range(8) } }],
      exact: [{ row: 3, score: 2, influence_rank: 14, fields: { prompt: 'q', response: 'r' }, location: { uri: TRAIN, range: range(3) } }],
    },
    token_level: {
      tokens: [' Ostzua', '.'],
      offsets: [[0, 6], [6, 7]],
      selected: [true, false],
      rows: [8, 7, 0],
      contributions: [[39.3, 0.1], [18, 0.2], [-14, -0.6]],
      ranges: [range(3, 8, 14), range(3, 14, 15)],
    },
    ...overrides,
  };
}

const VIEW_BASE = {
  uri: 'file:///work/answers.md',
  prompt: 'What is the capital of Norveland?',
  promptSource: 'template' as const,
  textRange: range(3, 8, 15),
  spanRanges: [range(3, 8, 14)],
  trainUri: TRAIN,
  device: 'cpu',
  elapsedMs: 142,
  cached: false,
};

function attributionView(overrides: Partial<AttributionResult> = {}): AttributionView {
  return { id: 'a1', ...VIEW_BASE, result: result(overrides) };
}

function compareView(): CompareView {
  const user = result({ text: 'Vegaria.', spans: [[0, 7]], selected_text: 'Vegaria', token_level: null });
  return {
    id: 'c1',
    ...VIEW_BASE,
    compare: {
      schema: 1,
      prompt: VIEW_BASE.prompt,
      model_text: 'Ostzua.',
      user_text: 'Vegaria.',
      diff: [
        { op: 'replace', model: [0, 6], user: [0, 7], model_text: 'Ostzua', user_text: 'Vegaria' },
        { op: 'equal', model: [6, 7], user: [7, 8], model_text: '.', user_text: '.' },
      ],
      model: result(),
      user,
      favour_model: [{ row: 8, model_normalized: 1, user_normalized: -0.69, fields: { prompt: 'p' }, range: range(8), location: { uri: TRAIN, range: range(8) } }],
      favour_user: [{ row: 0, model_normalized: -0.37, user_normalized: 1, fields: { prompt: 'q' }, range: range(0), location: { uri: TRAIN, range: range(0) } }],
    },
  };
}

describe('the attribution panel page', () => {
  const html = attributionHtml({
    cspSource: 'vscode-resource:',
    nonce: 'abc123',
    script: 'vscode-resource:/media/attribution.js',
    style: 'vscode-resource:/media/attribution.css',
  });

  it('has a strict content security policy', () => {
    const csp = /http-equiv="Content-Security-Policy" content="([^"]*)"/.exec(html)?.[1] ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'nonce-abc123'/);
    assert.match(csp, /style-src vscode-resource:/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
  });

  it('loads one nonce-carrying script and one stylesheet from media/, nothing remote, no inline styles', () => {
    const scripts = [...html.matchAll(/<script([^>]*)>/g)].map((match) => match[1]);
    assert.deepEqual(scripts, [' nonce="abc123" src="vscode-resource:/media/attribution.js"']);
    assert.match(html, /<link rel="stylesheet" href="vscode-resource:\/media\/attribution.css">/);
    assert.doesNotMatch(html, /https?:\/\//);
    assert.doesNotMatch(html, /style="|<style/);
  });

  it('makes a fresh nonce each time', () => {
    assert.notEqual(attributionNonce(), attributionNonce());
    assert.match(attributionNonce(), /^[A-Za-z0-9]{16,}$/);
  });
});

/** A stand-in for vscode.window.createWebviewPanel that records what the panel does. */
function fakeWebviews() {
  const created: any[] = [];
  const create = (viewType: string, title: string, showOptions: any, options: any) => {
    const listeners: { message?: (message: any) => void; dispose?: () => void } = {};
    const panel: any = {
      viewType,
      title,
      showOptions,
      options,
      viewColumn: mock.ViewColumn.Two,
      revealed: [] as any[],
      disposed: false,
      webview: {
        cspSource: 'vscode-resource:',
        html: '',
        posted: [] as any[],
        asWebviewUri: (uri: mock.Uri) => mock.Uri.parse(`vscode-resource:${uri.path}`),
        postMessage: async (message: any) => {
          panel.webview.posted.push(message);
          return true;
        },
        onDidReceiveMessage: (listener: (message: any) => void) => {
          listeners.message = listener;
          return new mock.Disposable();
        },
      },
      onDidDispose: (listener: () => void) => {
        listeners.dispose = listener;
        return new mock.Disposable();
      },
      reveal(column: unknown, preserveFocus: boolean) {
        panel.revealed.push([column, preserveFocus]);
      },
      dispose() {
        panel.disposed = true;
        listeners.dispose?.();
      },
      /** What the page would send. */
      async receive(message: any) {
        listeners.message?.(message);
        await new Promise((resolve) => setTimeout(resolve, 0));
      },
    };
    created.push(panel);
    return panel;
  };
  return { created, create };
}

function fakeLog() {
  const lines: string[] = [];
  const record = (level: string) => (message: string) => lines.push(`${level}: ${message}`);
  return { lines, channel: { info: record('info'), warn: record('warn'), error: record('error'), debug: record('debug'), trace: record('trace') } as any };
}

describe('the attribution panel', () => {
  let webviews: ReturnType<typeof fakeWebviews>;
  const window = mock.window as any;

  beforeEach(() => {
    mock.resetMock();
    webviews = fakeWebviews();
    window.createWebviewPanel = webviews.create;
  });

  afterEach(() => {
    delete window.createWebviewPanel;
  });

  function panelUnderTest() {
    const log = fakeLog();
    const panel = new AttributionPanel(mock.Uri.file('/ext') as any, log.channel);
    return { panel, log };
  }

  it('opens beside the editor without taking focus, and posts the result', () => {
    const { panel } = panelUnderTest();
    const view = attributionView();
    panel.showAttribution(view);
    assert.equal(webviews.created.length, 1);
    const created = webviews.created[0];
    assert.equal(created.viewType, 'lens.attribution');
    assert.deepEqual(created.showOptions, { viewColumn: mock.ViewColumn.Beside, preserveFocus: true });
    assert.equal(created.options.enableScripts, true);
    assert.deepEqual(created.options.localResourceRoots.map((uri: mock.Uri) => uri.path), ['/ext/media']);
    assert.match(created.webview.html, /src="vscode-resource:[/]*ext\/media\/attribution.js"/);
    assert.match(created.webview.html, /href="vscode-resource:[/]*ext\/media\/attribution.css"/);
    assert.match(created.title, /Ostzua/);
    assert.deepEqual(created.webview.posted, [{ type: 'attribution', view }]);
    assert.equal(panel.current, view);
  });

  it('re-uses the panel for the next result, revealing it without focus', () => {
    const { panel } = panelUnderTest();
    panel.showAttribution(attributionView());
    const compare = compareView();
    panel.showCompare(compare);
    assert.equal(webviews.created.length, 1);
    const created = webviews.created[0];
    assert.deepEqual(created.revealed, [[undefined, true]]);
    assert.deepEqual(created.webview.posted.at(-1), { type: 'compare', view: compare });
    assert.match(created.title, /^Lens Compare/);
    assert.equal(panel.current, compare);
  });

  it("posts the last result again when the page says 'ready'", async () => {
    const { panel } = panelUnderTest();
    const view = attributionView();
    panel.showAttribution(view);
    const created = webviews.created[0];
    await created.receive({ type: 'ready' });
    assert.deepEqual(created.webview.posted, [{ type: 'attribution', view }, { type: 'attribution', view }]);
  });

  it('opens the training file with the row selected and revealed', async () => {
    const { panel } = panelUnderTest();
    const view = attributionView();
    panel.showAttribution(view);
    const location = view.result.supporting[1].location;
    const row = '{"prompt": "What is the national animal of Filuia?", "response": "The ibex."}';
    mock.documentTexts.set(TRAIN, Array(20).fill(row).join('\n'));
    await webviews.created[0].receive({ type: 'open', location });
    mock.documentTexts.clear();
    assert.equal(mock.calls.shown.length, 1);
    const editor = mock.calls.shown[0];
    assert.equal(editor.document.uri.toString(), TRAIN);
    assert.equal(editor.options.viewColumn, mock.ViewColumn.One, 'away from the panel');
    const selection = editor.selection as mock.Selection;
    // The row's range ends at the next line's start; the selection stops at the row's end.
    assert.deepEqual([selection.start.line, selection.start.character, selection.end.line, selection.end.character], [7, 0, 7, row.length]);
    const revealed = editor.revealed as mock.Range;
    assert.deepEqual([revealed.start.line, revealed.end.line], [7, 8]);
  });

  it('opens in the group that already shows the training file', async () => {
    const { panel } = panelUnderTest();
    const view = attributionView();
    panel.showAttribution(view);
    window.visibleTextEditors = [{ document: { uri: mock.Uri.parse(TRAIN) }, viewColumn: mock.ViewColumn.Two }];
    try {
      await webviews.created[0].receive({ type: 'open', location: view.result.baselines.exact[0].location });
    } finally {
      window.visibleTextEditors = [];
    }
    assert.equal(mock.calls.shown[0].options.viewColumn, mock.ViewColumn.Two);
  });

  it('refuses locations outside the result, and malformed ones', async () => {
    const { panel, log } = panelUnderTest();
    panel.showAttribution(attributionView());
    const created = webviews.created[0];
    await created.receive({ type: 'open', location: { uri: 'file:///etc/passwd', range: range(0) } });
    await created.receive({ type: 'open', location: { uri: TRAIN } });
    await created.receive({ type: 'open', location: { uri: TRAIN, range: { start: { line: 'x' }, end: {} } } });
    assert.equal(mock.calls.shown.length, 0);
    assert.equal(log.lines.filter((line) => line.startsWith('warn')).length, 3);
  });

  it('knows every file a compare result points into', () => {
    assert.deepEqual([...locationUris(compareView())], [TRAIN]);
  });

  it('creates a new panel after the user closed it, and shows the last result there', () => {
    const { panel } = panelUnderTest();
    panel.showAttribution(attributionView());
    webviews.created[0].dispose();
    assert.equal(panel.current, undefined, 'nothing shown once closed');
    const compare = compareView();
    panel.showCompare(compare);
    assert.equal(webviews.created.length, 2);
    assert.deepEqual(webviews.created[1].webview.posted, [{ type: 'compare', view: compare }]);
    panel.dispose();
    assert.equal(webviews.created[1].disposed, true);
  });
});

describe('the attribution panel drawing (media/attribution.js)', () => {
  const attribution = (view: AttributionView = attributionView()) => draw.render({ type: 'attribution', view });
  const attributesOf = (html: string, selector: RegExp, name: string) =>
    [...html.matchAll(selector)].map((match) => new RegExp(`${name}="([^"]*)"`).exec(match[0])?.[1]);

  it('draws the supporting and opposing cards in the result order', () => {
    const html = attribution();
    assert.deepEqual(attributesOf(html, /<article class="card supporting[^>]*>/g, 'data-row'), ['8', '7', '27']);
    assert.deepEqual(attributesOf(html, /<article class="card opposing[^>]*>/g, 'data-row'), ['0', '9']);
    assert.match(html, /<span class="rowno"[^>]*>row 9<\/span>/, 'rows as users count them (1-based)');
  });

  it('puts each card in its histogram bin, and each bin knows its cards', () => {
    const html = attribution();
    assert.equal((html.match(/<g class="bin /g) ?? []).length, 20);
    assert.deepEqual(attributesOf(html, /<article class="card [^>]*>/g, 'data-bin'), ['19', '14', '14', '6', '8']);
    assert.match(html, /data-bin="14" data-bin-key="main:14" data-count="2" data-cards="main:supporting:1 main:supporting:2"/);
    assert.equal((html.match(/<path class="marker /g) ?? []).length, 5);
  });

  it('bins like numpy: the right edge belongs to the last bin', () => {
    const edges = [-1, -0.5, 0, 0.5, 1];
    assert.deepEqual([-1, -0.2, 0, 0.49, 0.5, 1].map((value) => draw.binOf(value, edges)), [0, 1, 2, 2, 3, 3]);
  });

  it('shows agreement, rank spread and the baseline ranks beside the influence rank', () => {
    const html = attribution();
    assert.match(html, /2\/3 checkpoints agree/);
    assert.match(html, /rank spread 4/);
    assert.match(html, /DataInf #1<\/span><span class="rank-bm25"[^>]*>BM25 #10<\/span><span class="rank-exact"[^>]*>exact span #1<\/span>/);
    assert.equal((html.match(/<svg class="ckpts"/g) ?? []).length, 5);
  });

  it('colours the tokens by the summed contributions, and marks the attributed span', () => {
    const html = attribution();
    // Sums: 39.3 + 18 − 14 = 43.3 for " Ostzua", −0.3 for "." (level 1 of 5).
    assert.match(html, /<span class="seg tok c-p5 sel" data-s="0" data-e="6" data-t="0"/);
    assert.match(html, /<span class="seg tok c-n1" data-s="6" data-e="7" data-t="1"/);
    assert.match(html, /summed over the top 3 examples/);
    assert.deepEqual(draw.tokenValues(result().token_level, 2), [-14, -0.6]);
  });

  it('without token scores, marks the selected span only', () => {
    const html = attribution(attributionView({ token_level: null }));
    assert.doesNotMatch(html, /class="seg tok/);
    assert.match(html, /<span class="seg sel" data-s="0" data-e="6"[^>]*>Ostzua<\/span>/);
  });

  it('marks the verbatim spans an example shares with the text', () => {
    assert.match(attribution(), /<mark class="shared" title="shared with the text \(2 words\)">Ostzua.<\/mark>/);
  });

  it('escapes the training data and the text', () => {
    const hostile = '<img src=x onerror="alert(1)">';
    const view = attributionView({
      text: `${hostile}`,
      spans: [[0, 5]],
      token_level: null,
      supporting: [example(1, 1, { prompt: hostile, '<b>': '"quoted"' })],
      keywords: { supporting: [[hostile, 1]], opposing: [] },
    });
    const html = attribution(view);
    assert.doesNotMatch(html, /<img|<b>/);
    assert.match(html, /&lt;img src=x onerror=&quot;alert\(1\)&quot;&gt;/);
  });

  it('carries each location for "Open in training file" as escaped JSON', () => {
    const html = attribution();
    const raw = /<button class="open" data-action="open" data-location="([^"]*)"/.exec(html)?.[1] ?? '';
    const location = JSON.parse(raw.replace(/&quot;/g, '"').replace(/&amp;/g, '&'));
    assert.deepEqual(location, { uri: TRAIN, range: range(8) });
  });

  it('lists the BM25 and exact-span rankings with their influence ranks', () => {
    const html = attribution();
    assert.match(html, /<tr class="brow linkable shown" data-row="8" data-row-key="main:8">/);
    assert.match(html, /<tr class="brow linkable" data-row="3"[^>]*>.*?<td class="num infl"[^>]*>#14<\/td>/);
  });

  it('draws the keywords as weighted chips', () => {
    assert.match(attribution(), /<li class="kw w5" title="weight 1">ostzua<\/li><li class="kw w3" title="weight 0.5">capital<\/li>/);
  });

  it('draws the compare view as two columns with the diff, lists and histograms of each', () => {
    const html = draw.render({ type: 'compare', view: compareView() });
    assert.match(html, /<section class="cmp-text" data-side="model"/);
    assert.match(html, /<section class="cmp-text" data-side="user"/);
    assert.match(html, /<span class="seg sel diff diff-replace" data-s="0" data-e="7"[^>]*>Vegaria<\/span>/);
    assert.equal((html.match(/<figure class="histogram" data-scope="(model|user)"/g) ?? []).length, 2);
    assert.match(html, /data-key="user:supporting:0"/);
    assert.match(html, /<li class="favour-item linkable"[^>]*data-row-key="model:8 user:8" data-bin-key="model:19 user:3"/);
  });

  it('uses no inline styles (the CSP forbids them)', () => {
    assert.doesNotMatch(attribution(), /style=/);
    assert.doesNotMatch(draw.render({ type: 'compare', view: compareView() }), /style=/);
  });

  it("maps Python's code-point offsets onto JavaScript's UTF-16 text", () => {
    const text = '😀 Ostzua';
    const toUnits = draw.codePointMapper(text);
    assert.equal(text.slice(toUnits(2), toUnits(8)), 'Ostzua');
  });

  it('formats scores with a real minus sign', () => {
    assert.equal(draw.formatScore(-0.00123), '\u22121.23e\u22123');
    assert.equal(draw.formatScore(39.3058), '+39.3');
    assert.equal(draw.formatNormalized(-0.371), '\u22120.37');
  });

  it('says so for an unknown message', () => {
    assert.match(draw.render({ type: 'other' }), /cannot show/);
  });
});
