// A small stand-in for the `vscode` module: enough of its classes and namespaces for
// the extension's logic to run under node:test. Calls that reach the editor (commands,
// messages) are recorded in `calls` for the tests to read.
/* eslint-disable @typescript-eslint/no-explicit-any */

export const calls: { executeCommand: any[][]; messages: { kind: string; text: string }[]; shown: any[] } = {
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
  constructor(anchor: Position, active: Position) {
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
  return async (text: string) => {
    calls.messages.push({ kind, text });
    return undefined;
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
  async showTextDocument(document: any, options: any) {
    const editor = { document, options, selection: undefined as unknown, revealed: undefined as unknown, revealRange(range: Range) { this.revealed = range; } };
    calls.shown.push(editor);
    return editor;
  },
};

export const workspace = {
  workspaceFolders: undefined as { uri: Uri }[] | undefined,
  getConfiguration(section: string) {
    return { get: <T>(key: string, fallback?: T) => (settings.has(`${section}.${key}`) ? settings.get(`${section}.${key}`) : fallback) as T };
  },
  async openTextDocument(uri: Uri) {
    return { uri };
  },
};

export const extensions = {
  getExtension(id: string) {
    return installedExtensions.get(id);
  },
};

export const languages = {
  match(): number {
    return 0;
  },
};
