// The attribution lens's commands: requests built from the editor and the settings, the
// prompt asked for and retried, cancellation, errors, the generated answer's insertion,
// compare, reveal, the token heat toggle, and the status item's attribution state.
/* eslint-disable @typescript-eslint/no-explicit-any */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeEach, describe, it } from 'node:test';
import {
  attributeSelection,
  compareSelection,
  generateAndAttribute,
  openStored,
  revealAttribution,
  toggleTokenHeat,
} from '../src/attribution/commands';
import { planInsertion, positionAfter } from '../src/attribution/insertion';
import { ATTRIBUTE_REQUEST, AttributionView, COMPARE_REQUEST, CompareView, GENERATE_REQUEST } from '../src/attribution/protocol';
import { LensStatusItem, statusPresentation } from '../src/status';
import * as mock from './vscode-mock';

// ---- test doubles: the server's saved answers (tests/fixtures/attribution, made by the
// real server on the demo model), an in-memory document and editor, a server double.

const FIXTURES = path.join(__dirname, '..', '..', '..', 'tests', 'fixtures', 'attribution');

function attributionView(): AttributionView {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, 'attribution_view.json'), 'utf8'));
}

function compareView(): CompareView {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, 'compare_view.json'), 'utf8'));
}

/** The document the fixtures were made from (the answer "Ostzua." is on line 3). */
const ANSWERS_MD = '# Answers\n\nQuestion: What is the capital of Norveland?\nAnswer: Ostzua.\n';

class FakeDocument {
  version = 1;
  constructor(
    readonly uri: mock.Uri,
    public text: string,
  ) {}

  private get lines(): string[] {
    return this.text.split('\n');
  }

  offsetAt(position: { line: number; character: number }): number {
    const lines = this.lines.slice(0, position.line);
    return lines.reduce((sum, line) => sum + line.length + 1, 0) + position.character;
  }

  getText(range?: mock.Range): string {
    return range ? this.text.slice(this.offsetAt(range.start), this.offsetAt(range.end)) : this.text;
  }

  lineAt(line: number): { text: string } {
    return { text: this.lines[line] };
  }

  insert(position: mock.Position, text: string): void {
    const offset = this.offsetAt(position);
    this.text = this.text.slice(0, offset) + text + this.text.slice(offset);
    this.version += 1;
  }
}

function fakeEditor(document: FakeDocument, selection: mock.Selection) {
  const editor = {
    document,
    selection,
    revealed: undefined as mock.Range | undefined,
    decorations: new Map<unknown, mock.Range[]>(),
    async edit(callback: (builder: { insert(position: mock.Position, text: string): void }) => void): Promise<boolean> {
      callback({ insert: (position, text) => document.insert(position, text) });
      return true;
    },
    revealRange(range: mock.Range) {
      editor.revealed = range;
    },
    setDecorations(type: unknown, ranges: mock.Range[]) {
      editor.decorations.set(type, ranges);
    },
  };
  return editor;
}

function selection(line: number, start: number, endLine: number, end: number): mock.Selection {
  return new mock.Selection(new mock.Position(line, start), new mock.Position(endLine, end));
}

/** A server double: answers with `answer(method, params, token)` and records each request. */
function fakeServer(answer: (method: string, params: any, token: any) => unknown) {
  const sent: { method: string; params: any; token: any }[] = [];
  return {
    sent,
    async request<R>(method: string, params: unknown, token?: unknown): Promise<R> {
      sent.push({ method, params, token });
      return (await answer(method, params, token)) as R;
    },
  };
}

function fakeDeps(server: ReturnType<typeof fakeServer>) {
  const shown: { kind: string; view: any }[] = [];
  const added: { uri: string; stored: any }[] = [];
  const logged: string[] = [];
  return {
    shown,
    added,
    logged,
    deps: {
      server: server as any,
      panel: {
        showAttribution: (view: any) => shown.push({ kind: 'attribution', view }),
        showCompare: (view: any) => shown.push({ kind: 'compare', view }),
      },
      documents: { add: (uri: string, stored: any) => added.push({ uri, stored }) },
      log: { info: (message: string) => logged.push(message), error: (message: string) => logged.push(message) },
    },
  };
}

