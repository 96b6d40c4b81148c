// The last few attributions of each document, for the hover, the code lens and the
// decorations there. Edits move or drop them by one simple rule (`applyChanges`).
// Nothing here imports vscode.

import { LspPosition, LspRange } from '../protocol';
import { AttributionView, CompareView } from './protocol';

export type StoredView = { kind: 'attribution'; view: AttributionView } | { kind: 'compare'; view: CompareView };

export interface StoredAttribution {
  /** Client-side id (the server's ids restart with the server). */
  readonly id: string;
  readonly uri: string;
  readonly stored: StoredView;
  /** Lines inserted (+) or removed (-) above the attribution since the server answered. */
  lineDelta: number;
}

export interface TextChange {
  range: LspRange;
  text: string;
}

export function comparePositions(a: LspPosition, b: LspPosition): number {
  return a.line - b.line || a.character - b.character;
}

function shift(range: LspRange, lines: number): LspRange {
  return lines === 0 ? range : {
    start: { line: range.start.line + lines, character: range.start.character },
    end: { line: range.end.line + lines, character: range.end.character },
  };
}

/** The attributed selection, where it is in the document now. */
export function spanRanges(entry: StoredAttribution): LspRange[] {
  return entry.stored.view.spanRanges.map((range) => shift(range, entry.lineDelta));
}

/** The answer the selection belongs to, where it is in the document now. */
export function textRange(entry: StoredAttribution): LspRange {
  return shift(entry.stored.view.textRange, entry.lineDelta);
}

/** Each token of the answer (for the heat), where it is in the document now. */
export function tokenRanges(entry: StoredAttribution): LspRange[] {
  const tokens = entry.stored.kind === 'attribution' ? entry.stored.view.result.token_level : null;
  return (tokens?.ranges ?? []).map((range) => shift(range, entry.lineDelta));
}

/** From the start of the answer or the selection, whichever comes first, to the end of the later. */
export function extent(entry: StoredAttribution): LspRange {
  let { start, end } = textRange(entry);
  for (const range of spanRanges(entry)) {
    start = comparePositions(range.start, start) < 0 ? range.start : start;
    end = comparePositions(range.end, end) > 0 ? range.end : end;
  }
  return { start, end };
}

export function overlaps(a: LspRange, b: LspRange): boolean {
  const same = comparePositions(a.start, b.start) === 0 && comparePositions(a.end, b.end) === 0;
  return same || (comparePositions(a.start, b.end) < 0 && comparePositions(b.start, a.end) < 0);
}

export function contains(range: LspRange, position: LspPosition): boolean {
  return comparePositions(range.start, position) <= 0 && comparePositions(position, range.end) <= 0;
}

function lineBreaks(text: string): number {
  return text.match(/\r\n|\r|\n/g)?.length ?? 0;
}

/**
 * What an edit does to an attribution: an edit that ends on a line above it shifts it by
 * the lines the edit adds or removes; an edit that starts at or after its end leaves it;
 * any other edit (inside it, or before it on its first line) drops it.
 */
export function afterChange(entry: StoredAttribution, change: TextChange): 'keep' | 'shift' | 'drop' {
  const { start, end } = extent(entry);
  if (change.range.end.line < start.line) {
    const delta = lineBreaks(change.text) - (change.range.end.line - change.range.start.line);
    entry.lineDelta += delta;
    return delta === 0 ? 'keep' : 'shift';
  }
  return comparePositions(change.range.start, end) >= 0 ? 'keep' : 'drop';
}

export class AttributionStore {
  private readonly byUri = new Map<string, StoredAttribution[]>(); // newest first
  private counter = 0;

  constructor(readonly perDocument = 5) {}

  /** Adds a result for `uri` (the URI the request was sent with); it replaces older ones whose selections overlap. */
  add(uri: string, stored: StoredView): StoredAttribution {
    const entry: StoredAttribution = { id: `${++this.counter}`, uri, stored, lineDelta: 0 };
    const spans = spanRanges(entry);
    const kept = this.entries(uri).filter((old) => !spanRanges(old).some((a) => spans.some((b) => overlaps(a, b))));
    this.byUri.set(uri, [entry, ...kept].slice(0, this.perDocument));
    return entry;
  }

  /** The document's attributions, newest first. */
  entries(uri: string): readonly StoredAttribution[] {
    return this.byUri.get(uri) ?? [];
  }

  find(id: string): StoredAttribution | undefined {
    for (const entries of this.byUri.values()) {
      const found = entries.find((entry) => entry.id === id);
      if (found) {
        return found;
      }
    }
    return undefined;
  }

  /** Applies a document's edits (in the order VS Code reports them); true when an attribution moved or went. */
  applyChanges(uri: string, changes: readonly TextChange[]): boolean {
    const entries = this.byUri.get(uri);
    if (!entries) {
      return false;
    }
    let changed = false;
    const kept = entries.filter((entry) => {
      for (const change of changes) {
        const outcome = afterChange(entry, change);
        changed ||= outcome !== 'keep';
        if (outcome === 'drop') {
          return false;
        }
      }
      return true;
    });
    this.set(uri, kept);
    return changed;
  }

  /** Forgets a document's attributions; true when it had any. */
  forget(uri: string): boolean {
    return this.byUri.delete(uri);
  }

  private set(uri: string, entries: StoredAttribution[]): void {
    if (entries.length > 0) {
      this.byUri.set(uri, entries);
    } else {
      this.byUri.delete(uri);
    }
  }
}
