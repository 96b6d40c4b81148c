// Commands that talk to the server or to VS Code's references peek.

import * as path from 'path';
import * as vscode from 'vscode';
import {
  ANALYZE_FILE_REQUEST,
  AnalyzeFileResult,
  LensRequester,
  LspLocation,
  LspPosition,
  LspRange,
} from './protocol';

// Arguments reach `lens.showRows` as LSP JSON when the server puts the command on a
// code lens or code action, and as vscode objects when the extension calls it itself.
type UriLike = string | vscode.Uri;
type PositionLike = LspPosition | vscode.Position;
type RangeLike = LspRange | vscode.Range;
type LocationLike = LspLocation | vscode.Location | { uri: UriLike; range: RangeLike };

export function toUri(uri: UriLike): vscode.Uri {
  return typeof uri === 'string' ? vscode.Uri.parse(uri) : uri;
}

export function toPosition(position: PositionLike): vscode.Position {
  return position instanceof vscode.Position ? position : new vscode.Position(position.line, position.character);
}

export function toRange(range: RangeLike): vscode.Range {
  return range instanceof vscode.Range ? range : new vscode.Range(toPosition(range.start), toPosition(range.end));
}

export function toLocation(location: LocationLike): vscode.Location {
  return location instanceof vscode.Location ? location : new vscode.Location(toUri(location.uri), toRange(location.range));
}

/** `lens.showRows(uri, position, locations)`: the references peek on those rows. */
export async function showRows(uri: UriLike, position: PositionLike, locations: LocationLike[]): Promise<void> {
  await vscode.commands.executeCommand(
    'editor.action.showReferences',
    toUri(uri),
    toPosition(position),
    (locations ?? []).map(toLocation),
  );
}

export const DATASET_FILTERS = { 'Datasets (CSV, TSV, JSONL)': ['csv', 'tsv', 'tab', 'jsonl', 'ndjson'] };

/** The file `Lens: Analyze File on Disk` works on: the active file when it is a dataset on disk, else one the user picks. */
export async function fileToAnalyze(active: vscode.Uri | undefined): Promise<vscode.Uri | undefined> {
  if (active && active.scheme === 'file' && isDatasetPath(active.fsPath)) {
    return active;
  }
  const picked = await vscode.window.showOpenDialog({
    canSelectMany: false,
    openLabel: 'Analyze',
    filters: DATASET_FILTERS,
  });
  return picked?.[0];
}

export function isDatasetPath(file: string): boolean {
  const extension = path.extname(file).slice(1).toLowerCase();
  return DATASET_FILTERS['Datasets (CSV, TSV, JSONL)'].includes(extension);
}

/**
 * Sends `lens/analyzeFile`: the server reads the file from disk (VS Code does not sync
 * files over 50 MB to extensions) and publishes diagnostics for it. The server reports
 * work-done progress, which the language client shows in the status bar.
 */
export async function analyzeFileOnDisk(server: LensRequester, active: vscode.Uri | undefined): Promise<AnalyzeFileResult | undefined> {
  const file = await fileToAnalyze(active);
  if (!file) {
    return undefined;
  }
  const result = await server.request<AnalyzeFileResult>(ANALYZE_FILE_REQUEST, { uri: file.toString() });
  void vscode.window.showInformationMessage(
    `Lens analysed ${path.basename(file.fsPath)}: ${result.rows} rows, ${result.findings} findings (see the Problems panel).`,
  );
  return result;
}
