// The attribution lens in the attributed document: code lens titles, hover markdown, token
// heat buckets, the per-document store and its edit rule, and the providers' vscode glue.
/* eslint-disable @typescript-eslint/no-explicit-any */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { AttributionDocuments, heatRanges } from '../src/attribution/documentLens';
import {
  codeLensTitle,
  compareLensTitle,
  escapeMarkdown,
  HEAT_LEVELS,
  heatBuckets,
  heatColour,
  hoverMarkdown,
  preview,
  signed,
} from '../src/attribution/present';
import { AttributionView, CompareView, TokenLevel } from '../src/attribution/protocol';
import { AttributionStore, spanRanges, StoredAttribution, textRange } from '../src/attribution/store';
import { LspRange } from '../src/protocol';
import * as mock from './vscode-mock';

// The server's answers on the demo model (tests/fixtures/attribution): the answer
// "Ostzua." is at line 3, characters 8–15 of answers.md; the selection is "Ostzua".
const FIXTURES = path.join(__dirname, '..', '..', '..', 'tests', 'fixtures', 'attribution');
const attributionView = (): AttributionView => JSON.parse(fs.readFileSync(path.join(FIXTURES, 'attribution_view.json'), 'utf8'));
const compareView = (): CompareView => JSON.parse(fs.readFileSync(path.join(FIXTURES, 'compare_view.json'), 'utf8'));
const DOC_URI = 'file:///workspace/answers.md';

function range(line: number, start: number, endLine: number, end: number): LspRange {
  return { start: { line, character: start }, end: { line: endLine, character: end } };
}

/** A view of the fixture moved to other ranges (the selection `span`, the answer `text`). */
function viewAt(span: LspRange, text: LspRange = span): AttributionView {
  const view = attributionView();
  return { ...view, spanRanges: [span], textRange: text, result: { ...view.result, token_level: null } };
}

/** Decodes a `command:` link: [command, arguments]. */
function commandLink(markdown: string, label: string): [string, unknown[]] {
  const escaped = label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const match = new RegExp(`\\[${escaped}\\]\\(command:([\\w.]+)\\?([^)]*)\\)`).exec(markdown);
  assert.ok(match, `a "${label}" link in:\n${markdown}`);
  return [match![1], JSON.parse(decodeURIComponent(match![2]))];
}

describe('the code lens title', () => {
  it('counts the examples and names the method and checkpoints', () => {
    assert.equal(codeLensTitle(attributionView()), '10 supporting · 10 opposing · method DataInf, 3 checkpoints');
  });

  it('leaves checkpoints out for the methods without gradients, and says "1 checkpoint"', () => {
    const view = attributionView();
    view.result = { ...view.result, method: 'bm25', supporting: view.result.supporting.slice(0, 1), opposing: [] };
    assert.equal(codeLensTitle(view), '1 supporting · 0 opposing · method BM25');
    view.result = { ...view.result, method: 'graddot', checkpoints: ['checkpoint-400'] };
    assert.equal(codeLensTitle(view), '1 supporting · 0 opposing · method grad-dot, 1 checkpoint');
  });

  it("says how many examples favour the model's text and the user's for a comparison", () => {
    assert.equal(compareLensTitle(compareView()), "Compared with your text: 10 favour the model's · 10 favour yours · method DataInf, 3 checkpoints");
  });
});

