// Where "Lens: Generate and Attribute" puts the generated text, and where the answer
// then lies in the document. LSP positions: 0-based lines, UTF-16 columns (JavaScript
// string indices are UTF-16 units, like `answerOffset`). Nothing here imports vscode.

import { LspPosition, LspRange } from '../protocol';
import { GenerateResult } from './protocol';

export interface InsertionPlan {
  position: LspPosition; // where to insert
  text: string; // what to insert
  answer: LspRange; // the generated answer, once inserted
}

/**
 * On a blank cursor line the text goes at the cursor; otherwise at the end of the cursor's
 * line, after a line break. `insertText` ends with a line break, so whatever followed the
 * cursor's line is then separated from the answer by a blank line (where the server's
 * answer ends). The answer runs from `answerOffset` to the end of `insertText` less its
 * trailing whitespace.
 */
export function planInsertion(lineText: string, cursor: LspPosition, generated: Pick<GenerateResult, 'insertText' | 'answerOffset'>): InsertionPlan {
  const blank = lineText.trim() === '';
  const position = blank ? cursor : { line: cursor.line, character: lineText.length };
  const prefix = blank ? '' : '\n';
  const text = prefix + generated.insertText;
  const offset = Math.min(Math.max(0, generated.answerOffset), generated.insertText.length);
  const start = prefix.length + offset;
  const end = start + generated.insertText.slice(offset).trimEnd().length;
  return { position, text, answer: { start: positionAfter(position, text, start), end: positionAfter(position, text, end) } };
}

/** The position of `text[offset]` once `text` is inserted at `origin` (\n, \r\n and \r break lines). */
export function positionAfter(origin: LspPosition, text: string, offset: number): LspPosition {
  const before = text.slice(0, offset);
  let lines = 0;
  let lineStart = -1;
  for (const match of before.matchAll(/\r\n|\r|\n/g)) {
    lines += 1;
    lineStart = match.index! + match[0].length;
  }
  if (lines === 0) {
    return { line: origin.line, character: origin.character + before.length };
  }
  return { line: origin.line + lines, character: before.length - lineStart };
}
