/**
 * Just enough C to read the quoted xnu header text the proof table checks: a constant-expression
 * evaluator that expands the header's own macros (object- and function-like), `sizeof`, casts
 * and character literals; the `#if`/`#ifdef`/`#else` lines inside a struct; and a struct/union
 * parser with the LP64 layout rules (natural alignment, `#pragma pack(n)` capping it, unions
 * sized by their largest member, the size rounded to the alignment).
 *
 * Base C types on LP64 Darwin (arm64 AAPCS64 and x86_64 System V agree): char 1, short 2, int 4,
 * long 8, long long 8, pointers 8. Everything else comes from the quoted typedefs.
 *
 * @module
 */

/** A macro: `params` is undefined for object-like macros. */
export interface Macro {
  params?: string[];
  body: string;
}

/** What the evaluator and the layout need to look up. */
export interface Env {
  macros: Map<string, Macro>;
  /** Struct or union text by tag (`struct X { ... }` as quoted), with its `#pragma pack`. */
  structs: Map<string, { text: string; pack: number | null }>;
  /** typedef name → the type text it stands for. */
  typedefs: Map<string, string>;
  /** Macros `defined()` sees inside structs (userland, LP64). */
  defined: Set<string>;
}

const BASE: Record<string, number> = {
  "char": 1,
  "signed char": 1,
  "unsigned char": 1,
  "short": 2,
  "unsigned short": 2,
  "int": 4,
  "unsigned int": 4,
  "unsigned": 4,
  "long": 8,
  "unsigned long": 8,
  "long long": 8,
  "unsigned long long": 8,
  // C99 <stdint.h> exact-width types (rtsock.c's ROUNDUP32 uses sizeof (uint32_t)).
  "uint8_t": 1,
  "uint16_t": 2,
  "uint32_t": 4,
  "uint64_t": 8,
};

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

type Tok =
  | { t: "num"; v: bigint }
  | { t: "str"; v: string }
  | { t: "id"; v: string }
  | { t: "op"; v: string };

const OPS = ["<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "->", ...`()[]{},;?:+-*/%&|^~!<>=.#`];

/** Tokenizes C text (comments removed, line continuations joined). */
export function tokenize(src: string): Tok[] {
  const text = src.replace(/\\\n/g, " ").replace(/\/\*[\s\S]*?\*\//g, " ").replace(/\/\/.*$/gm, "");
  const out: Tok[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const rest = text.slice(i);
    let m: RegExpExecArray | null;
    let len: number;
    if ((m = /^0[xX][0-9a-fA-F]+[uUlL]*/.exec(rest))) {
      out.push({ t: "num", v: BigInt(m[0].replace(/[uUlL]+$/, "")) });
      len = m[0].length;
    } else if ((m = /^[0-9]+[uUlL]*/.exec(rest))) {
      const digits = m[0].replace(/[uUlL]+$/, "");
      const octal = digits.length > 1 && digits[0] === "0";
      out.push({ t: "num", v: BigInt(octal ? `0o${digits.slice(1)}` : digits) });
      len = m[0].length;
    } else if ((m = /^'([^'\\])'/.exec(rest))) {
      out.push({ t: "num", v: BigInt(m[1]!.charCodeAt(0)) });
      len = m[0].length;
    } else if ((m = /^"((?:\\.|[^"\\])*)"/.exec(rest))) {
      out.push({ t: "str", v: m[1]! });
      len = m[0].length;
    } else if ((m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest))) {
      out.push({ t: "id", v: m[0] });
      len = m[0].length;
    } else {
      const op = OPS.find((o) => rest.startsWith(o));
      if (!op) throw new SyntaxError(`unexpected "${c}" in C text: ${src}`);
      out.push({ t: "op", v: op });
      len = op.length;
    }
    i += len;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Macro expansion
// ---------------------------------------------------------------------------------------------