describe('the hover markdown', () => {
  it('lists the top three supporting examples and the top opposing one, with links', () => {
    const view = attributionView();
    const markdown = hoverMarkdown(view, '7');
    const { supporting, opposing } = view.result;
    assert.match(markdown, /^\*\*Lens attribution\*\* · method DataInf, 3 checkpoints · 32 training examples/);
    for (const example of supporting.slice(0, 3)) {
      const [command, args] = commandLink(markdown, `Open row ${example.row}`);
      assert.equal(command, 'lens.revealAttribution');
      assert.deepEqual(args, [example.location.uri, example.location.range]);
    }
    assert.doesNotMatch(markdown, new RegExp(`Open row ${supporting[3].row}\\]`));
    assert.ok(markdown.includes(`1. \`+1.00\` row ${supporting[0].row}: What is the capital of Norveland? → Ostzua.`), markdown);
    assert.ok(markdown.includes(`\`${signed(opposing[0].normalized)}\` row ${opposing[0].row}`));
    const opposingPart = markdown.slice(markdown.indexOf('**Opposing**'));
    assert.equal((opposingPart.match(/Open row/g) ?? []).length, 1);
    assert.deepEqual(commandLink(markdown, 'Show all in panel'), ['lens.openAttribution', ['7']]);
  });

  it('escapes the examples\' text and keeps each to one line', () => {
    assert.equal(escapeMarkdown('a *b* [c](d) <e> `f`'), 'a \\*b\\* \\[c\\](d) \\<e\\> \\`f\\`');
    assert.equal(preview({ prompt: 'Two\n  lines', response: 'ok' }), 'Two lines → ok');
    const long = preview({ text: 'word '.repeat(40) }, 20);
    assert.equal(long.length, 20);
    assert.ok(long.endsWith('…'));
    assert.equal(signed(-0.123), '-0.12');
    assert.equal(signed(0), '+0.00');
  });

  it('says so when nothing was found', () => {
    const view = attributionView();
    view.result = { ...view.result, supporting: [], opposing: [] };
    assert.match(hoverMarkdown(view, '1'), /No training example/);
  });
});

describe('the token heat', () => {
  const tokens = (contributions: number[][]): TokenLevel => ({
    tokens: contributions[0].map((_, i) => `t${i}`),
    offsets: contributions[0].map((_, i) => [i, i + 1] as [number, number]),
    selected: contributions[0].map(() => true),
    rows: contributions.map((_, i) => i),
    contributions,
    ranges: contributions[0].map((_, i) => range(0, i, 0, i + 1)),
  });

  it('sums each token over the examples and buckets it by sign and share of the largest', () => {
    // Sums: 10, -10, 5, -2, 0.5, 7.6
    const heat = heatBuckets(tokens([[8, -4, 3, -1, 0.5, 7.6], [2, -6, 2, -1, 0, 0]]));
    assert.deepEqual(heat.map((token) => [token.range.start.character, token.positive, token.level]), [
      [0, true, 3],
      [1, false, 3],
      [2, true, 2],
      [3, false, 0],
      [5, true, 3],
    ]);
  });

  it('has nothing for missing or all-zero scores', () => {
    assert.deepEqual(heatBuckets(null), []);
    assert.deepEqual(heatBuckets(tokens([[0, 0]])), []);
  });

  it('buckets the server\'s own token scores', () => {
    const heat = heatBuckets(attributionView().result.token_level);
    assert.deepEqual(heat.map((token) => [token.range, token.positive, token.level]), [[range(3, 8, 3, 14), true, HEAT_LEVELS - 1]]);
  });

  it('has one colour per bucket, green for positive and red for negative, stronger by level', () => {
    assert.equal(heatColour(true, 0), 'rgba(42, 157, 75, 0.12)');
    assert.equal(heatColour(false, HEAT_LEVELS - 1), 'rgba(192, 57, 43, 0.54)');
  });
});

