// The language status item (the "{}" next to the language mode in the status bar,
// shown while a Lens document is active): server state, models loading/ready, CPU or GPU.

import * as vscode from 'vscode';
import { StatusParams } from './protocol';

export interface StatusPresentation {
  text: string;
  detail: string;
  busy: boolean;
  severity: vscode.LanguageStatusSeverity;
}

const STATE_TEXT: Record<StatusParams['state'], string> = {
  starting: 'Lens: starting',
  loading: 'Lens: loading models',
  ready: 'Lens: ready',
  analyzing: 'Lens: analysing',
  error: 'Lens: error',
};

/** How a `lens/status` notification looks in the status item. */
export function statusPresentation(status: StatusParams): StatusPresentation {
  const device = status.device ? ` · ${status.device === 'cuda' ? 'GPU' : 'CPU'}` : '';
  const text = (STATE_TEXT[status.state] ?? `Lens: ${status.state}`) + device;
  return {
    text,
    detail: status.message ?? '',
    busy: status.state === 'starting' || status.state === 'loading' || status.state === 'analyzing',
    severity: status.state === 'error' ? vscode.LanguageStatusSeverity.Error : vscode.LanguageStatusSeverity.Information,
  };
}

export class LensStatusItem implements vscode.Disposable {
  private readonly item: vscode.LanguageStatusItem;
  private device: StatusParams['device'];

  constructor(selector: vscode.DocumentSelector) {
    this.item = vscode.languages.createLanguageStatusItem('lens.status', selector);
    this.item.name = 'Lens';
    this.item.command = { title: 'Show Log', command: 'lens.showLog' };
    this.update({ state: 'starting' });
  }

  update(status: StatusParams): void {
    // The device is only known once the server says it; keep it across later states.
    this.device = status.device ?? this.device;
    const shown = statusPresentation({ ...status, device: this.device });
    this.item.text = shown.text;
    this.item.detail = shown.detail;
    this.item.busy = shown.busy;
    this.item.severity = shown.severity;
  }

  dispose(): void {
    this.item.dispose();
  }
}
