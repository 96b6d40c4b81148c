// The attribution lens's commands: attribute the selection, generate an answer and
// attribute it, compare the selection with the user's text, toggle the token heat, and
// reveal a range (`lens.revealAttribution`, also the server's code lenses' command).
// Requests run under a cancellable notification; cancelling sends `$/cancelRequest`.

import * as vscode from 'vscode';
import { toPosition, toRange, toUri } from '../commands';
import { LspPosition, LspRange } from '../protocol';
import { revealRange } from '../rows';
import { planInsertion } from './insertion';
import {
  ATTRIBUTE_REQUEST,
  AttributeParams,
  AttributionView,
  COMPARE_REQUEST,
  CompareParams,
  CompareView,
  GENERATE_REQUEST,
  GenerateResult,
  Method,
  USER_ERROR_CODE,
} from './protocol';
import { StoredView } from './store';

/** LSP error codes for a cancelled request (by the client, or by the server). */
const REQUEST_CANCELLED = -32800;
const SERVER_CANCELLED = -32802;

export const OPEN_SETTINGS = 'Open Settings';

/** The server, as these commands use it; `token` cancels the request. */
export interface AttributionServer {
  request<R>(method: string, params: unknown, token?: vscode.CancellationToken): Promise<R>;
}

export interface AttributionDeps {
  server: AttributionServer;
  panel: { showAttribution(view: AttributionView): void; showCompare(view: CompareView): void };
  documents: { add(uri: string, stored: StoredView): unknown };
  log: { info(message: string): void; error(message: string): void };
}

export function attributionSettings(): { method: Method; topK: number } {
  const config = vscode.workspace.getConfiguration('lens.attribution');
  return { method: config.get<Method>('method', 'datainf'), topK: config.get<number>('topK', 10) };
}

function lsp(position: vscode.Position): LspPosition {
  return { line: position.line, character: position.character };
}

export function lspRange(range: vscode.Range): LspRange {
  return { start: lsp(range.start), end: lsp(range.end) };
}

function errorCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

export function isCancellation(error: unknown): boolean {
  const code = errorCode(error);
  return code === REQUEST_CANCELLED || code === SERVER_CANCELLED || (error instanceof Error && error.name === 'Canceled');
}

export function isUserError(error: unknown): boolean {
  return errorCode(error) === USER_ERROR_CODE;
}

/** The server's -32001 with `data.reason: "no-prompt"` ("no prompt found before the selection"): the extension asks for the prompt. */
export function isNoPromptError(error: unknown): boolean {
  const reason = (error as { data?: { reason?: unknown } } | undefined)?.data?.reason;
  return isUserError(error) && (reason === 'no-prompt' || /no prompt/i.test(errorMessage(error)));
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String((error as { message?: unknown })?.message ?? error);
}

/** Shows a failed command's error: with "Open Settings" when the user can fix it; nothing when cancelled. */
export async function reportError(log: AttributionDeps['log'], error: unknown): Promise<void> {
  if (isCancellation(error)) {
    return;
  }
  const message = errorMessage(error);
  log.error(`Attribution: ${message}`);
  if (!isUserError(error)) {
    await vscode.window.showErrorMessage(`Lens: ${message}`);
    return;
  }
  const choice = await vscode.window.showErrorMessage(`Lens: ${message}`, OPEN_SETTINGS);
  if (choice === OPEN_SETTINGS) {
    await vscode.commands.executeCommand('workbench.action.openSettings', 'lens.attribution');
  }
}

/**
 * One request under a cancellable progress notification. Resolves `undefined` as soon as
 * the user cancels (the client sends `$/cancelRequest`; its late answer is ignored).
 */
export function requestWithProgress<R>(server: AttributionServer, title: string, method: string, params: unknown): Promise<R | undefined> {
  return Promise.resolve(vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title, cancellable: true },
    (_progress, token) => new Promise<R | undefined>((resolve, reject) => {
      const cancelled = token.onCancellationRequested(() => resolve(undefined));
      server.request<R>(method, params, token).then(
        (result) => resolve(token.isCancellationRequested ? undefined : result),
        (error) => (token.isCancellationRequested || isCancellation(error) ? resolve(undefined) : reject(error)),
      ).finally(() => cancelled.dispose());
    }),
  ));
}

/** A request that needs a prompt: when the server finds none before the selection, asks for it and retries. */
async function requestAskingForPrompt<R>(deps: AttributionDeps, title: string, method: string, params: { prompt?: string }): Promise<R | undefined> {
  try {
    return await requestWithProgress<R>(deps.server, title, method, params);
  } catch (error) {
    if (params.prompt !== undefined || !isNoPromptError(error)) {
      throw error;
    }
    const prompt = await vscode.window.showInputBox({
      title: 'Lens: the prompt the model answered',
      prompt: `${errorMessage(error)}. What was the model asked?`,
      ignoreFocusOut: true,
      validateInput: nonEmpty,
    });
    return prompt === undefined ? undefined : requestWithProgress<R>(deps.server, title, method, { ...params, prompt });
  }
}

function nonEmpty(value: string): string | undefined {
  return value.trim() ? undefined : 'Type some text (Escape cancels).';
}

function activeEditor(editor: vscode.TextEditor | undefined): vscode.TextEditor | undefined {
  if (!editor) {
    void vscode.window.showInformationMessage("Lens: open the document with the model's answer and select part of it.");
  }
  return editor;
}

