// Which Python runs the Lens server, and whether it can.
//
// Order: the `lens.interpreter` setting; else the Python extension's active
// interpreter (when ms-python.python is installed); else `python3` on PATH.
// Before starting the server we check that the interpreter imports it, because
// a language client that fails to start only says "connection closed".

import { execFile } from 'child_process';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';

export const DEFAULT_PYTHON = 'python3';
export const IMPORT_CHECK = 'import server, lens_engine';

export type InterpreterSource = 'setting' | 'python-extension' | 'default';

export interface Interpreter {
  path: string;
  source: InterpreterSource;
}

export type InterpreterCheck =
  | { ok: true }
  | { ok: false; reason: 'not-found' | 'import-failed' | 'timeout'; detail: string };

/** Expands `${workspaceFolder}`, `~` and a path relative to the workspace folder. */
export function expandInterpreterPath(value: string, workspaceFolder: string | undefined): string {
  let expanded = value.trim();
  if (workspaceFolder) {
    expanded = expanded.split('${workspaceFolder}').join(workspaceFolder);
  }
  if (expanded === '~' || expanded.startsWith('~/')) {
    expanded = path.join(os.homedir(), expanded.slice(1));
  }
  // A bare command name ("python3.11") is looked up on PATH; a relative path is
  // taken from the workspace folder, as VS Code's own Python settings do.
  const looksLikePath = expanded.includes('/') || expanded.includes('\\');
  if (looksLikePath && !path.isAbsolute(expanded) && workspaceFolder) {
    expanded = path.join(workspaceFolder, expanded);
  }
  return expanded;
}

/** The active interpreter of the Python extension, or undefined when there is none. */
export async function pythonExtensionInterpreter(resource?: vscode.Uri): Promise<string | undefined> {
  const extension = vscode.extensions.getExtension('ms-python.python');
  if (!extension) {
    return undefined;
  }
  try {
    const api: any = extension.isActive ? extension.exports : await extension.activate();
    const environments = api?.environments;
    const envPath = environments?.getActiveEnvironmentPath?.(resource);
    if (!envPath) {
      return undefined;
    }
    // An environment path may name the environment's folder; resolving gives the executable.
    const resolved = await environments.resolveEnvironment?.(envPath);
    return resolved?.executable?.uri?.fsPath ?? envPath.path;
  } catch {
    return undefined; // The Python extension is optional: fall back quietly.
  }
}

export async function findInterpreter(
  setting: string | undefined,
  workspaceFolder: string | undefined,
  fromPythonExtension: () => Promise<string | undefined> = pythonExtensionInterpreter,
): Promise<Interpreter> {
  if (setting && setting.trim()) {
    return { path: expandInterpreterPath(setting, workspaceFolder), source: 'setting' };
  }
  const active = await fromPythonExtension();
  if (active) {
    return { path: active, source: 'python-extension' };
  }
  return { path: DEFAULT_PYTHON, source: 'default' };
}

/** Runs `<python> -c "import server, lens_engine"`. */
export function checkInterpreter(python: string, timeoutMs = 60_000): Promise<InterpreterCheck> {
  return new Promise((resolve) => {
    execFile(python, ['-c', IMPORT_CHECK], { timeout: timeoutMs }, (error, _stdout, stderr) => {
      if (!error) {
        resolve({ ok: true });
      } else if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'EACCES') {
        resolve({ ok: false, reason: 'not-found', detail: error.message });
      } else if (error.killed) {
        resolve({ ok: false, reason: 'timeout', detail: `no answer within ${timeoutMs / 1000} s` });
      } else {
        resolve({ ok: false, reason: 'import-failed', detail: lastLine(stderr) || error.message });
      }
    });
  });
}

/** The message a user sees when the interpreter can't run the server: what is wrong and what to do. */
export function interpreterProblemMessage(interpreter: Interpreter, check: InterpreterCheck): string {
  if (check.ok) {
    return '';
  }
  const where = describeSource(interpreter);
  const fix =
    `Install Lens into it (\`"${interpreter.path}" -m pip install -e <lens checkout>\`, or run ` +
    '`bash scripts/setup.sh` in a Lens checkout) or set "lens.interpreter" to a Python that has Lens ' +
    '(for a checkout: <checkout>/.venv/bin/python).';
  switch (check.reason) {
    case 'not-found':
      return `Lens could not run the Python interpreter "${interpreter.path}" (${where}): ${check.detail}. ` +
        'Set "lens.interpreter" to the Python of an environment that has Lens installed.';
    case 'timeout':
      return `Lens: "${interpreter.path}" (${where}) did not answer when asked to import the Lens server (${check.detail}).`;
    case 'import-failed':
      return `Lens's language server is not installed for "${interpreter.path}" (${where}): ${check.detail}. ${fix}`;
  }
}

function describeSource(interpreter: Interpreter): string {
  switch (interpreter.source) {
    case 'setting':
      return 'from lens.interpreter';
    case 'python-extension':
      return "the Python extension's active interpreter";
    case 'default':
      return 'the default; lens.interpreter is not set';
  }
}

function lastLine(text: string): string {
  const lines = text.trim().split(/\r?\n/);
  return lines[lines.length - 1] ?? '';
}