/** An LSP error as vscode-jsonrpc rejects with (ResponseError: code and message). */
function responseError(code: number, message: string): Error & { code: number } {
  return Object.assign(new Error(message), { code });
}

const DOC_URI = 'file:///workspace/answers.md';

function answersEditor(sel = selection(3, 8, 3, 14)) {
  return fakeEditor(new FakeDocument(mock.Uri.parse(DOC_URI), ANSWERS_MD), sel);
}

/** Lets pending promise callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('Lens: Attribute Selection', () => {
  beforeEach(() => mock.resetMock());

  it('sends the document, the selection and the settings, and shows the result', async () => {
    mock.settings.set('lens.attribution.method', 'graddot');
    mock.settings.set('lens.attribution.topK', 5);
    const view = attributionView();
    const server = fakeServer(async () => view);
    const { deps, shown, added } = fakeDeps(server);
    const editor = answersEditor();

    const result = await attributeSelection(deps, editor as any);

    assert.equal(result, view);
    assert.equal(server.sent.length, 1);
    const { method, params, token } = server.sent[0];
    assert.equal(method, ATTRIBUTE_REQUEST);
    assert.deepEqual(params, {
      uri: DOC_URI,
      text: ANSWERS_MD,
      range: { start: { line: 3, character: 8 }, end: { line: 3, character: 14 } },
      method: 'graddot',
      topK: 5,
      tokenLevel: true,
    });
    assert.equal(token, mock.ui.progress[0].source.token, 'the progress token goes to the client');
    assert.deepEqual(mock.ui.progress[0].options, { location: mock.ProgressLocation.Notification, title: 'Lens: attributing the selection…', cancellable: true });
    assert.deepEqual(shown, [{ kind: 'attribution', view }]);
    assert.deepEqual(added, [{ uri: DOC_URI, stored: { kind: 'attribution', view } }]);
    assert.deepEqual(mock.calls.messages, []);
  });

  it('uses the documented defaults without settings', async () => {
    const server = fakeServer(async () => attributionView());
    await attributeSelection(fakeDeps(server).deps, answersEditor() as any);
    assert.equal(server.sent[0].params.method, 'datainf');
    assert.equal(server.sent[0].params.topK, 10);
    assert.equal('prompt' in server.sent[0].params, false);
  });

  it('asks for the prompt when the server finds none, and retries with it', async () => {
    const view = attributionView();
    const server = fakeServer(async (_method, params) => {
      if (params.prompt === undefined) {
        throw responseError(-32001, 'no prompt found before the selection; give the prompt explicitly');
      }
      return view;
    });
    const { deps, shown } = fakeDeps(server);
    mock.ui.inputs.push('What is the capital of Norveland?');

    const result = await attributeSelection(deps, answersEditor() as any);

    assert.equal(result, view);
    assert.equal(server.sent.length, 2);
    assert.equal(server.sent[1].params.prompt, 'What is the capital of Norveland?');
    assert.deepEqual({ ...server.sent[1].params, prompt: undefined }, { ...server.sent[0].params, prompt: undefined });
    assert.match(mock.ui.inputBoxes[0].prompt, /no prompt found/);
    assert.equal(mock.ui.inputBoxes[0].validateInput('  '), 'Type some text (Escape cancels).');
    assert.equal(shown.length, 1);
    assert.deepEqual(mock.calls.messages, []);
  });

  it('stops quietly when the user escapes the prompt box', async () => {
    const server = fakeServer(async () => {
      throw responseError(-32001, 'no prompt found before the selection');
    });
    const { deps, shown } = fakeDeps(server);
    mock.ui.inputs.push(undefined);
    assert.equal(await attributeSelection(deps, answersEditor() as any), undefined);
    assert.equal(server.sent.length, 1);
    assert.deepEqual(shown, []);
    assert.deepEqual(mock.calls.messages, []);
  });

  it('shows a user error with "Open Settings", which opens the attribution settings', async () => {
    const message = 'lens.attribution.model and lens.attribution.adapter are not set (or run `lens demo --workspace DIR`)';
    const server = fakeServer(async () => {
      throw responseError(-32001, message);
    });
    const { deps, shown } = fakeDeps(server);
    mock.ui.messageChoices.push('Open Settings');

    assert.equal(await attributeSelection(deps, answersEditor() as any), undefined);

    assert.deepEqual(mock.calls.messages, [{ kind: 'error', text: `Lens: ${message}`, items: ['Open Settings'] }]);
    assert.deepEqual(mock.calls.executeCommand, [['workbench.action.openSettings', 'lens.attribution']]);
    assert.deepEqual(mock.ui.inputBoxes, [], 'not a missing prompt: no prompt box');
    assert.deepEqual(shown, []);
  });

  it('shows other errors without a settings button', async () => {
    const server = fakeServer(async () => {
      throw new Error('The Lens server is not running (see the Lens output channel).');
    });
    await attributeSelection(fakeDeps(server).deps, answersEditor() as any);
    assert.deepEqual(mock.calls.messages, [{ kind: 'error', text: 'Lens: The Lens server is not running (see the Lens output channel).', items: [] }]);
  });

  it('cancels: the request token is cancelled, the command ends at once and shows nothing', async () => {
    let reject: (error: unknown) => void = () => {};
    const server = fakeServer((_method, _params, token) => new Promise((_resolve, rejectRequest) => {
      reject = rejectRequest;
      assert.equal(token.isCancellationRequested, false);
    }));
    const { deps, shown, added } = fakeDeps(server);
    const running = attributeSelection(deps, answersEditor() as any);
    await settle();

    mock.ui.progress[0].source.cancel();
    assert.equal(await running, undefined);
    assert.equal(server.sent[0].token.isCancellationRequested, true, 'the client sends $/cancelRequest');
    // The server's late answer to the cancelled request changes nothing.
    reject(responseError(-32800, 'Request cancelled'));
    await settle();
    assert.deepEqual(shown, []);
    assert.deepEqual(added, []);
    assert.deepEqual(mock.calls.messages, []);
  });

  it('shows nothing when the server cancels the request', async () => {
    const server = fakeServer(async () => {
      throw responseError(-32800, 'Request cancelled');
    });
    assert.equal(await attributeSelection(fakeDeps(server).deps, answersEditor() as any), undefined);
    assert.deepEqual(mock.calls.messages, []);
  });

  it('shows a result for a document edited meanwhile in the panel only', async () => {
    const editor = answersEditor();
    const server = fakeServer(async () => {
      editor.document.insert(new mock.Position(0, 0), 'x');
      return attributionView();
    });
    const { deps, shown, added } = fakeDeps(server);
    await attributeSelection(deps, editor as any);
    assert.equal(shown.length, 1);
    assert.deepEqual(added, []);
  });

  it('needs an editor', async () => {
    const server = fakeServer(async () => assert.fail('no request expected'));
    assert.equal(await attributeSelection(fakeDeps(server).deps, undefined), undefined);
    assert.match(mock.calls.messages[0].text, /open the document/);
  });
});

describe("the generated answer's place in the document", () => {
  const generated = { insertText: 'Question: What is the capital?\nAnswer: Ostzua.\n', answerOffset: 39 };

  it('goes after the cursor line when that line has text, on a new line', () => {
    const plan = planInsertion('Some notes', { line: 4, character: 3 }, generated);
    assert.deepEqual(plan.position, { line: 4, character: 10 });
    assert.equal(plan.text, '\n' + generated.insertText);
    assert.deepEqual(plan.answer, { start: { line: 6, character: 8 }, end: { line: 6, character: 15 } });
  });

  it('goes at the cursor on a blank line', () => {
    const plan = planInsertion('', { line: 2, character: 0 }, generated);
    assert.deepEqual(plan.position, { line: 2, character: 0 });
    assert.equal(plan.text, generated.insertText);
    assert.deepEqual(plan.answer, { start: { line: 3, character: 8 }, end: { line: 3, character: 15 } });
    assert.deepEqual(planInsertion('   ', { line: 2, character: 1 }, generated).position, { line: 2, character: 1 });
  });

  it('counts UTF-16 units: astral characters are two', () => {
    // "Q: 😀?" + " " → the answer starts at UTF-16 offset 7 (the emoji is a surrogate pair).
    const text = 'Q: 😀? Grüße 🎉 dir.\n';
    const plan = planInsertion('', { line: 0, character: 2 }, { insertText: text, answerOffset: 7 });
    assert.equal(text.slice(7, text.length - 1), 'Grüße 🎉 dir.');
    assert.deepEqual(plan.answer, { start: { line: 0, character: 9 }, end: { line: 0, character: 2 + text.length - 1 } });
    assert.equal(plan.answer.end.character - plan.answer.start.character, 13, 'G r ü ß e, space, 🎉 (2), space, d i r .');
  });

  it('follows a multi-line answer, and CRLF line breaks', () => {
    const text = 'Question: Name two.\r\nAnswer: first line\r\nsecond 😀 line\r\n';
    const plan = planInsertion('', { line: 10, character: 0 }, { insertText: text, answerOffset: text.indexOf('first') });
    assert.deepEqual(plan.answer, { start: { line: 11, character: 8 }, end: { line: 12, character: 14 } });
    assert.deepEqual(positionAfter({ line: 0, character: 5 }, 'a\rb\nc', 5), { line: 2, character: 1 });
  });

  it('is empty when the model answered nothing', () => {
    const plan = planInsertion('', { line: 0, character: 0 }, { insertText: 'Question: Q\nAnswer: \n', answerOffset: 20 });
    assert.deepEqual(plan.answer.start, plan.answer.end);
  });
});

describe('Lens: Generate and Attribute', () => {
  beforeEach(() => mock.resetMock());

  it('inserts the answer below the cursor line and attributes exactly it, with the prompt', async () => {
    const view = attributionView();
    const answer = 'Ostzua, 😀 on the\ncoast.';
    const insertText = `Question: Where?\nAnswer: ${answer}\n`;
    const server = fakeServer(async (method) =>
      method === GENERATE_REQUEST
        ? { prompt: 'Where?', text: answer, insertText, answerOffset: insertText.indexOf('Ostzua'), elapsedMs: 5 }
        : view);
    const { deps, shown } = fakeDeps(server);
    const document = new FakeDocument(mock.Uri.parse(DOC_URI), '# Notes\nSome text here\n\nLater.');
    const editor = fakeEditor(document, selection(1, 4, 1, 4));
    mock.ui.inputs.push('Where?');

    const result = await generateAndAttribute(deps, editor as any);
    assert.deepEqual(mock.calls.messages, []);

    assert.equal(result, view);
    assert.deepEqual(server.sent.map((request) => request.method), [GENERATE_REQUEST, ATTRIBUTE_REQUEST]);
    assert.deepEqual(server.sent[0].params, { prompt: 'Where?' });
    // After the cursor's line; its line break then the document's blank line end the answer.
    assert.equal(document.text, `# Notes\nSome text here\n${insertText}\n\nLater.`);
    const { params } = server.sent[1];
    assert.equal(params.text, document.text);
    assert.equal(params.prompt, 'Where?');
    assert.deepEqual(params.range, { start: { line: 3, character: 8 }, end: { line: 4, character: 6 } });
    const range = new mock.Range(new mock.Position(3, 8), new mock.Position(4, 6));
    assert.equal(document.getText(range), answer);
    assert.deepEqual([editor.selection.start, editor.selection.end], [range.start, range.end]);
    assert.equal(shown.length, 1);
  });

  it('does nothing when the prompt box is escaped', async () => {
    const server = fakeServer(async () => assert.fail('no request expected'));
    mock.ui.inputs.push(undefined);
    assert.equal(await generateAndAttribute(fakeDeps(server).deps, answersEditor() as any), undefined);
  });

  it('inserts nothing when generation is cancelled', async () => {
    const server = fakeServer(() => new Promise(() => {}));
    const editor = answersEditor();
    mock.ui.inputs.push('Where?');
    const running = generateAndAttribute(fakeDeps(server).deps, editor as any);
    await settle();
    mock.ui.progress[0].source.cancel();
    assert.equal(await running, undefined);
    assert.equal(editor.document.text, ANSWERS_MD);
  });
});

describe('Lens: Compare Selection with Text…', () => {
  beforeEach(() => mock.resetMock());

  it('offers the selection to edit, then compares', async () => {
    mock.settings.set('lens.attribution.topK', 3);
    const view = compareView();
    const server = fakeServer(async () => view);
    const { deps, shown, added } = fakeDeps(server);
    mock.ui.inputs.push('Vegaria.');

    const result = await compareSelection(deps, answersEditor(selection(3, 8, 3, 15)) as any);

    assert.equal(result, view);
    assert.equal(mock.ui.inputBoxes[0].value, 'Ostzua.');
    assert.equal(server.sent[0].method, COMPARE_REQUEST);
    assert.deepEqual(server.sent[0].params, {
      uri: DOC_URI,
      text: ANSWERS_MD,
      range: { start: { line: 3, character: 8 }, end: { line: 3, character: 15 } },
      userText: 'Vegaria.',
      method: 'datainf',
      topK: 3,
    });
    assert.deepEqual(shown, [{ kind: 'compare', view }]);
    assert.deepEqual(added, [{ uri: DOC_URI, stored: { kind: 'compare', view } }]);
  });

  it('asks for the prompt too when none is found', async () => {
    const server = fakeServer(async (_method, params) => {
      if (!params.prompt) {
        throw responseError(-32001, 'no prompt found before the selection');
      }
      return compareView();
    });
    mock.ui.inputs.push('Vegaria.', 'What is the capital of Norveland?');
    await compareSelection(fakeDeps(server).deps, answersEditor() as any);
    assert.equal(server.sent.length, 2);
    assert.equal(server.sent[1].params.prompt, 'What is the capital of Norveland?');
    assert.equal(server.sent[1].params.userText, 'Vegaria.');
  });

  it('does nothing when the text box is escaped', async () => {
    const server = fakeServer(async () => assert.fail('no request expected'));
    mock.ui.inputs.push(undefined);
    assert.equal(await compareSelection(fakeDeps(server).deps, answersEditor() as any), undefined);
  });
});

describe('the other attribution commands', () => {
  beforeEach(() => mock.resetMock());

  it('lens.revealAttribution opens the document and selects the range (LSP JSON arguments)', async () => {
    await revealAttribution('file:///workspace/answers.md', { start: { line: 3, character: 8 }, end: { line: 3, character: 14 } });
    const editor = mock.calls.shown[0];
    assert.equal(editor.document.uri.toString(), 'file:///workspace/answers.md');
    assert.deepEqual([editor.selection.start.line, editor.selection.start.character, editor.selection.end.character], [3, 8, 14]);
    assert.equal(editor.revealed.start.line, 3);
  });

  it('lens.openAttribution shows a stored result in the panel again', () => {
    const panel = { shown: [] as string[], showAttribution() { this.shown.push('attribution'); }, showCompare() { this.shown.push('compare'); } };
    openStored(panel, { kind: 'attribution', view: attributionView() });
    openStored(panel, { kind: 'compare', view: compareView() });
    openStored(panel, undefined);
    assert.deepEqual(panel.shown, ['attribution', 'compare']);
    assert.match(mock.calls.messages[0].text, /gone/);
  });

  it('Lens: Toggle Token Heat flips the user setting', async () => {
    assert.equal(await toggleTokenHeat(), true);
    assert.deepEqual(mock.ui.configUpdates, [{ key: 'lens.attribution.tokenHeat', value: true, target: mock.ConfigurationTarget.Global }]);
    assert.equal(await toggleTokenHeat(), false);
    assert.equal(mock.settings.get('lens.attribution.tokenHeat'), false);
  });
});

describe('the status item with the attribution model', () => {
  beforeEach(() => mock.resetMock());

  it('keeps the dataset state and adds the attribution state', () => {
    const loading = statusPresentation({ state: 'ready', device: 'cpu', attribution: { state: 'loading', message: 'Loading the adapter' } });
    assert.equal(loading.text, 'Lens: ready · CPU · attribution model loading…');
    assert.equal(loading.busy, true);
    assert.equal(loading.detail, 'Loading the adapter');

    const ready = statusPresentation({ state: 'ready', message: 'music.csv analysed', attribution: { state: 'ready', device: 'cuda', message: '', examples: 12000, checkpoints: 3 } });
    assert.equal(ready.text, 'Lens: ready · attribution ready on CUDA, 12,000 examples');
    assert.equal(ready.busy, false);
    assert.equal(ready.detail, 'music.csv analysed');
    assert.equal(ready.severity, mock.LanguageStatusSeverity.Information);

    const error = statusPresentation({ state: 'ready', attribution: { state: 'error', device: 'cpu', message: 'no config.json in /models/base' } });
    assert.equal(error.text, 'Lens: ready · attribution error');
    assert.equal(error.severity, mock.LanguageStatusSeverity.Error);
    assert.equal(error.detail, 'no config.json in /models/base');

    assert.equal(statusPresentation({ state: 'analyzing', attribution: { state: 'unconfigured', device: 'cpu', message: '' } }).text, 'Lens: analysing');
  });

  it('remembers the attribution state across dataset updates, and shows in every document once configured', () => {
    const item = new LensStatusItem([{ language: 'csv' }]);
    const shown = (item as any).item;
    assert.deepEqual(shown.selector, [{ language: 'csv' }]);
    item.update({ state: 'ready', attribution: { state: 'ready', device: 'cpu', message: '', examples: 32 } } as any);
    item.update({ state: 'analyzing' });
    assert.equal(shown.text, 'Lens: analysing · attribution ready on CPU, 32 examples');
    assert.deepEqual(shown.selector, [{ scheme: 'file' }, { scheme: 'untitled' }]);
    item.update({ state: 'starting' });
    assert.equal(shown.text, 'Lens: starting', 'a (re)starting server has no model loaded');
    assert.deepEqual(shown.selector, [{ language: 'csv' }]);
  });
});

describe("the server's requests", () => {
  it("pass the cancellation token on to the language client's sendRequest", async () => {
    // Loaded here, not at the top: the language client needs the vscode mock's fallbacks.
    const { LensServer } = await import('../src/server');
    const { State } = await import('vscode-languageclient/node');
    const log = { info() {}, warn() {}, error() {}, show() {} } as any;
    const server = new LensServer(log, { onStatus() {}, onReady() {} });
    const sent: unknown[][] = [];
    (server as any).client = { state: State.Running, sendRequest: async (...args: unknown[]) => sent.push(args) };
    const token = new mock.CancellationTokenSource().token;
    await server.request(ATTRIBUTE_REQUEST, { uri: DOC_URI }, token as any);
    await server.request('lens/clusters', { uri: DOC_URI });
    assert.deepEqual(sent, [[ATTRIBUTE_REQUEST, { uri: DOC_URI }, token], ['lens/clusters', { uri: DOC_URI }]]);
  });
});
