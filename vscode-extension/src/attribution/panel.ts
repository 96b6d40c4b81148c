// The attribution results panel (a webview): the extension posts the server's
// `lens/attribute` or `lens/compare` answer and media/attribution.js draws it (the
// text with its attributed tokens, supporting and opposing examples as cards, keywords,
// the score histogram, the BM25 and exact-span rankings, the compare view). The page
// sends back 'ready' when it has loaded and 'open' when a card's "Open in training
// file" is clicked; the panel then opens the training file with that row selected.

import * as vscode from 'vscode';
import { toRange } from '../commands';
import { LspLocation, LspRange } from '../protocol';
import { revealRange } from '../rows';
import { attributionHtml, attributionNonce } from './panelHtml';
import { AttributionView, CompareView } from './protocol';

export { attributionHtml } from './panelHtml';

export type ToWebview = { type: 'attribution'; view: AttributionView } | { type: 'compare'; view: CompareView };

export type FromWebview = { type: 'ready' } | { type: 'open'; location: LspLocation };

/** The panel: one at a time, re-used (and re-drawn) for each new result. */
export class AttributionPanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private last: ToWebview | undefined;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  /** The result the panel shows; undefined before the first and after the user closed the panel. */
  get current(): AttributionView | CompareView | undefined {
    return this.last?.view;
  }

  showAttribution(view: AttributionView): void {
    this.show({ type: 'attribution', view }, `Lens Attribution: ${quote(view.result.selected_text || view.result.text)}`);
  }

  showCompare(view: CompareView): void {
    this.show({ type: 'compare', view }, `Lens Compare: ${quote(view.compare.model_text)}`);
  }

  dispose(): void {
    this.panel?.dispose();
    this.panel = undefined;
    this.last = undefined;
  }

  private show(message: ToWebview, title: string): void {
    this.last = message;
    if (!this.panel) {
      this.panel = this.createPanel();
    } else {
      this.panel.reveal(undefined, true);
    }
    this.panel.title = title;
    // A page still loading gets it again with its 'ready'; a page already there draws it now.
    void this.panel.webview.postMessage(message);
  }

  private createPanel(): vscode.WebviewPanel {
    const media = vscode.Uri.joinPath(this.extensionUri, 'media');
    const panel = vscode.window.createWebviewPanel(
      'lens.attribution',
      'Lens Attribution',
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
      { enableScripts: true, enableFindWidget: true, localResourceRoots: [media] },
    );
    panel.onDidDispose(() => {
      if (this.panel === panel) {
        this.panel = undefined;
        this.last = undefined;
      }
    });
    panel.webview.onDidReceiveMessage((message: FromWebview) => {
      this.handle(panel, message).catch((error) => {
        this.log.error(`Attribution panel: ${error instanceof Error ? error.message : error}`);
      });
    });
    const asset = (name: string) => panel.webview.asWebviewUri(vscode.Uri.joinPath(media, name)).toString();
    panel.webview.html = attributionHtml({
      cspSource: panel.webview.cspSource,
      nonce: attributionNonce(),
      script: asset('attribution.js'),
      style: asset('attribution.css'),
    });
    return panel;
  }

  private async handle(panel: vscode.WebviewPanel, message: FromWebview): Promise<void> {
    if (!message || typeof message !== 'object') {
      return;
    }
    if (message.type === 'ready') {
      // A new page, or the page again after the panel was hidden and shown.
      if (this.last) {
        await panel.webview.postMessage(this.last);
      }
    } else if (message.type === 'open') {
      await this.open(panel, message.location);
    }
  }

  /** Opens the training file with the row selected, in the group that shows it, else away from the panel. */
  private async open(panel: vscode.WebviewPanel, location: unknown): Promise<void> {
    if (!isLocation(location)) {
      this.log.warn(`Attribution panel: ignored a malformed location ${JSON.stringify(location)}`);
      return;
    }
    // The page only offers locations from the result; refuse any other file.
    if (!this.last || !locationUris(this.last.view).has(location.uri)) {
      this.log.warn(`Attribution panel: ignored a location outside the result: ${location.uri}`);
      return;
    }
    const visible = vscode.window.visibleTextEditors.find((editor) => editor.document.uri.toString() === location.uri);
    const column = visible?.viewColumn ?? (panel.viewColumn === vscode.ViewColumn.One ? vscode.ViewColumn.Beside : vscode.ViewColumn.One);
    try {
      await revealRange(vscode.Uri.parse(location.uri), toRange(location.range), column);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.log.error(`Attribution panel: could not open ${location.uri}: ${reason}`);
      void vscode.window.showErrorMessage(`Lens could not open the training file: ${reason}`);
    }
  }
}

function quote(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return `"${line.length > 30 ? `${line.slice(0, 29)}…` : line}"`;
}

function isPosition(value: unknown): boolean {
  const position = value as { line?: unknown; character?: unknown } | null;
  return !!position && Number.isInteger(position.line) && Number.isInteger(position.character);
}

function isLocation(value: unknown): value is LspLocation {
  const location = value as { uri?: unknown; range?: Partial<LspRange> } | null;
  return !!location && typeof location.uri === 'string' && !!location.range && isPosition(location.range.start) && isPosition(location.range.end);
}

/** Every file a result's locations point into (the training file, normally just that one). */
export function locationUris(view: AttributionView | CompareView): Set<string> {
  const uris = new Set<string>([view.trainUri]);
  const addResult = (result: AttributionView['result'] | undefined) => {
    if (!result) {
      return;
    }
    [...(result.supporting ?? []), ...(result.opposing ?? [])].forEach((example) => example.location && uris.add(example.location.uri));
    const baselines = result.baselines ?? { bm25: [], exact: [] };
    [...(baselines.bm25 ?? []), ...(baselines.exact ?? [])].forEach((row) => row.location && uris.add(row.location.uri));
  };
  if ('result' in view) {
    addResult(view.result);
  } else {
    addResult(view.compare.model);
    addResult(view.compare.user);
    [...view.compare.favour_model, ...view.compare.favour_user].forEach((example) => example.location && uris.add(example.location.uri));
  }
  return uris;
}
