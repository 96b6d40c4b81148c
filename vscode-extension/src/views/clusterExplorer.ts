// The cluster explorer panel (a webview). The extension fetches `lens/clusters` and
// `lens/rows` and posts them; media/render.js draws them; media/explorer.js sends
// back what the user clicked. The panel follows one document, the one it was opened on.

import * as path from 'path';
import * as vscode from 'vscode';
import { toRange } from '../commands';
import {
  Cluster,
  CLUSTERS_REQUEST,
  ClustersParams,
  ClustersResult,
  LensRequester,
  MAX_ROWS_PER_REQUEST,
  RowInfo,
  Similarity,
} from '../protocol';
import { fetchRows, revealRange, showRowsAsReferences } from '../rows';
import { makeNonce, webviewPage } from '../webviewPage';

/** How many rows each cluster column draws (LinguisticLens shows a sample too). */
export const ROWS_PER_CLUSTER = 12;

export type FromWebview =
  | { type: 'ready' }
  | { type: 'query'; similarity?: Similarity; k?: number; column?: string }
  | { type: 'openRow'; row: number }
  | { type: 'showAll'; cluster: string };

export type ToWebview =
  | { type: 'render'; model: { fileName: string; clusters: ClustersResult; rows: RowInfo[] } }
  | { type: 'message'; text: string };

export interface ExplorerAssets {
  cspSource: string;
  nonce: string;
  renderScript: string;
  mainScript: string;
  style: string;
}

/** The webview's page (strict CSP: see webviewPage). */
export function explorerHtml(assets: ExplorerAssets): string {
  return webviewPage({
    cspSource: assets.cspSource,
    nonce: assets.nonce,
    title: 'Lens Clusters',
    styles: [assets.style],
    scripts: [assets.renderScript, assets.mainScript],
    body: '<div id="root"><p class="message">Loading clusters…</p></div>',
  });
}

export { makeNonce };

/** The rows each column draws: the first few of every cluster, at most one `lens/rows` request's worth. */
export function rowsToDraw(clusters: Cluster[], perCluster = ROWS_PER_CLUSTER, max = MAX_ROWS_PER_REQUEST): number[] {
  if (clusters.length === 0) {
    return [];
  }
  const each = Math.max(1, Math.min(perCluster, Math.floor(max / clusters.length)));
  const rows = clusters.flatMap((cluster) => cluster.rows.slice(0, each));
  return [...new Set(rows)].slice(0, max);
}

/**
 * What the panel shows and how it answers the webview, without the panel itself
 * (so that unit tests drive it with a fake server and a list of posted messages).
 */
export class ExplorerController {
  private query: ClustersParams;
  private clusters: ClustersResult | undefined;
  private readonly rowsShown = new Map<number, RowInfo>();
  private generation = 0;

  constructor(
    uri: string,
    private readonly server: LensRequester,
    private readonly post: (message: ToWebview) => void,
    private readonly open: (uri: string, range: vscode.Range) => Promise<void>,
  ) {
    this.query = { uri };
  }

  get uri(): string {
    return this.query.uri;
  }

  async handle(message: FromWebview): Promise<void> {
    switch (message.type) {
      case 'ready':
        return this.load();
      case 'query':
        this.query = { ...this.query, ...definedOnly({ similarity: message.similarity, k: message.k, column: message.column }) };
        return this.load();
      case 'openRow':
        return this.openRow(message.row);
      case 'showAll':
        return this.showAll(message.cluster);
    }
  }

