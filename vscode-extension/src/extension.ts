// Lens for VS Code: starts the Lens language server for CSV, TSV and JSONL datasets
// and adds the views the protocol alone can't: the cluster tree and the cluster explorer.
// Diagnostics, hovers, code lenses and quick fixes come from the server through the
// language client as they are. The attribution lens (any document: attribute a model's
// text to its training examples) has its commands, panel and document features under
// src/attribution/.

import * as vscode from 'vscode';
import {
  attributeSelection,
  AttributionDeps,
  compareSelection,
  generateAndAttribute,
  openStored,
  revealAttribution,
  toggleTokenHeat,
} from './attribution/commands';
import { AttributionDocuments } from './attribution/documentLens';
import { AttributionPanel } from './attribution/panel';
import { analyzeFileOnDisk, showRows } from './commands';
import { revealRow, showRowsAsReferences } from './rows';
import { DOCUMENT_SELECTOR, isLensDocument, LensServer } from './server';
import { LensStatusItem } from './status';
import { ClusterExplorerPanel } from './views/clusterExplorer';
import { ClusterNode, ClusterTreeProvider } from './views/clusterTree';

/** How long to wait after diagnostics change before the views ask for clusters again. */
const VIEW_REFRESH_DELAY_MS = 300;

let server: LensServer | undefined;

export function activate(context: vscode.ExtensionContext): { server: LensServer } {
  const log = vscode.window.createOutputChannel('Lens', { log: true });
  const status = new LensStatusItem(DOCUMENT_SELECTOR);
  // The views are created below; the server calls these only once it has started.
  const lens = new LensServer(log, {
    onStatus: (params) => status.update(params),
    onReady: () => {
      tree.refresh();
      explorer.refresh();
    },
  });
  server = lens;
  const tree = new ClusterTreeProvider(lens);
  const explorer = new ClusterExplorerPanel(context.extensionUri, lens, log);

  const attributionPanel = new AttributionPanel(context.extensionUri, log);
  const attributions = new AttributionDocuments();
  const attribution: AttributionDeps = { server: lens, panel: attributionPanel, documents: attributions, log };

  const treeView = vscode.window.createTreeView('lens.clusters', { treeDataProvider: tree, showCollapseAll: true });
  tree.onMessage = (message) => (treeView.message = message);

  const command = (id: string, run: (...args: any[]) => unknown) =>
    vscode.commands.registerCommand(id, async (...args: any[]) => {
      try {
        return await run(...args);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        log.error(`${id}: ${message}`);
        void vscode.window.showErrorMessage(`Lens: ${message}`);
      }
    });

  context.subscriptions.push(
    log,
    status,
    lens,
    explorer,
    treeView,
    attributionPanel,
    attributions,
    command('lens.restartServer', () => lens.restart()),
    command('lens.showLog', () => log.show()),
    command('lens.analyzeFileOnDisk', () => analyzeFileOnDisk(lens, vscode.window.activeTextEditor?.document.uri)),
    command('lens.showClusters', () => showClusters(explorer, tree)),
    command('lens.showRows', showRows),
    command('lens.refreshClusters', () => tree.refresh()),
    command('lens.revealClusterRow', (node: ClusterNode) => revealRow(lens, node.uri, node.cluster.rows[0], node.column)),
    command('lens.showClusterRows', (node: ClusterNode) => showRowsAsReferences(lens, node.uri, node.cluster.rows, node.column)),
    command('lens.attributeSelection', () => attributeSelection(attribution, vscode.window.activeTextEditor)),
    command('lens.generateAndAttribute', () => generateAndAttribute(attribution, vscode.window.activeTextEditor)),
    command('lens.compareSelection', () => compareSelection(attribution, vscode.window.activeTextEditor)),
    command('lens.toggleTokenHeat', toggleTokenHeat),
    command('lens.revealAttribution', revealAttribution),
    command('lens.openAttribution', (id: string) => openStored(attributionPanel, attributions.find(id)?.stored)),
    vscode.window.onDidChangeActiveTextEditor((editor) => followEditor(tree, editor)),
    onDiagnosticsSettled((uris) => {
      if (tree.uri && uris.has(tree.uri)) {
        tree.refresh();
      }
      uris.forEach((uri) => explorer.refresh(uri));
    }),
    vscode.workspace.onDidChangeConfiguration((event) => {
      // The server re-reads every other lens.* setting itself; the interpreter needs a new process.
      if (event.affectsConfiguration('lens.interpreter')) {
        void lens.restart();
      }
    }),
  );

  followEditor(tree, vscode.window.activeTextEditor);
  // Not awaited: activation ends at once; the server reports its progress in the status item.
  void lens.start();
  return { server: lens };
}

export async function deactivate(): Promise<void> {
  await server?.stop();
  server = undefined;
}

/** The tree shows the active dataset; it keeps the last one while another kind of editor is active. */
function followEditor(tree: ClusterTreeProvider, editor: vscode.TextEditor | undefined): void {
  if (editor && isLensDocument(editor.document) && editor.document.uri.toString() !== tree.uri) {
    tree.setDocument(editor.document.uri.toString());
  }
}

function showClusters(explorer: ClusterExplorerPanel, tree: ClusterTreeProvider): void {
  const active = vscode.window.activeTextEditor?.document;
  const uri = active && isLensDocument(active) ? active.uri.toString() : tree.uri;
  if (!uri) {
    void vscode.window.showInformationMessage('Lens: open a CSV, TSV or JSONL file to see its clusters.');
    return;
  }
  explorer.show(uri);
}

/**
 * Fires with the URIs whose diagnostics changed, once they have stopped changing for a
 * moment: a new publish means a finished analysis, so the clusters are new too.
 */
function onDiagnosticsSettled(listener: (uris: Set<string>) => void): vscode.Disposable {
  let pending = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  const subscription = vscode.languages.onDidChangeDiagnostics((event) => {
    event.uris.forEach((uri) => pending.add(uri.toString()));
    clearTimeout(timer);
    timer = setTimeout(() => {
      const uris = pending;
      pending = new Set();
      listener(uris);
    }, VIEW_REFRESH_DELAY_MS);
  });
  return new vscode.Disposable(() => {
    clearTimeout(timer);
    subscription.dispose();
  });
}
