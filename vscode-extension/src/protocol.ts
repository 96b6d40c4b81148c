// The Lens server's custom LSP methods, as docs/lsp.md defines them. Plain JSON
// shapes (LSP ranges are 0-based lines and UTF-16 columns); nothing here imports vscode.

export const CLUSTERS_REQUEST = 'lens/clusters';
export const ROWS_REQUEST = 'lens/rows';
export const ANALYZE_FILE_REQUEST = 'lens/analyzeFile';
export const STATUS_NOTIFICATION = 'lens/status';

/** The most rows one `lens/rows` request may ask for. */
export const MAX_ROWS_PER_REQUEST = 500;

export type Similarity = 'pos' | 'dep' | 'token' | 'embedding';

export interface LspPosition {
  line: number;
  character: number;
}

export interface LspRange {
  start: LspPosition;
  end: LspPosition;
}

export interface LspLocation {
  uri: string;
  range: LspRange;
}

export interface Cluster {
  id: string | number;
  level: string; // "syntax" | "lexicon" | "semantics" in the tree; the similarity in a cut
  size: number;
  rows: number[];
  pattern?: string | string[] | null;
  support?: number | null;
  children?: Cluster[];
}

export interface ClustersParams {
  uri: string;
  column?: string;
  similarity?: Similarity;
  k?: number;
}

export interface ClustersResult {
  uri: string;
  column: string;
  columns: string[];
  similarities: Similarity[];
  ks: number[];
  similarity: Similarity;
  k: number;
  tree_levels: string[];
  tree: Cluster[];
  // null when the column has no hierarchy (the server then sends no similarity or k).
  cut: { similarity: Similarity; k: number; clusters: Cluster[] } | null;
}

export interface RowsParams {
  uri: string;
  column?: string;
  rows: number[];
}

export interface Token {
  text: string;
  start: number;
  pos: string;
  dep: string;
  head: number;
}

export interface RowInfo {
  row: number;
  range: LspRange;
  text: string;
  tokens: Token[];
}

export interface RowsResult {
  rows: RowInfo[];
}

export interface AnalyzeFileResult {
  rows: number;
  findings: number;
}

export type ServerState = 'starting' | 'loading' | 'ready' | 'analyzing' | 'error';

export interface StatusParams {
  state: ServerState;
  device?: 'cpu' | 'cuda';
  message?: string;
}

/** What the extension's features need from the running server. */
export interface LensRequester {
  request<R>(method: string, params: unknown): Promise<R>;
}
