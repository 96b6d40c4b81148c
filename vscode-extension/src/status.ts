// The language status item (the "{}" next to the language mode in the status bar):
// server state, models loading/ready, CPU or GPU, and the attribution model's state.
// It shows while a Lens dataset is active, and in every document once the attribution
// lens is configured (attributions are asked for in any document).

import * as vscode from 'vscode';
import { AttributionState } from './attribution/protocol';
import { StatusParams } from './protocol';

/** `lens/status` with the attribution lens's field (docs/lsp.md, "Attribution"). */
export type LensStatus = StatusParams & { attribution?: AttributionState };

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

/** "CPU", "CUDA", "CUDA:1". */
function deviceName(device: string | undefined): string {
  return (device || 'cpu').toUpperCase();
}

/** The attribution model's part of the item: text after the dataset state, and its detail. */
export function attributionPresentation(attribution: AttributionState | undefined): { text: string; detail: string } {
  switch (attribution?.state) {
    case undefined:
    case 'unconfigured':
      return { text: '', detail: '' };
    case 'loading':
      return { text: ' · attribution model loading…', detail: attribution.message || 'Loading the attribution model' };
    case 'ready': {
      const examples = attribution.examples !== undefined ? `, ${attribution.examples.toLocaleString('en-US')} examples` : '';
      return { text: ` · attribution ready on ${deviceName(attribution.device)}${examples}`, detail: attribution.message ?? '' };
    }
    case 'error':
      return { text: ' · attribution error', detail: attribution.message ?? '' };
    default: // "idle": configured, loads with the first request
      return { text: '', detail: attribution?.message || 'Attribution model: loads with the first attribution' };
  }
}

/** How a `lens/status` notification looks in the status item. */
export function statusPresentation(status: LensStatus): StatusPresentation {
  const device = status.device ? ` · ${status.device === 'cuda' ? 'GPU' : 'CPU'}` : '';
  const attribution = attributionPresentation(status.attribution);
  const text = (STATE_TEXT[status.state] ?? `Lens: ${status.state}`) + device + attribution.text;
  const error = status.state === 'error' || status.attribution?.state === 'error';
  return {
    text,
    detail: [status.message, attribution.detail].filter(Boolean).join(' · '),
    busy: status.state === 'starting' || status.state === 'loading' || status.state === 'analyzing' || status.attribution?.state === 'loading',
    severity: error ? vscode.LanguageStatusSeverity.Error : vscode.LanguageStatusSeverity.Information,
  };
}

/** Every text document: where the item shows once the attribution lens is configured. */
const ALL_DOCUMENTS: vscode.DocumentSelector = [{ scheme: 'file' }, { scheme: 'untitled' }];

export class LensStatusItem implements vscode.Disposable {
  private readonly item: vscode.LanguageStatusItem;
  private device: StatusParams['device'];
  private attribution: AttributionState | undefined;

  constructor(private readonly selector: vscode.DocumentSelector) {
    this.item = vscode.languages.createLanguageStatusItem('lens.status', selector);
    this.item.name = 'Lens';
    this.item.command = { title: 'Show Log', command: 'lens.showLog' };
    this.update({ state: 'starting' });
  }

  update(status: LensStatus): void {
    // The device and the attribution state are only known once the server says them;
    // keep them across later notifications (a starting server has no model loaded).
    this.device = status.device ?? this.device;
    this.attribution = status.attribution ?? (status.state === 'starting' ? undefined : this.attribution);
    const shown = statusPresentation({ ...status, device: this.device, attribution: this.attribution });
    this.item.text = shown.text;
    this.item.detail = shown.detail;
    this.item.busy = shown.busy;
    this.item.severity = shown.severity;
    const configured = this.attribution !== undefined && this.attribution.state !== 'unconfigured';
    this.item.selector = configured ? ALL_DOCUMENTS : this.selector;
  }

  dispose(): void {
    this.item.dispose();
  }
}