/** Splits `(a, (b, c), d)` starting at `toks[i]` === "(" into argument token lists. */
function readArgs(toks: Tok[], i: number): { args: Tok[][]; end: number } {
  const args: Tok[][] = [[]];
  let depth = 0;
  for (let j = i; j < toks.length; j++) {
    const k = toks[j]!;
    if (k.t === "op" && k.v === "(") {
      if (depth++ === 0) continue;
    } else if (k.t === "op" && k.v === ")") {
      if (--depth === 0) {
        return { args: args[0]!.length === 0 && args.length === 1 ? [] : args, end: j };
      }
    } else if (k.t === "op" && k.v === "," && depth === 1) {
      args.push([]);
      continue;
    }
    args[args.length - 1]!.push(k);
  }
  throw new SyntaxError("unbalanced parentheses in macro arguments");
}

/** Expands macros in `toks` (no `#`/`##`; `defined X` left alone for #if). */
export function expand(toks: Tok[], env: Env, hide = new Set<string>()): Tok[] {
  const out: Tok[] = [];
  for (let i = 0; i < toks.length; i++) {
    const k = toks[i]!;
    if (k.t === "id" && k.v === "defined") {
      // Copy `defined X` / `defined(X)` through unexpanded.
      out.push(k);
      const next = toks[i + 1];
      if (next?.t === "op" && next.v === "(") {
        out.push(next, toks[i + 2]!, toks[i + 3]!);
        i += 3;
      } else if (next) {
        out.push(next);
        i++;
      }
      continue;
    }
    const m = k.t === "id" && !hide.has(k.v) ? env.macros.get(k.v) : undefined;
    if (!m) {
      out.push(k);
      continue;
    }
    const inner = new Set(hide).add(k.v as string);
    if (m.params === undefined) {
      out.push(...expand(tokenize(m.body), env, inner));
      continue;
    }
    const open = toks[i + 1];
    if (open?.t !== "op" || open.v !== "(") {
      out.push(k);
      continue;
    }
    const { args, end } = readArgs(toks, i + 1);
    if (args.length !== m.params.length) {
      throw new SyntaxError(`macro ${k.v} takes ${m.params.length} arguments, got ${args.length}`);
    }
    const expandedArgs = args.map((a) => expand(a, env, hide));
    const body: Tok[] = [];
    for (const b of tokenize(m.body)) {
      const p = b.t === "id" ? m.params.indexOf(b.v) : -1;
      if (p >= 0) body.push(...expandedArgs[p]!);
      else body.push(b);
    }
    out.push(...expand(body, env, inner));
    i = end;
  }
  return out;
}

/** Parses `#define NAME body` / `#define NAME(a, b) body` (continuations allowed). */
export function parseDefine(text: string): { name: string; macro: Macro } {
  // A comment may run past the quoted line (RTM_LOSING's does): drop it to the end.
  const joined = text.replace(/\\\n/g, " ").replace(/\/\*[\s\S]*?(\*\/|$)/g, " ")
    .replace(/\/\/.*$/gm, "");
  const m = /^\s*#\s*define\s+([A-Za-z_][A-Za-z0-9_]*)(\(([^)]*)\))?\s*(.*)$/s.exec(joined);
  if (!m) throw new SyntaxError(`not a #define: ${text}`);
  const params = m[2] === undefined
    ? undefined
    : m[3]!.split(",").map((p) => p.trim()).filter(Boolean);
  return {
    name: m[1]!,
    macro: params === undefined ? { body: m[4]!.trim() } : { params, body: m[4]!.trim() },
  };
}

// ---------------------------------------------------------------------------------------------
// Constant expressions
// ---------------------------------------------------------------------------------------------

/** The bit width and signedness of a scalar type name (after typedefs), or null. */
function scalarType(name: string, env: Env): { bits: number; signed: boolean } | null {
  let t = name.trim().replace(/\s+/g, " ");
  for (let n = 0; n < 20 && env.typedefs.has(t); n++) {
    t = env.typedefs.get(t)!.trim().replace(/\s+/g, " ");
  }
  if (t.endsWith("*")) return { bits: 64, signed: false };
  const size = BASE[t];
  if (size === undefined) return null;
  return { bits: size * 8, signed: !t.startsWith("unsigned") };
}

/**
 * Evaluates a C constant expression (after macro expansion) to a bigint, or a string for a
 * string literal. `sizeof(T)` uses {@linkcode sizeOf}.
 */
