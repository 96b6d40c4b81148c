// The attribution lens's custom LSP methods, as docs/lsp.md ("Attribution") defines them.
// Plain JSON shapes; nothing here imports vscode, so the results panel's script and the
// unit tests can share them.

import { LspLocation, LspRange } from '../protocol';

export const ATTRIBUTE_REQUEST = 'lens/attribute';
export const COMPARE_REQUEST = 'lens/compare';
export const GENERATE_REQUEST = 'lens/generate';
export const TOKEN_SCORES_REQUEST = 'lens/tokenScores';
export const ATTRIBUTIONS_REQUEST = 'lens/attributions';

/** The LSP error code for problems the user can fix (missing model folder, no prompt found, ...). */
export const USER_ERROR_CODE = -32001;

export type Method = 'datainf' | 'graddot' | 'gradcos' | 'bm25' | 'exact';

export interface AttributeParams {
  uri: string;
  text: string; // the whole document
  range: LspRange; // the selection; empty = the whole answer
  prompt?: string;
  method?: Method;
  topK?: number;
  tokenLevel?: boolean;
}

export interface CompareParams {
  uri: string;
  text: string;
  range: LspRange;
  userText: string;
  prompt?: string;
  method?: Method;
  topK?: number;
}

export interface GenerateParams {
  prompt: string;
  maxNewTokens?: number;
}

export interface GenerateResult {
  prompt: string;
  text: string;
  insertText: string;
  answerOffset: number;
  elapsedMs: number;
}

export interface SharedSpan {
  text: string;
  words: number;
  query: [number, number]; // character span in the attributed text
  field: string;
  field_span: [number, number];
  range: LspRange; // in the training file
}

export interface Example {
  row: number;
  score: number;
  normalized: number; // in [-1, 1]
  range: LspRange;
  location: LspLocation;
  checkpoint_scores: number[];
  agreement: { sign: number; rank_spread: number };
  spans: SharedSpan[];
  fields: Record<string, string>;
  field_ranges: Record<string, LspRange>;
  baseline_ranks: { bm25: number; exact: number };
}

export interface BaselineRow {
  row: number;
  score: number;
  influence_rank: number; // 1-based rank under the result's method
  fields: Record<string, string>;
  location: LspLocation;
}

export interface TokenLevel {
  tokens: string[];
  offsets: [number, number][];
  selected: boolean[];
  rows: number[];
  contributions: number[][]; // [example][token]
  ranges: LspRange[]; // each token, in the document
}

export interface AttributionResult {
  schema: number;
  method: Method;
  combine: string;
  damping: string | null;
  prompt: string;
  text: string;
  spans: [number, number][];
  selected_text: string;
  target_logprob: number | null;
  checkpoints: string[];
  train_file: string;
  n_examples: number;
  supporting: Example[];
  opposing: Example[];
  keywords: { supporting: [string, number][]; opposing: [string, number][] };
  histogram: { edges: number[]; counts: number[] };
  baselines: { bm25: BaselineRow[]; exact: BaselineRow[] };
  token_level: TokenLevel | null;
}

interface ViewBase {
  id: string;
  uri: string;
  prompt: string;
  promptSource: 'template' | 'given';
  textRange: LspRange;
  spanRanges: LspRange[];
  trainUri: string;
  device: string;
  elapsedMs: number;
  cached: boolean;
}

export interface AttributionView extends ViewBase {
  result: AttributionResult;
}

export interface DiffPart {
  op: 'equal' | 'replace' | 'delete' | 'insert';
  model: [number, number] | null; // character span in the model's text (null for an insertion)
  user: [number, number] | null;
  model_text: string;
  user_text: string;
}

export interface ComparedExample {
  row: number;
  model_normalized: number;
  user_normalized: number;
  fields: Record<string, string>;
  range: LspRange;
  location: LspLocation;
}

export interface CompareResult {
  schema: number;
  prompt: string;
  model_text: string;
  user_text: string;
  diff: DiffPart[];
  model: AttributionResult;
  user: AttributionResult;
  favour_model: ComparedExample[];
  favour_user: ComparedExample[];
}

export interface CompareView extends ViewBase {
  compare: CompareResult;
}

export interface RecentAttribution {
  id: string;
  uri: string;
  selectedText: string;
  spanRanges: LspRange[];
  method: Method;
  supporting: number[];
  opposing: number[];
}

export interface AttributionState {
  state: 'unconfigured' | 'idle' | 'loading' | 'ready' | 'error';
  device?: string;
  message?: string;
  examples?: number;
  checkpoints?: number;
}
