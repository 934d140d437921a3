/**
 * JSONC reader: JSON with `//`, `/* *\/` and `#` line comments (as sing-box's comment filter
 * accepts), parsed with offsets into a small tree whose every value knows its file, line and
 * column.
 *
 * `#` comments are blanked with spaces of the same length before `jsonc-parser` sees the text,
 * so offsets stay exact. Nesting is checked before parsing (the parser recurses), and deeper
 * documents than {@linkcode MAX_DEPTH} are refused with one clean error.
 *
 * @module
 */

import { type Node, type ParseError, parseTree, printParseErrorCode } from "jsonc-parser";
import type { Diagnostics, Pos } from "./diagnostic.ts";

/** Deepest array/object nesting accepted. */
export const MAX_DEPTH = 512;

/** A JSON object; `props` keep source order, and duplicate keys keep only the last value. */
export interface JsonObject {
  readonly kind: "object";
  readonly pos: Pos;
  readonly props: JsonProp[];
}

/** One `"key": value` pair with the key's own position. */
export interface JsonProp {
  readonly key: string;
  readonly keyPos: Pos;
  value: JsonNode;
}

export interface JsonArray {
  readonly kind: "array";
  readonly pos: Pos;
  readonly items: JsonNode[];
}

export interface JsonString {
  readonly kind: "string";
  readonly pos: Pos;
  readonly value: string;
}

export interface JsonNumber {
  readonly kind: "number";
  readonly pos: Pos;
  readonly value: number;
  /** The number as written, for messages. */
  readonly raw: string;
}

export interface JsonBoolean {
  readonly kind: "boolean";
  readonly pos: Pos;
  readonly value: boolean;
}

export interface JsonNull {
  readonly kind: "null";
  readonly pos: Pos;
}

/** A parsed JSON value with its position. */
export type JsonNode = JsonObject | JsonArray | JsonString | JsonNumber | JsonBoolean | JsonNull;

/**
 * Maps UTF-16 offsets to 1-based line and column (columns count code points). Lookups are
 * O(log n), so positions stay cheap in a large single-line (minified) file.
 */
export class LineIndex {
  readonly #starts: number[] = [0];
  /** Offsets of the high half of every surrogate pair, ascending. */
  readonly #pairs: number[] = [];
  readonly file: string;

  constructor(text: string, file: string) {
    this.file = file;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 10) this.#starts.push(i + 1);
      else if (c >= 0xd800 && c <= 0xdbff) {
        const d = text.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          this.#pairs.push(i);
          i++;
        }
      }
    }
  }

  /** Index of the first element of `a` that is >= `v`. */
  static #lowerBound(a: number[], v: number): number {
    let lo = 0, hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (a[mid]! < v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The position of a UTF-16 offset. */
  pos(offset: number): Pos {
    const line = LineIndex.#lowerBound(this.#starts, offset + 1) - 1;
    const start = this.#starts[line]!;
    const pairs = LineIndex.#lowerBound(this.#pairs, offset) -
      LineIndex.#lowerBound(this.#pairs, start);
    return { file: this.file, line: line + 1, column: offset - start - pairs + 1 };
  }
}

/** Result of {@linkcode scanJsonc}: text with `#` comments blanked, and what the scan found. */
export interface ScanResult {
  text: string;
  /** Offset of the first bracket nested deeper than {@linkcode MAX_DEPTH}, if any. */
  tooDeepAt?: number;
  /** True when the text holds anything besides whitespace and comments. */
  hasContent: boolean;
  /** `[start, end)` offsets of every `#` comment (end is before the newline). */
  hashComments: [number, number][];
}

/**
 * Blanks `#` line comments (outside strings and other comments) with spaces of equal length and
 * measures nesting depth, without recursion.
 */
export function scanJsonc(text: string, maxDepth = MAX_DEPTH): ScanResult {
  let out: string[] | null = null;
  let last = 0;
  let depth = 0;
  let tooDeepAt: number | undefined;
  let hasContent = false;
  const hashComments: [number, number][] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      hasContent = true;
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) i += 2;
        else if (d === 0x22 || d === 0x0a) {
          i++;
          break;
        } else i++;
      }
      continue;
    }
    if (c === 0x2f /* / */ && i + 1 < n) {
      const d = text.charCodeAt(i + 1);
      if (d === 0x2f) {
        const end = text.indexOf("\n", i);
        i = end < 0 ? n : end;
        continue;
      }
      if (d === 0x2a /* * */) {
        const end = text.indexOf("*/", i + 2);
        i = end < 0 ? n : end + 2;
        continue;
      }
    }
    if (c === 0x23 /* # */) {
      let end = text.indexOf("\n", i);
      if (end < 0) end = n;
      out ??= [];
      hashComments.push([i, end]);
      out.push(text.slice(last, i), " ".repeat(end - i));
      last = end;
      i = end;
      continue;
    }
    if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      depth++;
      if (depth > maxDepth && tooDeepAt === undefined) tooDeepAt = i;
    } else if (c === 0x5d || c === 0x7d) depth--;
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d && c !== 0xfeff) hasContent = true;
    i++;
  }
  let masked = text;
  if (out) {
    out.push(text.slice(last));
    masked = out.join("");
  }
  const result: ScanResult = { text: masked, hasContent, hashComments };
  if (tooDeepAt !== undefined) result.tooDeepAt = tooDeepAt;
  return result;
}

