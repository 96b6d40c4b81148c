// The attribution lens in the attributed document (any language): a hover over the
// attributed span with the top examples, a code lens above it that re-opens the panel,
// a light mark on the span and, with `lens.attribution.tokenHeat`, each token's heat.

import * as vscode from 'vscode';
import { toRange } from '../commands';
import { codeLensTitle, compareLensTitle, HEAT_LEVELS, heatBuckets, heatColour, hoverMarkdown, OPEN_COMMAND, REVEAL_COMMAND } from './present';
import { AttributionStore, contains, spanRanges, StoredAttribution, StoredView, textRange, tokenRanges } from './store';

/** Where attributions can be: any text document on disk or not yet saved. */
export const ATTRIBUTION_DOCUMENTS: vscode.DocumentSelector = [{ scheme: 'file' }, { scheme: 'untitled' }];

export function tokenHeatEnabled(): boolean {
  return vscode.workspace.getConfiguration('lens.attribution').get<boolean>('tokenHeat', false) === true;
}

/**
 * The heat of a document's attributions: for each answer, that of its newest attribution
 * (older ones of the same answer would paint the same tokens twice). Entries are newest first.
 */
export function heatRanges(entries: readonly StoredAttribution[]): vscode.Range[][] {
  const buckets: vscode.Range[][] = Array.from({ length: 2 * HEAT_LEVELS }, () => []);
  const answers = new Set<string>();
  for (const entry of entries) {
    const answer = JSON.stringify(textRange(entry));
    if (entry.stored.kind !== 'attribution' || answers.has(answer)) {
      continue;
    }
    answers.add(answer);
    const ranges = tokenRanges(entry);
    const tokens = entry.stored.view.result.token_level;
    // The heat's ranges are the shifted token ranges, in the same order.
    heatBuckets(tokens ? { ...tokens, ranges } : null).forEach((token) =>
      buckets[heatIndex(token.positive, token.level)].push(toRange(token.range)));
  }
  return buckets;
}

function heatIndex(positive: boolean, level: number): number {
  return (positive ? 0 : HEAT_LEVELS) + level;
}

export class AttributionDocuments implements vscode.HoverProvider, vscode.CodeLensProvider, vscode.Disposable {
  readonly store = new AttributionStore();
  private readonly lensesChanged = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.lensesChanged.event;
  private readonly spanDecoration = vscode.window.createTextEditorDecorationType({
    borderWidth: '0 0 1px 0',
    borderStyle: 'dashed',
    borderColor: new vscode.ThemeColor('editorCodeLens.foreground'),
    overviewRulerColor: new vscode.ThemeColor('editorCodeLens.foreground'),
    overviewRulerLane: vscode.OverviewRulerLane.Right,
    rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
  });
  private readonly heatDecorations = Array.from({ length: 2 * HEAT_LEVELS }, (_, index) =>
    vscode.window.createTextEditorDecorationType({
      backgroundColor: heatColour(index < HEAT_LEVELS, index % HEAT_LEVELS),
      rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
    }));
  private readonly subscriptions: vscode.Disposable[];

  constructor() {
    this.subscriptions = [
      vscode.languages.registerHoverProvider(ATTRIBUTION_DOCUMENTS, this),
      vscode.languages.registerCodeLensProvider(ATTRIBUTION_DOCUMENTS, this),
      vscode.workspace.onDidChangeTextDocument((event) => {
        const uri = event.document.uri.toString();
        const changes = event.contentChanges.map((change) => ({ range: lspRange(change.range), text: change.text }));
        if (this.store.applyChanges(uri, changes)) {
          this.changed(uri);
        }
      }),
      vscode.workspace.onDidCloseTextDocument((document) => {
        if (this.store.forget(document.uri.toString())) {
          this.lensesChanged.fire();
        }
      }),
      vscode.window.onDidChangeVisibleTextEditors((editors) => editors.forEach((editor) => this.decorate(editor))),
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (event.affectsConfiguration('lens.attribution.tokenHeat')) {
          vscode.window.visibleTextEditors.forEach((editor) => this.decorate(editor));
        }
      }),
    ];
  }

  /** Marks a result in the document it was asked for (`uri` as the request sent it). */
  add(uri: string, stored: StoredView): StoredAttribution {
    const entry = this.store.add(uri, stored);
    this.changed(uri);
    return entry;
  }

  find(id: string): StoredAttribution | undefined {
    return this.store.find(id);
  }

  provideHover(document: vscode.TextDocument, position: vscode.Position): vscode.Hover | undefined {
    const at = { line: position.line, character: position.character };
    for (const entry of this.store.entries(document.uri.toString())) {
      const span = spanRanges(entry).find((range) => contains(range, at));
      if (span && entry.stored.kind === 'attribution') {
        const markdown = new vscode.MarkdownString(hoverMarkdown(entry.stored.view, entry.id));
        markdown.isTrusted = { enabledCommands: [REVEAL_COMMAND, OPEN_COMMAND] };
        return new vscode.Hover(markdown, toRange(span));
      }
    }
    return undefined;
  }

  provideCodeLenses(document: vscode.TextDocument): vscode.CodeLens[] {
    return this.store.entries(document.uri.toString()).map((entry) => {
      const [first] = spanRanges(entry);
      const line = (first ?? textRange(entry)).start.line;
      const title = entry.stored.kind === 'attribution' ? codeLensTitle(entry.stored.view) : compareLensTitle(entry.stored.view);
      return new vscode.CodeLens(new vscode.Range(new vscode.Position(line, 0), new vscode.Position(line, 0)), {
        title,
        command: OPEN_COMMAND,
        arguments: [entry.id],
        tooltip: 'Show this attribution in the Lens panel',
      });
    });
  }

  /** Draws the span marks and (when on) the token heat in an editor. */
  decorate(editor: vscode.TextEditor): void {
    const entries = this.store.entries(editor.document.uri.toString());
    editor.setDecorations(this.spanDecoration, entries.flatMap((entry) => spanRanges(entry).map(toRange)));
    const heat = tokenHeatEnabled() ? heatRanges(entries) : [];
    this.heatDecorations.forEach((type, index) => editor.setDecorations(type, heat[index] ?? []));
  }

  dispose(): void {
    this.subscriptions.forEach((subscription) => subscription.dispose());
    [this.spanDecoration, ...this.heatDecorations].forEach((type) => type.dispose());
    this.lensesChanged.dispose();
  }

  private changed(uri: string): void {
    this.lensesChanged.fire();
    vscode.window.visibleTextEditors
      .filter((editor) => editor.document.uri.toString() === uri)
      .forEach((editor) => this.decorate(editor));
  }
}

function lspRange(range: vscode.Range) {
  return {
    start: { line: range.start.line, character: range.start.character },
    end: { line: range.end.line, character: range.end.character },
  };
}
