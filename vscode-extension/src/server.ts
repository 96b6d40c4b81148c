// Starting, restarting and talking to the Lens language server (`<python> -m server`, stdio).

import * as vscode from 'vscode';
import {
  CloseAction,
  ErrorAction,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
  TransportKind,
} from 'vscode-languageclient/node';
import { checkInterpreter, findInterpreter, Interpreter, interpreterProblemMessage } from './interpreter';
import { LensRequester, STATUS_NOTIFICATION, StatusParams } from './protocol';
import { RestartPolicy } from './restartPolicy';

/** The documents Lens analyses: by language id, and by file name for files no language claims. */
export const DOCUMENT_SELECTOR = [
  ...['csv', 'tsv', 'jsonl'].flatMap((language) => [
    { scheme: 'file', language },
    { scheme: 'untitled', language },
  ]),
  { scheme: 'file', pattern: '**/*.{csv,tsv,tab,jsonl,ndjson}' },
];

export function isLensDocument(document: vscode.TextDocument): boolean {
  return vscode.languages.match(DOCUMENT_SELECTOR, document) > 0;
}

/** Environment of the server process: never reach a model hub (Lens runs offline). */
export function serverEnvironment(base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { HF_HUB_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1', TOKENIZERS_PARALLELISM: 'false', ...base, PYTHONUNBUFFERED: '1' };
}

export interface ServerEvents {
  /** The server's `lens/status` notifications, and the client's own view when there is no server. */
  onStatus(status: StatusParams): void;
  /** A (re)started client is running; views refresh from it. */
  onReady(): void;
}

export class LensServer implements LensRequester, vscode.Disposable {
  private client: LanguageClient | undefined;
  private readonly restartPolicy = new RestartPolicy();
  private starting: Promise<void> | undefined;
  // Set between a crash and the restarted client running, so that the
  // client's passing "stopped" state doesn't show as an error.
  private restartingAfterCrash = false;

  constructor(
    private readonly log: vscode.LogOutputChannel,
    private readonly events: ServerEvents,
  ) {}

  get running(): boolean {
    return this.client?.state === State.Running;
  }

  /** Starts the server unless it is running or starting. */
  start(): Promise<void> {
    if (!this.starting) {
      this.starting = this.startOnce().finally(() => (this.starting = undefined));
    }
    return this.starting;
  }

  async restart(): Promise<void> {
    this.log.info('Restarting the Lens server');
    this.restartPolicy.reset();
    await this.stop();
    await this.start();
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) {
      try {
        await client.stop(5_000);
      } catch (error) {
        this.log.warn(`Stopping the server: ${error}`);
      }
    }
  }

  /** A custom request; cancelling `token` sends `$/cancelRequest`. */
  async request<R>(method: string, params: unknown, token?: vscode.CancellationToken): Promise<R> {
    if (this.starting) {
      await this.starting;
    }
    if (!this.client || !this.running) {
      throw new Error('The Lens server is not running (see the Lens output channel).');
    }
    return token ? this.client.sendRequest<R>(method, params, token) : this.client.sendRequest<R>(method, params);
  }

  dispose(): void {
    void this.stop();
  }

  private async startOnce(): Promise<void> {
    const workspaceFolder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    const setting = vscode.workspace.getConfiguration('lens').get<string>('interpreter');
    const interpreter = await findInterpreter(setting, workspaceFolder);
    this.log.info(`Python interpreter: ${interpreter.path} (${interpreter.source})`);
    this.events.onStatus({ state: 'starting', message: `Checking ${interpreter.path}` });

    const check = await checkInterpreter(interpreter.path);
    if (!check.ok) {
      this.reportUnusableInterpreter(interpreterProblemMessage(interpreter, check));
      return;
    }
    const client = this.createClient(interpreter, workspaceFolder);
    this.client = client;
    client.onNotification(STATUS_NOTIFICATION, (status: StatusParams) => this.events.onStatus(status));
    client.onDidChangeState(({ newState }) => {
      if (newState === State.Starting) {
        this.events.onStatus({ state: 'starting', message: 'Starting the Lens server' });
      } else if (newState === State.Running) {
        this.restartingAfterCrash = false;
        this.events.onReady();
      } else if (newState === State.Stopped && this.client === client && !this.restartingAfterCrash) {
        this.events.onStatus({ state: 'error', message: 'The Lens server stopped' });
      }
    });
    try {
      await client.start();
    } catch (error) {
      this.log.error(`The Lens server did not start: ${error}`);
      this.events.onStatus({ state: 'error', message: `The server did not start: ${error}` });
    }
  }

  private createClient(interpreter: Interpreter, workspaceFolder: string | undefined): LanguageClient {
    const serverOptions: ServerOptions = {
      command: interpreter.path,
      args: ['-m', 'server'],
      transport: TransportKind.stdio,
      options: { cwd: workspaceFolder, env: serverEnvironment(process.env) },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: DOCUMENT_SELECTOR,
      // One channel for everything: the client's log, the server's stderr and message traces.
      outputChannel: this.log,
      traceOutputChannel: this.log,
      // Pushes `workspace/didChangeConfiguration` when a lens.* setting changes; the server
      // then pulls the section through `workspace/configuration`.
      synchronize: { configurationSection: 'lens' },
      errorHandler: {
        error: (_error, _message, count) => ({ action: (count ?? 0) <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown }),
        closed: () => this.onServerClosed(),
      },
    };
    // The id "lens" makes the client read the `lens.trace.server` setting.
    return new LanguageClient('lens', 'Lens', serverOptions, clientOptions);
  }

  private onServerClosed() {
    if (this.restartPolicy.shouldRestart()) {
      this.log.warn('The Lens server exited; restarting it');
      this.restartingAfterCrash = true;
      this.events.onStatus({ state: 'starting', message: 'Restarting after the server exited' });
      return { action: CloseAction.Restart, handled: true };
    }
    const message = 'The Lens server exited 5 times in 3 minutes and will not be restarted. ' +
      'See the Lens output channel, then run "Lens: Restart Server".';
    this.events.onStatus({ state: 'error', message });
    return { action: CloseAction.DoNotRestart, message };
  }

  private reportUnusableInterpreter(message: string): void {
    this.log.error(message);
    this.events.onStatus({ state: 'error', message });
    const openSetting = 'Set lens.interpreter';
    const showLog = 'Show Log';
    void vscode.window.showErrorMessage(message, openSetting, showLog).then((choice) => {
      if (choice === openSetting) {
        void vscode.commands.executeCommand('workbench.action.openSettings', 'lens.interpreter');
      } else if (choice === showLog) {
        this.log.show();
      }
    });
  }
}