function syntaxMessage(e: ParseError, text: string): string {
  const prevIsComma = () => {
    let j = e.offset - 1;
    while (j >= 0 && /\s/.test(text[j]!)) j--;
    return text[j] === ",";
  };
  switch (printParseErrorCode(e.error)) {
    case "InvalidSymbol":
      if (/^\s*:/.test(text.slice(e.offset + e.length))) {
        return `property names must be in double quotes, got ${
          text.slice(e.offset, e.offset + Math.min(e.length, 40))
        }`;
      }
      return `invalid symbol ${
        JSON.stringify(text.slice(e.offset, e.offset + Math.min(e.length, 40)))
      }`;
    case "InvalidNumberFormat":
      return "invalid number";
    case "PropertyNameExpected":
      return "expected a property name in double quotes";
    case "ValueExpected":
      if (text[e.offset] === "," && prevIsComma()) {
        return "two commas in a row (a value is missing)";
      }
      return "expected a value";
    case "ColonExpected":
      return "expected ':' after the property name";
    case "CommaExpected":
      return "expected ',' between values";
    case "CloseBraceExpected":
      return "expected '}' to close the object";
    case "CloseBracketExpected":
      return "expected ']' to close the array";
    case "EndOfFileExpected":
      return "unexpected content after the end of the JSON value";
    case "InvalidCommentToken":
      return "invalid comment";
    case "UnexpectedEndOfComment":
      return "unterminated /* comment";
    case "UnexpectedEndOfString":
      return "unterminated string";
    case "UnexpectedEndOfNumber":
      return "unterminated number";
    case "InvalidUnicode":
      return "invalid \\u escape";
    case "InvalidEscapeCharacter":
      return "invalid escape sequence in string";
    case "InvalidCharacter":
      return "invalid character in string (control characters must be escaped)";
    default:
      return "syntax error";
  }
}

/**
 * Parses JSONC text into a {@linkcode JsonNode}. Problems are added to `diag` (the first syntax
 * error stops the parse and returns `undefined`; duplicate keys are warnings).
 */
export function parseJsonc(text: string, file: string, diag: Diagnostics): JsonNode | undefined {
  const index = new LineIndex(text, file);
  if (text.charCodeAt(0) === 0xfeff) text = " " + text.slice(1);
  const scan = scanJsonc(text);
  if (!scan.hasContent) {
    diag.error({ file, line: 0, column: 0 }, "", "the file is empty (expected a JSON object)");
    return undefined;
  }
  if (scan.tooDeepAt !== undefined) {
    diag.error(
      index.pos(scan.tooDeepAt),
      "",
      `arrays and objects are nested deeper than ${MAX_DEPTH} levels`,
    );
    return undefined;
  }
  const errors: ParseError[] = [];
  const tree = parseTree(scan.text, errors, {
    disallowComments: false,
    // sing-box's JSON reader (sing common/json, "trailing comma support for arrays and objects")
    // accepts one trailing comma before ']' or '}', comments in between included.
    allowTrailingComma: true,
    allowEmptyContent: false,
  });
  if (errors.length > 0) {
    // Only the first: the parser's recovery turns one mistake into a cascade of others.
    const e = errors[0]!;
    diag.error(index.pos(e.offset), "", syntaxMessage(e, scan.text));
    return undefined;
  }
  if (!tree) {
    diag.error({ file, line: 0, column: 0 }, "", "the file is empty (expected a JSON object)");
    return undefined;
  }
  return convert(tree, index, scan.text, diag);
}

function convert(node: Node, index: LineIndex, text: string, diag: Diagnostics): JsonNode {
  const pos = index.pos(node.offset);
  switch (node.type) {
    case "object": {
      const props: JsonProp[] = [];
      const seen = new Map<string, number>();
      for (const child of node.children ?? []) {
        const [keyNode, valueNode] = child.children ?? [];
        if (!keyNode || !valueNode) continue;
        const key = String(keyNode.value);
        const keyPos = index.pos(keyNode.offset);
        const value = convert(valueNode, index, text, diag);
        const prev = seen.get(key);
        if (prev !== undefined) {
          const first = props[prev]!;
          diag.warn(
            keyPos,
            "",
            `duplicate key ${
              JSON.stringify(key)
            } (also at line ${first.keyPos.line}); the later value is used, as in sing-box`,
          );
          props[prev] = { key, keyPos, value };
        } else {
          seen.set(key, props.length);
          props.push({ key, keyPos, value });
        }
      }
      return { kind: "object", pos, props };
    }
    case "array":
      return {
        kind: "array",
        pos,
        items: (node.children ?? []).map((c) => convert(c, index, text, diag)),
      };
    case "string":
      return { kind: "string", pos, value: String(node.value) };
    case "number":
      return {
        kind: "number",
        pos,
        value: Number(node.value),
        raw: text.slice(node.offset, node.offset + node.length),
      };
    case "boolean":
      return { kind: "boolean", pos, value: Boolean(node.value) };
    default:
      return { kind: "null", pos };
  }
}

/** Converts a node back to a plain JSON value (for `merge` output and tests). */
export function toPlain(node: JsonNode): unknown {
  switch (node.kind) {
    case "object": {
      const out: Record<string, unknown> = {};
      for (const p of node.props) out[p.key] = toPlain(p.value);
      return out;
    }
    case "array":
      return node.items.map(toPlain);
    case "null":
      return null;
    default:
      return node.value;
  }
}

/** A short description of a node's JSON type, for "expected X, got Y" messages. */
export function describe(node: JsonNode): string {
  switch (node.kind) {
    case "object":
      return "an object";
    case "array":
      return "a list";
    case "string":
      return `the string ${
        JSON.stringify(node.value.length > 60 ? node.value.slice(0, 57) + "..." : node.value)
      }`;
    case "number":
      return `the number ${node.raw}`;
    case "boolean":
      return String(node.value);
    case "null":
      return "null";
  }
}
