/**
 * `tunbox format`: re-indents a JSONC config and keeps its comments, `#` comments included.
 *
 * `jsonc-parser` knows `//` and `/* *\/` comments only, so each `# ...` comment is turned into
 * `//# ...` for the formatter and turned back afterwards (comments keep their order).
 *
 * @module
 */

import { applyEdits, createScanner, format } from "jsonc-parser";
import { scanJsonc } from "./jsonc.ts";

/** Indentation used by `format` (sing-box's `format` indents with two spaces). */
export const FORMAT_INDENT = 2;

// jsonc-parser's SyntaxKind is a const enum, which isolated modules cannot read.
const LINE_COMMENT = 12;
const BLOCK_COMMENT = 13;
const EOF = 17;

function lineCommentOffsets(text: string): number[] {
  const scanner = createScanner(text, false);
  const out: number[] = [];
  for (let kind = scanner.scan(); kind !== EOF; kind = scanner.scan()) {
    if (kind === LINE_COMMENT || kind === BLOCK_COMMENT) {
      out.push(scanner.getTokenOffset());
    }
  }
  return out;
}

/**
 * Pretty-prints JSONC text with {@linkcode FORMAT_INDENT}-space indentation, one value per line,
 * comments kept. The caller checks syntax first (this does not report errors).
 */
export function formatJsonc(text: string): string {
  const { hashComments } = scanJsonc(text);
  let prepared = text;
  const ours = new Set<number>();
  if (hashComments.length > 0) {
    const parts: string[] = [];
    let last = 0;
    for (const [start] of hashComments) {
      parts.push(text.slice(last, start), "//");
      last = start;
    }
    parts.push(text.slice(last));
    prepared = parts.join("");
    const inserted = new Set(hashComments.map(([start], i) => start + 2 * i));
    lineCommentOffsets(prepared).forEach((off, i) => {
      if (inserted.has(off)) ours.add(i);
    });
  }
  const edits = format(prepared, undefined, {
    tabSize: FORMAT_INDENT,
    insertSpaces: true,
    eol: "\n",
    insertFinalNewline: true,
    keepLines: false,
  });
  let out = applyEdits(prepared, edits);
  if (ours.size > 0) {
    const offsets = lineCommentOffsets(out);
    const parts: string[] = [];
    let last = 0;
    offsets.forEach((off, i) => {
      if (!ours.has(i)) return;
      parts.push(out.slice(last, off));
      last = off + 2;
    });
    parts.push(out.slice(last));
    out = parts.join("");
  }
  return out;
}
