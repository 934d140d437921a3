/**
 * Copies the lines the proof table (`_proof_table.ts`) needs out of git checkouts of Apple's
 * xnu, configd, CF and Libinfo into `_apple_excerpts.ts`, with their line numbers, so the proof tests run
 * without the sources and still name the exact line they check. Re-run it to move to newer
 * releases:
 *
 *     deno run -A tests/ffi/darwin/_gen_excerpts.ts [xnu.git configd.git CF.git Libinfo.git]
 *
 * (default: the mirrors `fetch github:apple-oss-distributions/<name>` leaves under
 * /work/.mirror). `proof_table_test.ts` checks, when the checkouts are at hand, that every
 * excerpt is still the source's text.
 *
 * @module
 */

import {
  CONFIGD_TEXT_ROWS,
  CONSTANT_ROWS,
  ENUM_ROWS,
  HELPER_DEFINES,
  HELPER_STRUCTS,
  OTHER_STRUCT_ROWS,
  type Repo,
  REPO_NAMES,
  STRING_ROWS,
  STRUCT_ROWS,
  TEXT_ROWS,
  TYPEDEFS,
} from "./_proof_table.ts";
import type { Excerpt, Source } from "./_apple_excerpts.ts";

const mirror = (name: string) => `/work/.mirror/apple-oss-distributions+${name}/repo`;
const dirs: Record<Repo, string> = {
  xnu: Deno.args[0] ?? mirror("xnu"),
  configd: Deno.args[1] ?? mirror("configd"),
  CF: Deno.args[2] ?? mirror("CF"),
  Libinfo: Deno.args[3] ?? mirror("Libinfo"),
};

