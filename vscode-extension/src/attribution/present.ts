// How an attribution looks in the document it came from: the code lens title, the hover's
// markdown and the token heat buckets. Pure functions of the server's views; nothing here
// imports vscode.

import { LspRange } from '../protocol';
import { AttributionView, CompareView, Example, TokenLevel } from './protocol';

/** The client commands the hover and the code lens link to. */
export const REVEAL_COMMAND = 'lens.revealAttribution';
export const OPEN_COMMAND = 'lens.openAttribution';

const METHOD_NAMES: Record<string, string> = {
  datainf: 'DataInf',
  graddot: 'grad-dot',
  gradcos: 'grad-cos',
  bm25: 'BM25',
  exact: 'exact span',
};

/** Methods that score with gradients at each checkpoint (the others ignore checkpoints). */
const GRADIENT_METHODS = new Set(['datainf', 'graddot', 'gradcos']);

export function methodName(method: string): string {
  return METHOD_NAMES[method] ?? method;
}

export function plural(count: number, word: string): string {
  return `${count.toLocaleString('en-US')} ${word}${count === 1 ? '' : 's'}`;
}

/** `+0.85` / `-0.12`: a normalized score, always signed. */
export function signed(value: number): string {
  return `${value >= 0 ? '+' : '-'}${Math.abs(value).toFixed(2)}`;
}

function methodSummary(result: { method: string; checkpoints: string[] }): string {
  const checkpoints = result.checkpoints?.length ?? 0;
  const extra = GRADIENT_METHODS.has(result.method) && checkpoints > 0 ? `, ${plural(checkpoints, 'checkpoint')}` : '';
  return `method ${methodName(result.method)}${extra}`;
}

/** "10 supporting · 10 opposing · method DataInf, 3 checkpoints" */
export function codeLensTitle(view: AttributionView): string {
  const result = view.result;
  return `${result.supporting.length} supporting · ${result.opposing.length} opposing · ${methodSummary(result)}`;
}

/** "Compared with your text: 4 favour the model's · 2 favour yours · method DataInf, 3 checkpoints" */
export function compareLensTitle(view: CompareView): string {
  const compare = view.compare;
  return `Compared with your text: ${compare.favour_model.length} favour the model's · ` +
    `${compare.favour_user.length} favour yours · ${methodSummary(compare.model)}`;
}

/** A `command:` link target; VS Code passes the JSON array as the command's arguments. */
export function commandUri(command: string, args: unknown[]): string {
  return `command:${command}?${encodeURIComponent(JSON.stringify(args))}`;
}

/** Escapes the characters that would start markdown or HTML formatting in plain text. */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_[\]<>|~#]/g, '\\$&');
}

/** One line of an example's fields: whitespace collapsed, fields joined by " → ", cut at `width`. */
export function preview(fields: Record<string, string>, width = 90): string {
  const line = Object.values(fields ?? {})
    .map((value) => String(value).replace(/\s+/g, ' ').trim())
    .filter(Boolean)
    .join(' → ');
  return line.length > width ? `${line.slice(0, width - 1).trimEnd()}…` : line;
}

function exampleLine(example: Example, rank: number): string {
  const open = commandUri(REVEAL_COMMAND, [example.location.uri, example.location.range]);
  return `${rank}. \`${signed(example.normalized)}\` row ${example.row}: ${escapeMarkdown(preview(example.fields))} — [Open row ${example.row}](${open})`;
}

/**
 * The hover over an attributed span: the top `shown` supporting examples and the top
 * opposing one, each with a link that opens its row, and a link to the panel.
 * `localId` is the client-side id `lens.openAttribution` takes.
 */
export function hoverMarkdown(view: AttributionView, localId: string, shown = 3): string {
  const result = view.result;
  const lines = [
    `**Lens attribution** · ${methodSummary(result)} · ${plural(result.n_examples, 'training example')}`,
    '',
  ];
  if (result.supporting.length > 0) {
    lines.push('**Supporting**', '', ...result.supporting.slice(0, shown).map((example, i) => exampleLine(example, i + 1)), '');
  }
  if (result.opposing.length > 0) {
    lines.push('**Opposing**', '', exampleLine(result.opposing[0], 1), '');
  }
  if (result.supporting.length === 0 && result.opposing.length === 0) {
    lines.push('No training example raised or lowered this text.', '');
  }
  lines.push(`[Show all in panel](${commandUri(OPEN_COMMAND, [localId])})`);
  return lines.join('\n');
}

/** Heat levels per sign: each (sign, level) pair is one decoration type. */
export const HEAT_LEVELS = 4;

export interface HeatToken {
  range: LspRange;
  positive: boolean;
  level: number; // 0 (faint) .. HEAT_LEVELS - 1 (strongest)
}

/**
 * Which tokens get which heat bucket: each token's contribution summed over the shown
 * examples (supporting and opposing), scaled by the largest magnitude; tokens under
 * `minShare` of it get none.
 */
export function heatBuckets(tokens: TokenLevel | null | undefined, minShare = 0.1): HeatToken[] {
  if (!tokens) {
    return [];
  }
  const sums = tokens.ranges.map((_, t) => tokens.contributions.reduce((sum, row) => sum + (row[t] ?? 0), 0));
  const scale = sums.reduce((max, value) => Math.max(max, Math.abs(value)), 0);
  if (!(scale > 0)) {
    return [];
  }
  const heat: HeatToken[] = [];
  sums.forEach((sum, t) => {
    const share = Math.abs(sum) / scale;
    if (share >= minShare) {
      heat.push({ range: tokens.ranges[t], positive: sum > 0, level: Math.min(HEAT_LEVELS - 1, Math.floor(share * HEAT_LEVELS)) });
    }
  });
  return heat;
}

/** The background of a heat bucket (the colours of the engine's HTML view). */
export function heatColour(positive: boolean, level: number): string {
  const alpha = (0.12 + (0.42 * level) / (HEAT_LEVELS - 1)).toFixed(2);
  return positive ? `rgba(42, 157, 75, ${alpha})` : `rgba(192, 57, 43, ${alpha})`;
}
