/**
 * Writes JSON with comments (JSONC, as tunbox and sing-box read it) for generated configs:
 * values may carry comment lines before them and a trailing comment, and objects and arrays may
 * hold standalone comment lines (an input line that could not be converted, and why).
 *
 * ```ts
 * const text = writeJsonc({
 *   log: commented({ level: "info" }, ["Log to stderr."]),
 *   route: { rules: [note("rule 3 was dropped: geosite databases are gone"), { ... }] },
 * });
 * ```
 *
 * Objects and arrays without comments inside are written on one line when that line stays
 * within 100 columns; everything else one entry per line, indented by two spaces.
 *
 * @module
 */

/** A value to write: JSON, or a value with comments, or a standalone comment. */
export type Jsonc =
  | null
  | boolean
  | number
  | string
  | Jsonc[]
  | { [key: string]: Jsonc }
  | Commented
  | Note;

/** A value with comment lines before it and an optional comment after it on the same line. */
export class Commented {
  constructor(
    readonly value: Jsonc,
    readonly before: readonly string[],
    readonly trailing: string,
  ) {}
}

/** Comment lines standing alone in an object or array (their key, in an object, is ignored). */
export class Note {
  constructor(readonly lines: readonly string[]) {}
}

/** Attaches comment lines before `value` and optionally a trailing comment. */
export function commented(
  value: Jsonc,
  before: string | readonly string[],
  trailing = "",
): Commented {
  return new Commented(value, typeof before === "string" ? [before] : before, trailing);
}

/** A value with only a trailing comment. */
export function trailing(value: Jsonc, comment: string): Commented {
  return new Commented(value, [], comment);
}

let noteSeq = 0;

/** A standalone comment. In an object, spread `noteEntry(...)` to get a unique key. */
export function note(...lines: string[]): Note {
  return new Note(lines);
}

/** `{ [unique key]: note }`, to spread into an object literal. */
export function noteEntry(...lines: string[]): Record<string, Note> {
  return { [`\u0000note${noteSeq++}`]: new Note(lines) };
}

const WIDTH = 100;

function hasComments(v: Jsonc): boolean {
  if (v instanceof Commented || v instanceof Note) return true;
  if (Array.isArray(v)) return v.some(hasComments);
  if (v !== null && typeof v === "object") return Object.values(v).some(hasComments);
  return false;
}

function unwrap(v: Jsonc): Jsonc {
  return v instanceof Commented ? v.value : v;
}

function inline(v: Jsonc): string {
  const u = unwrap(v);
  if (Array.isArray(u)) return u.length === 0 ? "[]" : `[${u.map(inline).join(", ")}]`;
  if (u !== null && typeof u === "object" && !(u instanceof Note)) {
    const entries = Object.entries(u);
    if (entries.length === 0) return "{}";
    return `{ ${entries.map(([k, x]) => `${JSON.stringify(k)}: ${inline(x)}`).join(", ")} }`;
  }
  return JSON.stringify(u);
}

function commentLines(lines: readonly string[], pad: string, out: string[]): void {
  for (const l of lines) {
    for (const part of l.split("\n")) out.push(part === "" ? `${pad}//` : `${pad}// ${part}`);
  }
}

/**
 * Writes `value` at indentation `depth`. `prefix` is what precedes it on its first line (the
 * key); returns the lines, the last one without its separator.
 */
function write(value: Jsonc, depth: number, prefix: string): string[] {
  const pad = "  ".repeat(depth);
  const v = unwrap(value);
  const isContainer = Array.isArray(v) || (v !== null && typeof v === "object");
  if (!isContainer || !hasComments(v)) {
    const one = `${pad}${prefix}${inline(v)}`;
    if (!isContainer || one.length <= WIDTH) return [one];
  }
  const out: string[] = [];
  const items: [string, Jsonc][] = Array.isArray(v)
    ? v.map((x) => ["", x])
    : Object.entries(v as Record<string, Jsonc>).map(([k, x]) => [JSON.stringify(k) + ": ", x]);
  const [open, close] = Array.isArray(v) ? ["[", "]"] : ["{", "}"];
  out.push(`${pad}${prefix}${open}`);
  const real = items.map(([, x]) => !(x instanceof Note));
  const lastReal = real.lastIndexOf(true);
  items.forEach(([key, x], i) => {
    const inner = "  ".repeat(depth + 1);
    if (x instanceof Note) {
      commentLines(x.lines, inner, out);
      return;
    }
    if (x instanceof Commented) commentLines(x.before, inner, out);
    const lines = write(x, depth + 1, key);
    const sep = i < lastReal ? "," : "";
    lines[lines.length - 1] += sep;
    if (x instanceof Commented && x.trailing !== "") lines[lines.length - 1] += ` // ${x.trailing}`;
    out.push(...lines);
  });
  out.push(`${pad}${close}`);
  return out;
}

/** Writes a whole document, with optional header comment lines, ending in a newline. */
export function writeJsonc(value: Jsonc, header: readonly string[] = []): string {
  const out: string[] = [];
  commentLines(header, "", out);
  if (value instanceof Commented) commentLines(value.before, "", out);
  out.push(...write(value, 0, ""));
  return out.join("\n") + "\n";
}

/** The plain JSON value of `value`: comments and notes removed. */
export function stripComments(value: Jsonc): unknown {
  const v = unwrap(value);
  if (Array.isArray(v)) return v.filter((x) => !(x instanceof Note)).map(stripComments);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, Jsonc>)) {
      if (!(x instanceof Note)) out[k] = stripComments(x);
    }
    return out;
  }
  return v;
}