export function evaluate(src: string | Tok[], env: Env, inIf = false): bigint | string {
  const toks = expand(typeof src === "string" ? tokenize(src) : src, env);
  if (toks.length === 1 && toks[0]!.t === "str") return toks[0]!.v;
  let pos = 0;
  const peek = () => toks[pos];
  const isOp = (v: string) => {
    const k = peek();
    return k?.t === "op" && k.v === v;
  };
  const expect = (v: string) => {
    if (!isOp(v)) throw new SyntaxError(`expected "${v}" in ${render(toks)}`);
    pos++;
  };
  /** Reads a type name between parentheses already opened; null when it is not a type. */
  const typeName = (): string | null => {
    const start = pos;
    const words: string[] = [];
    while (peek()?.t === "id" || isOp("*")) words.push(toks[pos++]!.v as string);
    if (!isOp(")") || words.length === 0) {
      pos = start;
      return null;
    }
    const text = words.join(" ");
    if (text.startsWith("struct ") || text.startsWith("union ") || scalarType(text, env)) {
      return text;
    }
    pos = start;
    return null;
  };
  const primary = (): bigint => {
    const k = toks[pos++];
    if (!k) throw new SyntaxError(`unexpected end of ${render(toks)}`);
    if (k.t === "num") return k.v;
    if (k.t === "id" && k.v === "sizeof") {
      expect("(");
      const t = typeName();
      if (t === null) throw new SyntaxError(`sizeof of a non-type in ${render(toks)}`);
      expect(")");
      return BigInt(sizeOf(t, env));
    }
    if (k.t === "id" && k.v === "defined") {
      const paren = isOp("(");
      if (paren) pos++;
      const name = toks[pos++]!;
      if (paren) expect(")");
      return env.defined.has(name.v as string) || env.macros.has(name.v as string) ? 1n : 0n;
    }
    if (k.t === "id" && inIf) return 0n; // #if: an unknown identifier is 0
    if (k.t === "id") throw new ReferenceError(`"${k.v}" is not a quoted macro (${render(toks)})`);
    if (k.t === "op" && k.v === "(") {
      const t = typeName();
      if (t !== null) {
        expect(")");
        const v = unary();
        const s = scalarType(t, env);
        if (!s) return v;
        const mask = (1n << BigInt(s.bits)) - 1n;
        const u = v & mask;
        return s.signed && u >> BigInt(s.bits - 1) ? u - (1n << BigInt(s.bits)) : u;
      }
      const v = ternary();
      expect(")");
      return v;
    }
    throw new SyntaxError(`unexpected "${k.v}" in ${render(toks)}`);
  };
  const unary = (): bigint => {
    if (isOp("-")) return pos++, -unary();
    if (isOp("+")) return pos++, unary();
    if (isOp("~")) return pos++, ~unary();
    if (isOp("!")) return pos++, unary() === 0n ? 1n : 0n;
    return primary();
  };
  const LEVELS: string[][] = [
    ["||"],
    ["&&"],
    ["|"],
    ["^"],
    ["&"],
    ["==", "!="],
    ["<", ">", "<=", ">="],
    ["<<", ">>"],
    ["+", "-"],
    ["*", "/", "%"],
  ];
  const binary = (level: number): bigint => {
    if (level === LEVELS.length) return unary();
    let left = binary(level + 1);
    for (;;) {
      const k = peek();
      if (k?.t !== "op" || !LEVELS[level]!.includes(k.v)) return left;
      pos++;
      const right = binary(level + 1);
      left = apply(k.v, left, right);
    }
  };
  const ternary = (): bigint => {
    const c = binary(0);
    if (!isOp("?")) return c;
    pos++;
    const a = ternary();
    expect(":");
    const b = ternary();
    return c !== 0n ? a : b;
  };
  const v = ternary();
  if (pos !== toks.length) throw new SyntaxError(`trailing tokens in ${render(toks)}`);
  return v;
}