  /** Fetches the clusters for the current similarity and k, and the rows to draw. */
  async load(): Promise<void> {
    const generation = ++this.generation;
    const clusters = await this.server.request<ClustersResult | null>(CLUSTERS_REQUEST, this.query);
    if (generation !== this.generation) {
      return; // A newer request (another click on + or the switch) is under way.
    }
    if (!clusters) {
      this.post({ type: 'message', text: 'Analysing… the clusters appear when the analysis is done.' });
      return;
    }
    if (!clusters.cut) {
      this.post({ type: 'message', text: `No clusters for the column "${clusters.column}" (too few rows with text?).` });
      return;
    }
    const rows = await fetchRows(this.server, this.query.uri, rowsToDraw(clusters.cut.clusters), clusters.column);
    if (generation !== this.generation) {
      return;
    }
    // Keep the server's choices (its default similarity and k) for the next step.
    this.query = { uri: this.query.uri, column: clusters.column, similarity: clusters.similarity, k: clusters.k };
    this.clusters = clusters;
    this.rowsShown.clear();
    rows.forEach((row) => this.rowsShown.set(row.row, row));
    this.post({ type: 'render', model: { fileName: fileName(this.query.uri), clusters, rows } });
  }

  private async openRow(row: number): Promise<void> {
    const shown = this.rowsShown.get(row) ?? (await fetchRows(this.server, this.query.uri, [row], this.query.column))[0];
    if (shown) {
      await this.open(this.query.uri, toRange(shown.range));
    }
  }

  private async showAll(clusterId: string): Promise<void> {
    const cluster = this.clusters?.cut?.clusters.find((candidate) => String(candidate.id) === clusterId);
    if (cluster) {
      await showRowsAsReferences(this.server, this.query.uri, cluster.rows, this.query.column);
    }
  }
}

function definedOnly<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Partial<T>;
}

function fileName(uri: string): string {
  return path.basename(vscode.Uri.parse(uri).path);
}

/** The panel: one at a time, re-targeted when "Show Clusters" runs on another document. */
export class ClusterExplorerPanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private controller: ExplorerController | undefined;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly server: LensRequester,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  show(uri: string): void {
    if (!this.panel) {
      this.panel = this.createPanel();
    }
    this.panel.title = `Lens Clusters: ${fileName(uri)}`;
    this.controller = new ExplorerController(uri, this.server, (message) => void this.panel?.webview.postMessage(message), openBesidePanel);
    // A fresh page asks for data with 'ready'; a page already there gets it now.
    this.panel.webview.html = this.html(this.panel.webview);
    this.panel.reveal(undefined, false);
  }

  /** Re-draws after the document was re-analysed. */
  refresh(uri?: string): void {
    if (this.controller && (!uri || uri === this.controller.uri)) {
      this.controller.load().catch((error) => this.log.warn(`Cluster explorer: ${error}`));
    }
  }

  dispose(): void {
    this.panel?.dispose();
  }

  private createPanel(): vscode.WebviewPanel {
    const media = vscode.Uri.joinPath(this.extensionUri, 'media');
    const panel = vscode.window.createWebviewPanel('lens.clusterExplorer', 'Lens Clusters', vscode.ViewColumn.Beside, {
      enableScripts: true,
      localResourceRoots: [media],
    });
    panel.onDidDispose(() => {
      this.panel = undefined;
      this.controller = undefined;
    });
    panel.webview.onDidReceiveMessage((message: FromWebview) => {
      this.controller?.handle(message).catch((error) => {
        this.log.error(`Cluster explorer: ${error}`);
        void panel.webview.postMessage({ type: 'message', text: `Lens could not load the clusters: ${error instanceof Error ? error.message : error}` });
      });
    });
    return panel;
  }

  private html(webview: vscode.Webview): string {
    const media = vscode.Uri.joinPath(this.extensionUri, 'media');
    const asset = (name: string) => webview.asWebviewUri(vscode.Uri.joinPath(media, name)).toString();
    return explorerHtml({
      cspSource: webview.cspSource,
      nonce: makeNonce(),
      renderScript: asset('render.js'),
      mainScript: asset('explorer.js'),
      style: asset('explorer.css'),
    });
  }
}

/** Opens a row in the editor group that already shows its file, else the first group. */
async function openBesidePanel(uri: string, range: vscode.Range): Promise<void> {
  const visible = vscode.window.visibleTextEditors.find((editor) => editor.document.uri.toString() === uri);
  await revealRange(vscode.Uri.parse(uri), range, visible?.viewColumn ?? vscode.ViewColumn.One);
}