function git(repo: Repo, ...args: string[]): string {
  const out = new Deno.Command("git", { args: ["-C", dirs[repo], ...args] }).outputSync();
  if (!out.success) {
    throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

const sources = {} as Record<Repo, Source>;
for (const r of Object.keys(dirs) as Repo[]) {
  const commit = git(r, "rev-parse", "HEAD").trim();
  const tag = git(r, "describe", "--tags", "--always", commit).trim();
  sources[r] = { repository: REPO_NAMES[r], tag, commit };
}
/** The repository the next lookups read. */
let repo: Repo = "xnu";
const files = new Map<string, string[]>();
function lines(header: string): string[] {
  const key = `${repo}:${header}`;
  let l = files.get(key);
  if (!l) {
    l = git(repo, "show", `${sources[repo].commit}:${header}`).split("\n");
    files.set(key, l);
  }
  return l;
}

const out: Excerpt[] = [];
const seen = new Set<string>();
function push(e: Omit<Excerpt, "repo">): void {
  const key = `${repo} ${e.kind} ${e.kind === "pack" ? e.name : ""} ${e.header}:${e.line}`;
  if (seen.has(key)) return;
  seen.add(key);
  out.push({ repo, ...e });
}

/** The `nth` `#define name` of `header`, with its continuation lines. */
function define(name: string, header: string, nth = 0): void {
  const l = lines(header);
  const re = new RegExp(`^\\s*#\\s*define\\s+${name}(?![A-Za-z0-9_])`);
  let count = 0;
  for (let i = 0; i < l.length; i++) {
    if (!re.test(l[i]!)) continue;
    if (count++ !== nth) continue;
    const text = [l[i]!];
    for (let j = i; l[j]!.trimEnd().endsWith("\\"); j++) text.push(l[j + 1]!);
    push({ kind: "define", name, header, line: i + 1, text: text.join("\n") });
    return;
  }
  throw new Error(`#define ${name} (#${nth}) not found in ${header}`);
}

/** `struct name { ... };` of `header`, and the `#pragma pack` in force where it starts. */
function struct(name: string, header: string): void {
  const l = lines(header);
  const start = l.findIndex((t) =>
    new RegExp(`^\\s*(typedef\\s+)?struct\\s+${name}\\s*\\{`).test(t) ||
    (name === "timeval32" && /^_STRUCT_TIMEVAL32\s*$/.test(t))
  );
  if (start < 0) throw new Error(`struct ${name} not found in ${header}`);
  let depth = 0, end = start;
  for (let i = start; i < l.length; i++) {
    for (const ch of l[i]!.replace(/\/\*.*?\*\/|\/\/.*$/g, "")) {
      if (ch === "{") depth++;
      if (ch === "}") depth--;
    }
    if (depth === 0 && l[i]!.includes("}")) {
      end = i;
      break;
    }
  }
  for (let i = start - 1; i >= 0; i--) {
    if (/^\s*#\s*pragma\s+pack\s*\(/.test(l[i]!)) {
      push({ kind: "pack", name, header, line: i + 1, text: l[i]! });
      break;
    }
  }
  push({ kind: "struct", name, header, line: start + 1, text: l.slice(start, end + 1).join("\n") });
}

function typedef(name: string, header: string): void {
  const l = lines(header);
  const i = l.findIndex((t) => new RegExp(`^\\s*typedef\\s.*\\b${name}\\s*;`).test(t));
  if (i < 0) throw new Error(`typedef ${name} not found in ${header}`);
  push({ kind: "typedef", name, header, line: i + 1, text: l[i]! });
}

function text(contains: string, header: string): void {
  const l = lines(header);
  const i = l.findIndex((t) => t.includes(contains));
  if (i < 0) throw new Error(`"${contains}" not found in ${header}`);
  push({ kind: "text", name: contains, header, line: i + 1, text: l[i]! });
}

/** The first line of `header` matching `re` (for enum constants and string constants). */
function matching(kind: "enum" | "string", name: string, header: string, re: RegExp): void {
  const l = lines(header);
  const i = l.findIndex((t) => re.test(t));
  if (i < 0) throw new Error(`${kind} ${name} not found in ${header}`);
  push({ kind, name, header, line: i + 1, text: l[i]! });
}

repo = "xnu";
for (const r of CONSTANT_ROWS) define(r.macro, r.header, r.nth ?? 0);
for (const d of HELPER_DEFINES) define(d.macro, d.header);
for (const s of [...STRUCT_ROWS, ...HELPER_STRUCTS]) struct(s.struct, s.header);
for (const t of TYPEDEFS) typedef(t.name, t.header);
for (const t of TEXT_ROWS) text(t.contains, t.header);
for (const r of ENUM_ROWS) {
  repo = r.repo;
  matching("enum", r.name, r.header, new RegExp(`^\\s*${r.name}\\s*=`));
}
for (const r of STRING_ROWS) {
  repo = r.repo;
  matching("string", r.name, r.header, new RegExp(`\\b${r.name}\\b[^"]*"`));
}
for (const t of CONFIGD_TEXT_ROWS) {
  repo = t.repo;
  text(t.contains, t.header);
}
for (const r of OTHER_STRUCT_ROWS) {
  repo = r.repo;
  struct(r.struct, r.header);
}

out.sort((a, b) =>
  a.repo.localeCompare(b.repo) || a.header.localeCompare(b.header) || a.line - b.line
);
const tags = Object.values(sources).map((s) => `${s.tag} (${s.commit.slice(0, 12)})`).join(", ");
const body = `// Generated by _gen_excerpts.ts from ${tags}; do not edit.
// Lines of Apple's open-source xnu, configd, CF and Libinfo quoted as evidence for the proof table.

/** Where a quote comes from. */
export interface Source {
  repository: string;
  tag: string;
  commit: string;
}

/** One quoted piece of a source file: its kind, what it defines, where it is, its text. */
export interface Excerpt {
  repo: "xnu" | "configd" | "CF" | "Libinfo";
  kind: "define" | "struct" | "pack" | "typedef" | "text" | "enum" | "string";
  name: string;
  header: string;
  /** 1-based line of the first line of \`text\`. */
  line: number;
  text: string;
}

/** The revision of each repository the excerpts come from. */
export const SOURCES: Record<Excerpt["repo"], Source> = ${JSON.stringify(sources, null, 2)};

/** The xnu revision (most rows quote xnu). */
export const XNU: Source = SOURCES.xnu;

export const EXCERPTS: readonly Excerpt[] = ${JSON.stringify(out, null, 2)};
`;
const target = new URL("./_apple_excerpts.ts", import.meta.url);
Deno.writeTextFileSync(target, body);
new Deno.Command("deno", { args: ["fmt", target.pathname] }).outputSync();
console.log(
  `${out.length} excerpts from ${files.size} files of ${tags} written to ${target.pathname}`,
);
