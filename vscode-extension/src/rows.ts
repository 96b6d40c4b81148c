// Rows of a dataset, by their 0-based data-row index: fetched from the server
// (`lens/rows` knows each row's exact range in the file) and revealed in an editor.

import * as vscode from 'vscode';
import { showRows, toRange } from './commands';
import { LensRequester, MAX_ROWS_PER_REQUEST, RowInfo, ROWS_REQUEST, RowsResult } from './protocol';

/** `lens/rows` for up to `MAX_ROWS_PER_REQUEST` rows (the server's limit per request). */
export async function fetchRows(server: LensRequester, uri: string, rows: number[], column?: string): Promise<RowInfo[]> {
  const wanted = rows.slice(0, MAX_ROWS_PER_REQUEST);
  if (wanted.length === 0) {
    return [];
  }
  const result = await server.request<RowsResult | null>(ROWS_REQUEST, { uri, column, rows: wanted });
  return result?.rows ?? [];
}

/** Opens the document and selects the row's range. */
export async function revealRange(uri: vscode.Uri, range: vscode.Range, viewColumn?: vscode.ViewColumn): Promise<void> {
  const document = await vscode.workspace.openTextDocument(uri);
  const editor = await vscode.window.showTextDocument(document, { viewColumn, preserveFocus: false });
  // A whole row's range ends at the start of the next line; the cursor belongs on the row.
  const end = range.end.character === 0 && range.end.line > range.start.line
    ? document.lineAt(range.end.line - 1).range.end
    : range.end;
  editor.selection = new vscode.Selection(range.start, end);
  editor.revealRange(range, vscode.TextEditorRevealType.InCenter);
}

export async function revealRow(server: LensRequester, uri: string, row: number, column?: string, viewColumn?: vscode.ViewColumn): Promise<void> {
  const [info] = await fetchRows(server, uri, [row], column);
  if (!info) {
    void vscode.window.showWarningMessage(`Lens: row ${row} is no longer in the file.`);
    return;
  }
  await revealRange(vscode.Uri.parse(uri), toRange(info.range), viewColumn);
}

/** All of a cluster's rows (the first 500) in the references peek. */
export async function showRowsAsReferences(server: LensRequester, uri: string, rows: number[], column?: string): Promise<void> {
  const infos = await fetchRows(server, uri, rows, column);
  if (infos.length === 0) {
    return;
  }
  if (rows.length > infos.length) {
    void vscode.window.showInformationMessage(`Lens: showing the first ${infos.length} of ${rows.length} rows.`);
  }
  const document = vscode.Uri.parse(uri);
  // The peek opens in the active editor, so open the file first.
  await revealRange(document, toRange(infos[0].range));
  await showRows(document, infos[0].range.start, infos.map((info) => ({ uri: document, range: info.range })));
}