/** Attributes `range` of `document` (empty: the whole answer); shows the result in the panel and marks it in the document. */
export async function attributeRange(deps: AttributionDeps, document: vscode.TextDocument, range: vscode.Range, prompt?: string): Promise<AttributionView | undefined> {
  const version = document.version;
  const uri = document.uri.toString();
  const params: AttributeParams = {
    uri,
    text: document.getText(),
    range: lspRange(range),
    ...(prompt !== undefined ? { prompt } : {}),
    ...attributionSettings(),
    tokenLevel: true,
  };
  const view = await requestAskingForPrompt<AttributionView>(deps, 'Lens: attributing the selection…', ATTRIBUTE_REQUEST, params);
  if (view) {
    deps.log.info(`Attribution ${view.id}: ${view.result.method}, ${view.elapsedMs} ms${view.cached ? ' (cached)' : ''}`);
    deps.panel.showAttribution(view);
    markInDocument(deps, document, version, uri, { kind: 'attribution', view });
  }
  return view;
}

/** The ranges in a result are those of the text the request sent; an edit since then would misplace them. */
function markInDocument(deps: AttributionDeps, document: vscode.TextDocument, version: number, uri: string, stored: StoredView): void {
  if (document.version === version) {
    deps.documents.add(uri, stored);
  } else {
    deps.log.info('The document changed during the request: the result is in the panel only.');
  }
}

/** `Lens: Attribute Selection`. */
export async function attributeSelection(deps: AttributionDeps, editor: vscode.TextEditor | undefined): Promise<AttributionView | undefined> {
  if (!activeEditor(editor)) {
    return undefined;
  }
  try {
    return await attributeRange(deps, editor!.document, editor!.selection);
  } catch (error) {
    await reportError(deps.log, error);
    return undefined;
  }
}

/** `Lens: Generate and Attribute`: asks for a prompt, inserts the model's answer at the cursor and attributes it. */
export async function generateAndAttribute(deps: AttributionDeps, editor: vscode.TextEditor | undefined): Promise<AttributionView | undefined> {
  if (!activeEditor(editor)) {
    return undefined;
  }
  const prompt = await vscode.window.showInputBox({
    title: 'Lens: Generate and Attribute',
    prompt: 'A prompt for the fine-tuned model; its answer goes in at the cursor and is then attributed.',
    ignoreFocusOut: true,
    validateInput: nonEmpty,
  });
  if (prompt === undefined) {
    return undefined;
  }
  try {
    const generated = await requestWithProgress<GenerateResult>(deps.server, 'Lens: generating an answer…', GENERATE_REQUEST, { prompt });
    if (!generated) {
      return undefined;
    }
    const target = editor!;
    const cursor = target.selection.active;
    const plan = planInsertion(target.document.lineAt(cursor.line).text, lsp(cursor), generated);
    const inserted = await target.edit((edit) => edit.insert(toPosition(plan.position), plan.text));
    if (!inserted) {
      throw new Error('could not insert the answer: the editor is read-only or was closed.');
    }
    const answer = toRange(plan.answer);
    target.selection = new vscode.Selection(answer.start, answer.end);
    target.revealRange(answer);
    if (answer.start.line === answer.end.line && answer.start.character === answer.end.character) {
      void vscode.window.showInformationMessage("Lens: the model's answer is empty; nothing to attribute.");
      return undefined;
    }
    // The prompt is known: no need for the server to find it before the answer.
    return await attributeRange(deps, target.document, answer, generated.prompt);
  } catch (error) {
    await reportError(deps.log, error);
    return undefined;
  }
}

/** `Lens: Compare Selection with Text…`: the model's answer (the selection, or the whole answer) against the user's text. */
export async function compareSelection(deps: AttributionDeps, editor: vscode.TextEditor | undefined): Promise<CompareView | undefined> {
  if (!activeEditor(editor)) {
    return undefined;
  }
  const { document, selection } = editor!;
  const userText = await vscode.window.showInputBox({
    title: 'Lens: Compare Selection with Text',
    prompt: "Your text, to compare with the model's (the selection, or the whole answer when nothing is selected).",
    value: document.getText(selection),
    ignoreFocusOut: true,
    validateInput: nonEmpty,
  });
  if (userText === undefined) {
    return undefined;
  }
  const version = document.version;
  const uri = document.uri.toString();
  const { method, topK } = attributionSettings();
  const params: CompareParams = { uri, text: document.getText(), range: lspRange(selection), userText, method, topK };
  try {
    const view = await requestAskingForPrompt<CompareView>(deps, 'Lens: comparing…', COMPARE_REQUEST, params);
    if (view) {
      deps.panel.showCompare(view);
      markInDocument(deps, document, version, uri, { kind: 'compare', view });
    }
    return view;
  } catch (error) {
    await reportError(deps.log, error);
    return undefined;
  }
}

/** `lens.revealAttribution(uri, range)`: opens the document and selects the range (LSP JSON or vscode objects). */
export async function revealAttribution(uri: string | vscode.Uri, range: LspRange | vscode.Range): Promise<void> {
  await revealRange(toUri(uri), toRange(range));
}

/** `lens.openAttribution(id)`: shows a stored result in the panel again. */
export function openStored(panel: AttributionDeps['panel'], stored: StoredView | undefined): void {
  if (!stored) {
    void vscode.window.showInformationMessage('Lens: that attribution is gone (its document changed); attribute the text again.');
  } else if (stored.kind === 'attribution') {
    panel.showAttribution(stored.view);
  } else {
    panel.showCompare(stored.view);
  }
}

/** `Lens: Toggle Token Heat`: flips `lens.attribution.tokenHeat` where it is set (the workspace's, else the user's). */
export async function toggleTokenHeat(): Promise<boolean> {
  const config = vscode.workspace.getConfiguration('lens.attribution');
  const next = !config.get<boolean>('tokenHeat', false);
  const inWorkspace = config.inspect<boolean>('tokenHeat')?.workspaceValue !== undefined;
  await config.update('tokenHeat', next, inWorkspace ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global);
  return next;
}
