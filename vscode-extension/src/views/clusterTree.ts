// The "Lens Clusters" tree in the Explorer: the hierarchy syntax → lexicon → semantics
// of the active dataset, from `lens/clusters`. Selecting a cluster reveals its first row;
// its context menu shows all its rows in the references peek.

import * as vscode from 'vscode';
import { Cluster, CLUSTERS_REQUEST, ClustersResult, LensRequester } from '../protocol';

export interface ClusterNode {
  uri: string;
  column: string;
  cluster: Cluster;
}

const LEVEL_ICONS: Record<string, string> = {
  syntax: 'symbol-structure',
  lexicon: 'whole-word',
  semantics: 'symbol-namespace',
};

/** A cluster's summary pattern as one line ("songs that make you want to VERB …"). */
export function patternText(pattern: Cluster['pattern']): string {
  if (!pattern) {
    return '';
  }
  return Array.isArray(pattern) ? pattern.join(' ') : pattern;
}

export function clusterTreeItem(node: ClusterNode): vscode.TreeItem {
  const { cluster } = node;
  const pattern = patternText(cluster.pattern);
  const item = new vscode.TreeItem(
    pattern || `${cluster.level} cluster ${cluster.id}`,
    cluster.children?.length ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None,
  );
  item.id = `${node.uri}#${node.column}#${cluster.level}#${cluster.id}`;
  item.description = `${cluster.size} rows · ${cluster.level}`;
  item.iconPath = new vscode.ThemeIcon(LEVEL_ICONS[cluster.level] ?? 'symbol-misc');
  item.contextValue = 'lensCluster';
  item.tooltip = new vscode.MarkdownString(
    `**${cluster.level}** cluster, ${cluster.size} rows` +
      (pattern ? `\n\nPattern: \`${pattern}\`` : '') +
      (cluster.support != null ? ` (support ${Math.round(cluster.support * 100)}%)` : ''),
  );
  item.command = { title: 'Reveal First Row', command: 'lens.revealClusterRow', arguments: [node] };
  return item;
}

export class ClusterTreeProvider implements vscode.TreeDataProvider<ClusterNode> {
  private readonly changed = new vscode.EventEmitter<ClusterNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private documentUri: string | undefined;
  /** Shown above the tree (waiting for the analysis, the server being down, …). */
  message: string | undefined;
  onMessage: (message: string | undefined) => void = () => {};

  constructor(private readonly server: LensRequester) {}

  get uri(): string | undefined {
    return this.documentUri;
  }

  /** Shows the hierarchy of another document (or the same one again after an edit). */
  setDocument(uri: string | undefined): void {
    this.documentUri = uri;
    this.refresh();
  }

  refresh(): void {
    this.changed.fire(undefined);
  }

  getTreeItem(node: ClusterNode): vscode.TreeItem {
    return clusterTreeItem(node);
  }

  async getChildren(node?: ClusterNode): Promise<ClusterNode[]> {
    if (node) {
      return (node.cluster.children ?? []).map((cluster) => ({ uri: node.uri, column: node.column, cluster }));
    }
    return this.roots();
  }

  private async roots(): Promise<ClusterNode[]> {
    const uri = this.documentUri;
    if (!uri) {
      this.setMessage(undefined);
      return [];
    }
    let result: ClustersResult | null;
    try {
      result = await this.server.request<ClustersResult | null>(CLUSTERS_REQUEST, { uri });
    } catch (error) {
      this.setMessage(`Clusters unavailable: ${error instanceof Error ? error.message : error}`);
      return [];
    }
    if (!result) {
      this.setMessage('Analysing… the clusters appear when the analysis is done.');
      return [];
    }
    this.setMessage(result.tree.length ? `${result.column}: ${result.tree_levels.join(' → ')}` : 'No clusters in this file.');
    return result.tree.map((cluster) => ({ uri, column: result!.column, cluster }));
  }

  private setMessage(message: string | undefined): void {
    this.message = message;
    this.onMessage(message);
  }
}
