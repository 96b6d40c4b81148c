// A small stand-in for the `vscode` module: enough of its classes and namespaces for
// the extension's logic to run under node:test. Calls that reach the editor (commands,
// messages) are recorded in `calls` for the tests to read.
/* eslint-disable @typescript-eslint/no-explicit-any */

export const calls: { executeCommand: any[][]; messages: { kind: string; text: string; items?: string[] }[]; shown: any[] } = {
  executeCommand: [],
  messages: [],
  shown: [],
};

/** Settings the mocked workspace.getConfiguration returns, as "section.key" → value. */
export const settings = new Map<string, unknown>();
/** What the mocked open dialog returns. */
export const dialog: { result: Uri[] | undefined } = { result: undefined };
/** Installed extensions by id (for the Python extension look-up). */
export const installedExtensions = new Map<string, any>();

export function resetMock(): void {
  calls.executeCommand = [];
  calls.messages = [];
  calls.shown = [];
  settings.clear();
  dialog.result = undefined;
  installedExtensions.clear();
  resetUi();
}

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly path: string,
  ) {}

  static parse(value: string): Uri {
    const match = /^([a-z][a-z0-9+.-]*):(?:\/\/[^/]*)?(.*)$/i.exec(value);
    if (!match) {
      throw new Error(`not a URI: ${value}`);
    }
    return new Uri(match[1], decodeURIComponent(match[2]));
  }

  static file(path: string): Uri {
    return new Uri('file', path);
  }

  static joinPath(base: Uri, ...parts: string[]): Uri {
    return new Uri(base.scheme, [base.path, ...parts].join('/'));
  }

  get fsPath(): string {
    return this.path;
  }

  toString(): string {
    return `${this.scheme}://${this.path}`;
  }
}

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
}

export class Range {
  constructor(
    readonly start: Position,
    readonly end: Position,
  ) {}
}

export class Selection extends Range {
  constructor(
    readonly anchor: Position,
    readonly active: Position,
  ) {
    super(anchor, active);
  }
}

export class Location {
  constructor(
    readonly uri: Uri,
    readonly range: Range,
  ) {}
}

export class Disposable {
  constructor(private readonly callback: () => void = () => {}) {}
  dispose(): void {
    this.callback();
  }
}

export class EventEmitter<T> {
  private listeners: ((value: T) => void)[] = [];
  readonly event = (listener: (value: T) => void) => {
    this.listeners.push(listener);
    return new Disposable(() => (this.listeners = this.listeners.filter((l) => l !== listener)));
  };
  fire(value: T): void {
    this.listeners.forEach((listener) => listener(value));
  }
  dispose(): void {
    this.listeners = [];
  }
}

export enum TreeItemCollapsibleState {
  None = 0,
  Collapsed = 1,
  Expanded = 2,
}

export class TreeItem {
  id?: string;
  description?: string;
  tooltip?: unknown;
  iconPath?: unknown;
  contextValue?: string;
  command?: { title: string; command: string; arguments?: unknown[] };
  constructor(
    readonly label: string,
    readonly collapsibleState: TreeItemCollapsibleState = TreeItemCollapsibleState.None,
  ) {}
}

export class ThemeIcon {
  constructor(readonly id: string) {}
}

export class MarkdownString {
  constructor(readonly value: string = '') {}
}

export enum LanguageStatusSeverity {
  Information = 0,
  Warning = 1,
  Error = 2,
}

export enum ViewColumn {
  Active = -1,
  Beside = -2,
  One = 1,
  Two = 2,
}

export enum TextEditorRevealType {
  Default = 0,
  InCenter = 1,
}

export const commands = {
  async executeCommand(...args: any[]): Promise<unknown> {
    calls.executeCommand.push(args);
    return undefined;
  },
  registerCommand(): Disposable {
    return new Disposable();
  },
};

function recordMessage(kind: string) {
  return async (text: string, ...items: string[]) => {
    calls.messages.push({ kind, text, items });
    return ui.messageChoices.shift();
  };
}

export const window = {
  showErrorMessage: recordMessage('error'),
  showWarningMessage: recordMessage('warning'),
  showInformationMessage: recordMessage('information'),
  async showOpenDialog(): Promise<Uri[] | undefined> {
    return dialog.result;
  },
  visibleTextEditors: [] as any[],
  activeTextEditor: undefined as any,
  async showInputBox(options: any): Promise<string | undefined> {
    ui.inputBoxes.push(options);
    return ui.inputs.shift();
  },
  async withProgress(options: any, task: (progress: any, token: CancellationToken) => Promise<unknown>) {
    const source = new CancellationTokenSource();
    ui.progress.push({ options, source });
    return task({ report() {} }, source.token);
  },
  createTextEditorDecorationType(options: any) {
    return { options, dispose() {} };
  },
  onDidChangeVisibleTextEditors: (listener: (editors: any[]) => void) => events.changeVisibleTextEditors.event(listener),
  async showTextDocument(document: any, options: any) {
    const editor = { document, options, selection: undefined as unknown, revealed: undefined as unknown, revealRange(range: Range) { this.revealed = range; } };
    calls.shown.push(editor);
    return editor;
  },
};