describe('the attributions of a document', () => {
  const entry = (store: AttributionStore, span: LspRange, text?: LspRange): StoredAttribution =>
    store.add(DOC_URI, { kind: 'attribution', view: viewAt(span, text) });

  it('keeps the newest few, and replaces one whose selection overlaps', () => {
    const store = new AttributionStore(3);
    const first = entry(store, range(1, 0, 1, 5));
    const second = entry(store, range(3, 0, 3, 5));
    const again = entry(store, range(1, 2, 1, 8));
    assert.deepEqual(store.entries(DOC_URI).map((e) => e.id), [again.id, second.id]);
    assert.equal(store.find(first.id), undefined);
    entry(store, range(5, 0, 5, 1));
    entry(store, range(7, 0, 7, 1));
    assert.equal(store.entries(DOC_URI).length, 3);
    assert.equal(store.find(second.id), undefined);
    assert.deepEqual(store.entries('file:///other.md'), []);
  });

  it('moves with lines added or removed above, and stays for edits after it', () => {
    const store = new AttributionStore();
    const kept = entry(store, range(3, 8, 3, 14), range(3, 8, 3, 15));
    assert.equal(store.applyChanges(DOC_URI, [{ range: range(0, 0, 0, 0), text: 'one\ntwo\n' }]), true);
    assert.deepEqual(spanRanges(kept), [range(5, 8, 5, 14)]);
    assert.deepEqual(textRange(kept), range(5, 8, 5, 15));
    // Two lines above joined into one: up by one.
    store.applyChanges(DOC_URI, [{ range: range(1, 3, 2, 0), text: '' }]);
    assert.deepEqual(spanRanges(kept), [range(4, 8, 4, 14)]);
    // Same-line edits after the answer, and edits below it, change nothing.
    assert.equal(store.applyChanges(DOC_URI, [{ range: range(4, 15, 4, 15), text: ' More.' }, { range: range(9, 0, 9, 0), text: 'x\n' }]), false);
    assert.deepEqual(spanRanges(kept), [range(4, 8, 4, 14)]);
    // A one-line edit above that adds no line breaks changes nothing either.
    assert.equal(store.applyChanges(DOC_URI, [{ range: range(0, 0, 0, 3), text: 'ONE' }]), false);
  });

  it('drops an attribution whose text is edited, or edited before it on its first line', () => {
    const store = new AttributionStore();
    entry(store, range(3, 8, 3, 14), range(3, 8, 3, 15));
    assert.equal(store.applyChanges(DOC_URI, [{ range: range(3, 10, 3, 11), text: 'X' }]), true);
    assert.deepEqual(store.entries(DOC_URI), []);
    entry(store, range(3, 8, 3, 14), range(3, 8, 3, 15));
    store.applyChanges(DOC_URI, [{ range: range(3, 0, 3, 0), text: '> ' }]);
    assert.deepEqual(store.entries(DOC_URI), []);
    entry(store, range(3, 8, 3, 14), range(3, 8, 3, 15));
    store.applyChanges(DOC_URI, [{ range: range(2, 0, 4, 0), text: '' }]);
    assert.deepEqual(store.entries(DOC_URI), []);
  });

  it('is forgotten with its document', () => {
    const store = new AttributionStore();
    entry(store, range(3, 8, 3, 14));
    assert.equal(store.forget(DOC_URI), true);
    assert.equal(store.forget(DOC_URI), false);
  });
});