function apply(op: string, a: bigint, b: bigint): bigint {
  switch (op) {
    case "||":
      return a !== 0n || b !== 0n ? 1n : 0n;
    case "&&":
      return a !== 0n && b !== 0n ? 1n : 0n;
    case "|":
      return a | b;
    case "^":
      return a ^ b;
    case "&":
      return a & b;
    case "==":
      return a === b ? 1n : 0n;
    case "!=":
      return a !== b ? 1n : 0n;
    case "<":
      return a < b ? 1n : 0n;
    case ">":
      return a > b ? 1n : 0n;
    case "<=":
      return a <= b ? 1n : 0n;
    case ">=":
      return a >= b ? 1n : 0n;
    case "<<":
      return a << b;
    case ">>":
      return a >> b;
    case "+":
      return a + b;
    case "-":
      return a - b;
    case "*":
      return a * b;
    case "/":
      return a / b;
    case "%":
      return a % b;
  }
  throw new SyntaxError(`operator ${op}`);
}

function render(toks: Tok[]): string {
  return toks.map((k) => (k.t === "str" ? JSON.stringify(k.v) : String(k.v))).join(" ");
}

// ---------------------------------------------------------------------------------------------
// Conditionals inside quoted text
// ---------------------------------------------------------------------------------------------

/**
 * The lines of `text` that are compiled for a userland LP64 build: `#if`, `#ifdef`, `#ifndef`,
 * `#elif`, `#else`, `#endif` evaluated with `env.defined`; other directives dropped.
 */
