/**
 * `domain_regex`: Go RE2 expressions run as JavaScript `RegExp`s.
 *
 * sing-box compiles each entry with Go's `regexp.Compile` and calls `MatchString` (unanchored
 * search) on the lowercased name. JavaScript's `RegExp.test` without the `g`/`y` flags is the
 * same kind of search. Differences between the dialects and how they are handled here:
 *
 * - Leading inline flags `(?i)`, `(?s)`, `(?m)` (and combinations such as `(?is)`) are RE2 syntax
 *   that JavaScript rejects; they are turned into `RegExp` flags. Flags in the middle of an
 *   expression and `(?U)` are not supported and make the entry an error.
 * - `\A` and `\z` (RE2 text anchors) become `^` and `$` (equivalent without the `m` flag;
 *   with `(?m)` the conversion is refused).
 * - `(?P<name>...)` named groups become `(?<name>...)`.
 * - RE2 has no backreferences or lookaround; JavaScript accepts them, so an expression that Go
 *   would reject may compile here. RE2 runs in linear time; a JavaScript backtracking pattern
 *   can be slow on adversarial names (names are at most 253 characters, which bounds this).
 * - POSIX classes (`[[:alpha:]]`) and `\pN` Unicode classes are RE2-only; they fail to compile.
 *
 * @module
 */

/** Converts one RE2 expression to a `RegExp`; throws `SyntaxError` naming the expression. */
export function compileGoRegex(source: string): RegExp {
  let body = source;
  let flags = "";
  const lead = /^\(\?([imsU]+)\)/.exec(body);
  if (lead) {
    const f = lead[1]!;
    if (f.includes("U")) {
      throw new SyntaxError(`Cannot use domain_regex "${source}": the (?U) flag is not supported`);
    }
    for (const c of new Set(f)) flags += c;
    body = body.slice(lead[0].length);
  }
  if (/\(\?[imsU-]+[):]/.test(body)) {
    throw new SyntaxError(
      `Cannot use domain_regex "${source}": inline flags after the start are not supported`,
    );
  }
  body = translateEscapes(source, body, flags.includes("m"));
  try {
    return new RegExp(body, flags);
  } catch (e) {
    throw new SyntaxError(`Cannot compile domain_regex "${source}": ${(e as Error).message}`, {
      cause: e,
    });
  }
}

/** Rewrites `\A`, `\z` and `(?P<` outside escapes; keeps every other escape as written. */
function translateEscapes(source: string, body: string, multiline: boolean): string {
  let out = "";
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === "\\" && i + 1 < body.length) {
      const n = body[i + 1]!;
      i++;
      if (n === "A" || n === "z") {
        if (multiline) {
          throw new SyntaxError(`Cannot use domain_regex "${source}": \\${n} with (?m)`);
        }
        out += n === "A" ? "^" : "$";
      } else out += c + n;
      continue;
    }
    if (c === "(" && body.startsWith("(?P<", i)) {
      out += "(?<";
      i += 3;
      continue;
    }
    out += c;
  }
  return out;
}

/** A list of compiled expressions; matches when any matches. */
export class DomainRegexes {
  readonly #res: readonly RegExp[];

  constructor(sources: readonly string[]) {
    this.#res = sources.map(compileGoRegex);
  }

  /** True when `name` (already lowercased) matches an expression. */
  match(name: string): boolean {
    for (const re of this.#res) if (re.test(name)) return true;
    return false;
  }
}