describe('the attribution lens in the editor', () => {
  let documents: AttributionDocuments;
  const document = { uri: mock.Uri.parse(DOC_URI) } as any;
  const editor = () => {
    const decorations = new Map<any, mock.Range[]>();
    return { document, decorations, setDecorations: (type: any, ranges: mock.Range[]) => decorations.set(type, ranges) };
  };
  const lspOf = (r: mock.Range) => range(r.start.line, r.start.character, r.end.line, r.end.character);

  beforeEach(() => {
    mock.resetMock();
    documents = new AttributionDocuments();
  });
  afterEach(() => documents.dispose());

  it('puts a code lens above the span that re-opens the panel', () => {
    let fired = 0;
    documents.onDidChangeCodeLenses(() => fired++);
    const stored = documents.add(DOC_URI, { kind: 'attribution', view: attributionView() });
    documents.add(DOC_URI, { kind: 'compare', view: compareView() });
    assert.ok(fired >= 1);
    const lenses = documents.provideCodeLenses(document) as unknown as mock.CodeLens[];
    assert.equal(lenses.length, 1, 'the comparison of the same selection replaced the attribution');
    assert.match(lenses[0].command!.title, /^Compared with your text/);
    documents.add('file:///workspace/notes.md', { kind: 'attribution', view: attributionView() });
    const [lens] = documents.provideCodeLenses({ uri: mock.Uri.parse('file:///workspace/notes.md') } as any) as unknown as mock.CodeLens[];
    assert.deepEqual(lspOf(lens.range), range(3, 0, 3, 0));
    assert.equal(lens.command!.title, '10 supporting · 10 opposing · method DataInf, 3 checkpoints');
    assert.equal(lens.command!.command, 'lens.openAttribution');
    assert.equal(documents.find(lens.command!.arguments![0] as string)?.stored.kind, 'attribution');
    assert.notEqual(stored.id, lens.command!.arguments![0]);
    assert.deepEqual(documents.provideCodeLenses({ uri: mock.Uri.parse('file:///elsewhere.md') } as any), []);
  });

  it('answers hovers over the span with trusted markdown', () => {
    const stored = documents.add(DOC_URI, { kind: 'attribution', view: attributionView() });
    const hover = documents.provideHover(document, new mock.Position(3, 10) as any) as unknown as mock.Hover;
    assert.ok(hover);
    assert.deepEqual(lspOf(hover.range!), range(3, 8, 3, 14));
    assert.equal(hover.contents.value, hoverMarkdown(attributionView(), stored.id));
    assert.deepEqual((hover.contents as any).isTrusted, { enabledCommands: ['lens.revealAttribution', 'lens.openAttribution'] });
    assert.equal(documents.provideHover(document, new mock.Position(3, 2) as any), undefined);
    assert.equal(documents.provideHover(document, new mock.Position(1, 10) as any), undefined);
  });

  it('marks the span, and shows the token heat only when it is on', () => {
    const shown = editor();
    mock.window.visibleTextEditors = [shown];
    documents.add(DOC_URI, { kind: 'attribution', view: attributionView() });
    const span = (documents as any).spanDecoration;
    const heat: any[] = (documents as any).heatDecorations;
    assert.equal(heat.length, 2 * HEAT_LEVELS);
    assert.deepEqual(shown.decorations.get(span)!.map(lspOf), [range(3, 8, 3, 14)]);
    assert.ok(heat.every((type: any) => shown.decorations.get(type)!.length === 0));

    mock.settings.set('lens.attribution.tokenHeat', true);
    mock.events.changeConfiguration.fire({ affectsConfiguration: (section: string) => section === 'lens.attribution.tokenHeat' });
    assert.deepEqual(shown.decorations.get(heat[HEAT_LEVELS - 1])!.map(lspOf), [range(3, 8, 3, 14)]);
    assert.match(heat[HEAT_LEVELS - 1].options.backgroundColor, /^rgba\(42, 157, 75/);
  });

  it('follows edits: a line added above moves the lens, an edit inside removes it', () => {
    const shown = editor();
    mock.window.visibleTextEditors = [shown];
    documents.add(DOC_URI, { kind: 'attribution', view: attributionView() });
    const change = (r: LspRange, text: string) => mock.events.changeTextDocument.fire({
      document,
      contentChanges: [{ range: new mock.Range(new mock.Position(r.start.line, r.start.character), new mock.Position(r.end.line, r.end.character)), text }],
    });
    change(range(0, 0, 0, 0), 'Intro\n');
    const [lens] = documents.provideCodeLenses(document) as unknown as mock.CodeLens[];
    assert.equal(lens.range.start.line, 4);
    assert.deepEqual(shown.decorations.get((documents as any).spanDecoration)!.map(lspOf), [range(4, 8, 4, 14)]);
    change(range(4, 9, 4, 9), 'x');
    assert.deepEqual(documents.provideCodeLenses(document), []);
    assert.deepEqual(shown.decorations.get((documents as any).spanDecoration), []);
  });

  it('paints each answer once, with its newest attribution', () => {
    const store = new AttributionStore();
    const view = attributionView();
    const tokens = view.result.token_level!;
    store.add(DOC_URI, { kind: 'attribution', view: { ...view, spanRanges: [range(3, 14, 3, 15)] } });
    store.add(DOC_URI, { kind: 'attribution', view });
    const buckets = heatRanges(store.entries(DOC_URI));
    assert.equal(buckets.flat().length, heatBuckets(tokens).length);
  });

  it('forgets a closed document', () => {
    documents.add(DOC_URI, { kind: 'attribution', view: attributionView() });
    mock.events.closeTextDocument.fire(document);
    assert.deepEqual(documents.provideCodeLenses(document), []);
  });
});