export function activeLines(text: string, env: Env): string[] {
  const out: string[] = [];
  const stack: { on: boolean; taken: boolean; parent: boolean }[] = [];
  const on = () => stack.every((s) => s.on);
  for (const raw of text.replace(/\\\n/g, " ").split("\n")) {
    const m = /^\s*#\s*(\w+)\s*(.*)$/.exec(raw);
    if (!m) {
      if (on()) out.push(raw);
      continue;
    }
    const [, dir, rest] = m;
    const cond = (expr: string) => evaluate(expr.replace(/\/\*.*?\*\//g, ""), env, true) !== 0n;
    switch (dir) {
      case "if": {
        const parent = on();
        const c = parent && cond(rest!);
        stack.push({ on: c, taken: c, parent });
        break;
      }
      case "ifdef":
      case "ifndef": {
        const parent = on();
        const name = rest!.trim().split(/\s/)[0]!;
        const isDef = env.defined.has(name) || env.macros.has(name);
        const c = parent && (dir === "ifdef" ? isDef : !isDef);
        stack.push({ on: c, taken: c, parent });
        break;
      }
      case "elif": {
        const top = stack[stack.length - 1]!;
        const c = top.parent && !top.taken && cond(rest!);
        top.on = c;
        top.taken ||= c;
        break;
      }
      case "else": {
        const top = stack[stack.length - 1]!;
        top.on = top.parent && !top.taken;
        top.taken = true;
        break;
      }
      case "endif":
        stack.pop();
        break;
      default:
        break; // #define, #pragma, #include inside a struct: not part of its layout
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Struct layout
// ---------------------------------------------------------------------------------------------

/** Size, alignment and the offset of each top-level member. */
export interface Layout {
  size: number;
  align: number;
  fields: Map<string, number>;
}

const layoutCache = new WeakMap<Env, Map<string, Layout>>();

/** `sizeof` of a type name: a base type, a typedef, a pointer, or `struct X` / `union X`. */
export function sizeOf(type: string, env: Env): number {
  return typeLayout(type, env).size;
}

function typeLayout(type: string, env: Env): { size: number; align: number } {
  const t = type.trim().replace(/\s+/g, " ");
  if (t.endsWith("*")) return { size: 8, align: 8 };
  const tag = /^(struct|union) (\w+)$/.exec(t);
  if (tag) return structLayout(tag[2]!, env);
  const s = scalarType(t, env);
  if (s) return { size: s.bits / 8, align: s.bits / 8 };
  const def = env.typedefs.get(t);
  if (def) return typeLayout(def, env);
  throw new TypeError(`unknown C type "${t}"`);
}

/** The layout of the struct or union quoted under `tag` (with its `#pragma pack`). */
export function structLayout(tag: string, env: Env): Layout {
  let cache = layoutCache.get(env);
  if (!cache) layoutCache.set(env, cache = new Map());
  const hit = cache.get(tag);
  if (hit) return hit;
  const quoted = env.structs.get(tag);
  if (!quoted) throw new TypeError(`struct ${tag} is not quoted`);
  const toks = expand(tokenize(activeLines(quoted.text, env).join("\n")), env);
  // Skip `typedef`, then `struct|union TAG {`.
  let pos = 0;
  if (toks[pos]?.v === "typedef") pos++;
  const kind = toks[pos++]!.v as string;
  if (kind !== "struct" && kind !== "union") {
    throw new SyntaxError(`struct ${tag}: starts with ${kind}`);
  }
  if (toks[pos]?.t === "id") pos++;
  const { layout } = parseBody(toks, pos, kind === "union", quoted.pack, env);
  cache.set(tag, layout);
  return layout;
}

/** Parses `{ members }` at `toks[pos]`; returns the layout and the index after `}`. */
function parseBody(
  toks: Tok[],
  pos: number,
  union: boolean,
  pack: number | null,
  env: Env,
): { layout: Layout; end: number } {
  if (toks[pos]?.v !== "{") throw new SyntaxError(`expected "{", got ${toks[pos]?.v}`);
  pos++;
  const fields = new Map<string, number>();
  let offset = 0, size = 0, align = 1;
  const place = (name: string, s: number, a: number) => {
    const eff = pack === null ? a : Math.min(a, pack);
    align = Math.max(align, eff);
    if (union) {
      fields.set(name, 0);
      size = Math.max(size, s);
    } else {
      offset = Math.ceil(offset / eff) * eff;
      fields.set(name, offset);
      offset += s;
      size = offset;
    }
  };
  while (toks[pos]?.v !== "}") {
    let memberType: () => { size: number; align: number };
    const k = toks[pos]!;
    if (k.v === "struct" || k.v === "union") {
      const inner = toks[pos + 1]?.v === "{" ? null : toks[pos + 1]!.v as string;
      const braceAt = inner === null ? pos + 1 : pos + 2;
      if (toks[braceAt]?.v === "{") {
        const r = parseBody(toks, braceAt, k.v === "union", pack, env);
        memberType = () => r.layout;
        pos = r.end;
      } else {
        memberType = () => typeLayout(`${k.v} ${inner}`, env);
        pos += 2;
      }
    } else {
      const words: string[] = [];
      while (
        toks[pos]?.t === "id" &&
        (words.length === 0 || isTypeWord(words, toks[pos]!.v as string, toks[pos + 1], env))
      ) {
        words.push(toks[pos++]!.v as string);
      }
      const typeText = words.join(" ");
      memberType = () => typeLayout(typeText, env);
    }
    // Declarators: `*name[N][M], name2;`
    for (;;) {
      let ptr = false;
      while (toks[pos]?.v === "*") {
        ptr = true;
        pos++;
      }
      const name = toks[pos++]!;
      if (name.t !== "id") throw new SyntaxError(`expected a member name, got ${name.v}`);
      let count = 1;
      while (toks[pos]?.v === "[") {
        let close = pos + 1;
        while (toks[close]?.v !== "]") close++;
        count *= Number(evaluate(toks.slice(pos + 1, close), env));
        pos = close + 1;
      }
      const t = ptr ? { size: 8, align: 8 } : memberType();
      place(name.v, t.size * count, t.align);
      if (toks[pos]?.v === ",") {
        pos++;
        continue;
      }
      if (toks[pos]?.v !== ";") {
        throw new SyntaxError(`expected ";" after ${name.v}, got ${toks[pos]?.v}`);
      }
      pos++;
      break;
    }
  }
  size = Math.ceil(size / align) * align;
  return { layout: { size, align, fields }, end: pos + 1 };
}

/** Whether `next` continues the type name in `words` (e.g. `unsigned` + `short`). */
function isTypeWord(words: string[], word: string, after: Tok | undefined, env: Env): boolean {
  const candidate = [...words, word].join(" ");
  if (after?.t !== "id" && after?.v !== "*") return false; // `word` is the member name
  return BASE[candidate] !== undefined || env.typedefs.has(candidate) ||
    ["unsigned", "signed", "short", "long", "int", "char"].includes(word);
}