export const workspace = {
  workspaceFolders: undefined as { uri: Uri }[] | undefined,
  getConfiguration(section: string) {
    return {
      get: <T>(key: string, fallback?: T) => (settings.has(`${section}.${key}`) ? settings.get(`${section}.${key}`) : fallback) as T,
      inspect: (key: string) => ({ key: `${section}.${key}` }),
      async update(key: string, value: unknown, target?: unknown) {
        ui.configUpdates.push({ key: `${section}.${key}`, value, target });
        settings.set(`${section}.${key}`, value);
      },
    };
  },
  onDidChangeTextDocument: (listener: (event: any) => void) => events.changeTextDocument.event(listener),
  onDidCloseTextDocument: (listener: (document: any) => void) => events.closeTextDocument.event(listener),
  onDidChangeConfiguration: (listener: (event: any) => void) => events.changeConfiguration.event(listener),
  async openTextDocument(uri: Uri) {
    // Lines are as long as `documentTexts` says (empty when the test gave no text).
    const lines = (documentTexts.get(uri.toString()) ?? '').split('\n');
    return {
      uri,
      lineAt: (line: number) => ({ range: new Range(new Position(line, 0), new Position(line, (lines[line] ?? '').length)) }),
    };
  },
};

/** Text of documents `workspace.openTextDocument` opens, by URI string. */
export const documentTexts = new Map<string, string>();

export const extensions = {
  getExtension(id: string) {
    return installedExtensions.get(id);
  },
};

export const languages = {
  match(): number {
    return 0;
  },
  registerHoverProvider(): Disposable {
    return new Disposable();
  },
  registerCodeLensProvider(): Disposable {
    return new Disposable();
  },
  createLanguageStatusItem(id: string, selector: unknown) {
    return { id, selector, dispose() {} } as any;
  },
};

// For the attribution lens's tests: scripted answers to input boxes and message buttons,
// the progress notifications shown (each with the source that cancels it), settings updates,
// and the workspace events the tests fire.

export const ui = {
  inputs: [] as (string | undefined)[],
  messageChoices: [] as (string | undefined)[],
  inputBoxes: [] as any[],
  progress: [] as { options: any; source: CancellationTokenSource }[],
  configUpdates: [] as { key: string; value: unknown; target: unknown }[],
};

export const events = {
  changeTextDocument: new EventEmitter<any>(),
  closeTextDocument: new EventEmitter<any>(),
  changeConfiguration: new EventEmitter<any>(),
  changeVisibleTextEditors: new EventEmitter<any[]>(),
};

function resetUi(): void {
  ui.inputs = [];
  ui.messageChoices = [];
  ui.inputBoxes = [];
  ui.progress = [];
  ui.configUpdates = [];
  window.visibleTextEditors = [];
  window.activeTextEditor = undefined;
}

export interface CancellationToken {
  isCancellationRequested: boolean;
  onCancellationRequested: (listener: () => void) => Disposable;
}

export class CancellationTokenSource {
  private readonly emitter = new EventEmitter<void>();
  readonly token: CancellationToken = { isCancellationRequested: false, onCancellationRequested: (listener) => this.emitter.event(listener) };
  cancel(): void {
    if (!this.token.isCancellationRequested) {
      this.token.isCancellationRequested = true;
      this.emitter.fire();
    }
  }
  dispose(): void {
    this.emitter.dispose();
  }
}

export class ThemeColor {
  constructor(readonly id: string) {}
}

export class Hover {
  constructor(
    readonly contents: MarkdownString,
    readonly range?: Range,
  ) {}
}

export class CodeLens {
  constructor(
    readonly range: Range,
    readonly command?: { title: string; command: string; arguments?: unknown[]; tooltip?: string },
  ) {}
}

export enum ProgressLocation {
  SourceControl = 1,
  Window = 10,
  Notification = 15,
}

export enum OverviewRulerLane {
  Left = 1,
  Center = 2,
  Right = 4,
  Full = 7,
}

export enum DecorationRangeBehavior {
  OpenOpen = 0,
  ClosedClosed = 1,
}

export enum ConfigurationTarget {
  Global = 1,
  Workspace = 2,
  WorkspaceFolder = 3,
}
