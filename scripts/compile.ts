/**
 * `deno task compile`: builds the release binaries with `deno compile` into `dist/`:
 * `dist/tunbox-<target>[.exe]` for each of {@linkcode TARGETS}, then `dist/SHA256SUMS`.
 *
 * ```sh
 * deno task compile                                   # all five targets
 * deno task compile --target x86_64-unknown-linux-gnu # one target (repeatable)
 * deno task compile --dry-run                         # print the command lines only
 * ```
 *
 * The binaries get explicit permissions ({@linkcode RUN_PERMISSIONS}, never `-A`) and every
 * module that is loaded at run time rather than imported statically (Worker entries, computed
 * dynamic imports) as `--include`. That list is derived from the source by
 * {@linkcode scanDynamicLoads}: a `new URL("./x.ts", import.meta.url)` or a literal `import()`
 * is included; an `import(expr)` or `new Worker(expr)` whose module the scan cannot see must be
 * accounted for in {@linkcode INDIRECT_LOADS}, or the build stops.
 *
 * `deno compile` downloads its runtime (`denort`) for each target from dl.deno.land. Where that
 * fails, the script prints one line saying so and exits 1.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { RUN_PERMISSIONS } from "../src/service/permissions.ts";

/** The repository root (where `deno.json` is). */
export const ROOT: string = new URL("../", import.meta.url).pathname;

/** One `deno compile --target`. */
export interface CompileTarget {
  /** The Rust target triple `deno compile --target` takes. */
  triple: string;
  /** Release archive naming: `tunbox-<version>-<os>-<arch>`. */
  os: "linux" | "darwin" | "windows";
  arch: "x86_64" | "aarch64";
}

/** Every release target, in build order. */
export const TARGETS: readonly CompileTarget[] = [
  { triple: "x86_64-unknown-linux-gnu", os: "linux", arch: "x86_64" },
  { triple: "aarch64-unknown-linux-gnu", os: "linux", arch: "aarch64" },
  { triple: "x86_64-apple-darwin", os: "darwin", arch: "x86_64" },
  { triple: "aarch64-apple-darwin", os: "darwin", arch: "aarch64" },
  { triple: "x86_64-pc-windows-msvc", os: "windows", arch: "x86_64" },
];

/** The binary's file name for `target`: `tunbox-<triple>`, with `.exe` on Windows. */
export function binaryName(target: CompileTarget): string {
  return `tunbox-${target.triple}${target.os === "windows" ? ".exe" : ""}`;
}

/** Directories (and files) scanned for run-time module loads, relative to the root. */
export const SCAN_ROOTS: readonly string[] = ["main.ts", "src", "ffi"];

/**
 * Run-time loads whose module the scan cannot see, by file: each names where the module URL
 * really comes from (that place is scanned and included). A new such site anywhere else stops
 * the build until it is added here, so a new Worker file cannot be forgotten.
 */
export const INDIRECT_LOADS: Readonly<Record<string, string>> = {
  "src/worker/pool.ts":
    'new Worker(entry): callers pass new URL("./entry.ts" or "./worker/entry.ts", import.meta.url) (src/worker/tun_inbound.ts, src/box.ts)',
  "src/cli/cleanup.ts":
    'import(moduleUrl): the default is new URL("../tun/setup.ts", import.meta.url) in the same file',
};

/** One place in the source that loads code at run time. */
export interface LoadSite {
  /** File relative to the root, with `/` separators. */
  file: string;
  line: number;
  /** What the scan found there, e.g. `import("./linux/platform.ts")`. */
  text: string;
}

/** What {@linkcode scanDynamicLoads} found. */
export interface LoadScan {
  /** Files to `--include`, relative to the root, sorted. */
  includes: string[];
  /** Sites with a module the scan resolved (one per include reference). */
  resolved: (LoadSite & { target: string })[];
  /** `import(expr)` / `new Worker(expr)` sites the scan cannot resolve. */
  indirect: LoadSite[];
  /** Problems: unaccounted indirect sites, stale {@linkcode INDIRECT_LOADS} entries, missing files. */
  problems: string[];
}

/**
 * Blanks out `//` and `/* *\/` comments (keeping line breaks, so positions stay valid) while
 * leaving string literals intact, or with `blankStrings` blanking their contents too (quotes
 * kept). A quote that is not closed on its line is taken as part of a regular expression, not
 * as the start of a string.
 */
export function stripComments(source: string, blankStrings = false): string {
  let out = "";
  let i = 0;
  const n = source.length;
  while (i < n) {
    const c = source[i]!;
    const next = source[i + 1];
    if (c === "/" && next === "/") {
      while (i < n && source[i] !== "\n") {
        out += " ";
        i++;
      }
      continue;
    }
    if (c === "/" && next === "*") {
      const end = source.indexOf("*/", i + 2);
      const stop = end < 0 ? n : end + 2;
      out += source.slice(i, stop).replace(/[^\n]/g, " ");
      i = stop;
      continue;
    }
    if (c === '"' || c === "'" || c === "`") {
      let j = i + 1;
      while (j < n && source[j] !== c && (c === "`" || source[j] !== "\n")) {
        j += source[j] === "\\" ? 2 : 1;
      }
      if (j < n && source[j] === c) {
        const literal = source.slice(i, j + 1);
        out += blankStrings ? c + literal.slice(1, -1).replace(/[^\n]/g, " ") + c : literal;
        i = j + 1;
        continue;
      }
    }
    out += c;
    i++;
  }
  return out;
}

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Resolves `specifier` relative to `file` (both relative to the root); `/` separators. */
function resolveRelative(file: string, specifier: string): string {
  const base = new URL(file, "file:///r/");
  const url = new URL(specifier, base);
  return decodeURIComponent(url.pathname.slice("/r/".length));
}

async function listSources(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string) => {
    const info = await Deno.stat(root + rel);
    if (info.isFile) {
      if (/\.(ts|tsx|js|mjs)$/.test(rel)) out.push(rel);
      return;
    }
    const names: string[] = [];
    for await (const e of Deno.readDir(root + rel)) names.push(e.name);
    for (const name of names.sort()) await walk(`${rel}/${name}`);
  };
  for (const r of SCAN_ROOTS) await walk(r);
  return out;
}

const URL_REF =
  /\bnew\s+URL\(\s*(["'`])(\.{1,2}\/[^"'`$]+)\1\s*,\s*import\.meta\.url\s*\)|\bimport\.meta\.resolve\(\s*(["'`])(\.{1,2}\/[^"'`$]+)\3\s*\)/g;
const LITERAL_IMPORT = /\bimport\s*\(\s*(["'`])([^"'`$]+)\1\s*\)(\s*\.\s*([A-Za-z_$][\w$]*))?/g;
const OTHER_IMPORT = /\bimport\s*\(\s*(?!["'`][^"'`$]*["'`]\s*\))/g;
const WORKER = /\bnew\s+Worker\s*\(\s*(?!new\s+URL\(\s*["'`])/g;

/**
 * Scans the sources under {@linkcode SCAN_ROOTS} for modules loaded at run time and returns
 * what `deno compile` must `--include`, the sites it cannot resolve, and any problem (an
 * unaccounted site, a stale {@linkcode INDIRECT_LOADS} entry, a referenced file that does not
 * exist).
 */
export async function scanDynamicLoads(
  root: string = ROOT,
  indirectLoads: Readonly<Record<string, string>> = INDIRECT_LOADS,
): Promise<LoadScan> {
  const includes = new Set<string>();
  const resolved: LoadScan["resolved"] = [];
  const indirect: LoadSite[] = [];
  const problems: string[] = [];
  for (const file of await listSources(root)) {
    const raw = await Deno.readTextFile(root + file);
    const text = stripComments(raw);
    // The same text with string contents blanked: a match that starts inside a string is not code.
    const bare = stripComments(raw, true);
    const add = (index: number, found: string, specifier: string) => {
      if (bare[index] !== text[index]) return;
      const target = resolveRelative(file, specifier);
      resolved.push({ file, line: lineOf(text, index), text: found, target });
      includes.add(target);
    };
    for (const m of text.matchAll(URL_REF)) add(m.index, m[0], (m[2] ?? m[4])!);
    for (const m of text.matchAll(LITERAL_IMPORT)) {
      const member = m[4];
      // `import("./types.ts").Name` in a type position is not a load.
      if (member !== undefined && !["then", "catch", "finally"].includes(member)) continue;
      const specifier = m[2]!;
      if (!specifier.startsWith("./") && !specifier.startsWith("../")) continue;
      add(m.index, m[0].replace(/\s*\.\s*[\w$]+$/, ""), specifier);
    }
    for (const m of bare.matchAll(OTHER_IMPORT)) {
      const end = text.indexOf(")", m.index);
      indirect.push({ file, line: lineOf(text, m.index), text: text.slice(m.index, end + 1) });
    }
    for (const m of bare.matchAll(WORKER)) {
      const end = text.indexOf(",", m.index);
      indirect.push({ file, line: lineOf(text, m.index), text: `${text.slice(m.index, end)}, …)` });
    }
  }
  for (const site of indirect) {
    if (!(site.file in indirectLoads)) {
      problems.push(
        `${site.file}:${site.line}: ${site.text} loads a module this script cannot see; load it ` +
          `through new URL("./file.ts", import.meta.url) or account for it in INDIRECT_LOADS ` +
          `(scripts/compile.ts)`,
      );
    }
  }
  for (const file of Object.keys(indirectLoads)) {
    if (!indirect.some((s) => s.file === file)) {
      problems.push(`INDIRECT_LOADS names ${file}, which has no indirect load any more: remove it`);
    }
  }
  for (const target of includes) {
    try {
      if (!(await Deno.stat(root + target)).isFile) throw new Error("not a file");
    } catch {
      const site = resolved.find((s) => s.target === target)!;
      problems.push(
        `${site.file}:${site.line}: ${site.text} names ${target}, which does not exist`,
      );
    }
  }
  return { includes: [...includes].sort(), resolved, indirect, problems };
}

/** What a compile command line is built from. */
export interface CompileInit {
  /** Files to `--include` (relative to the root). */
  includes: readonly string[];
  /** Output directory relative to the root (or absolute). Default `dist`. */
  outDir?: string;
}

/** The output path of `target`'s binary. */
export function outputPath(target: CompileTarget, outDir = "dist"): string {
  return `${outDir.replace(/\/+$/, "")}/${binaryName(target)}`;
}

/** The `deno` arguments that build `target` (run from the repository root). */
export function compileArgs(target: CompileTarget, init: CompileInit): string[] {
  return [
    "compile",
    "--target",
    target.triple,
    "--output",
    outputPath(target, init.outDir),
    "--config",
    "deno.json",
    ...RUN_PERMISSIONS,
    ...init.includes.flatMap((f) => ["--include", f]),
    "main.ts",
  ];
}

/** The outcome of one `deno compile`. */
export interface RunResult {
  code: number;
  stderr: string;
}

/** Runs `deno` with the given arguments from the repository root. */
export type Runner = (args: string[]) => Promise<RunResult>;

/** Runs the real `deno` from the root, collecting stderr. */
export const denoRunner: Runner = async (args) => {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
};

/**
 * When a failed `deno compile` could not download its runtime, the one line to print;
 * otherwise undefined.
 */
export function downloadFailureLine(target: CompileTarget, stderr: string): string | undefined {
  if (!/denort|dl\.deno\.land|Setting up base binary/i.test(stderr)) return undefined;
  const url = /https?:\/\/[^\s)]+denort[^\s)]*/.exec(stderr)?.[0] ?? "dl.deno.land";
  return `compile: cannot build ${target.triple}: deno compile needs to download its runtime ` +
    `(denort, ${url}) and this machine cannot reach it; run "deno task compile" on a machine ` +
    `with internet access (the release workflow does), or set DENORT_BIN to a local denort ` +
    `binary for this target`;
}

/** Hex SHA-256 of `bytes`. */
export async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Writes `SHA256SUMS` in `dir` for `names` (files in `dir`), in the format `sha256sum -c`
 * reads: `<hex>  <name>` per line. Returns the file's text.
 */
export async function writeSha256Sums(dir: string, names: readonly string[]): Promise<string> {
  const lines: string[] = [];
  for (const name of names) {
    lines.push(`${await sha256Hex(await Deno.readFile(`${dir}/${name}`))}  ${name}`);
  }
  const text = lines.map((l) => l + "\n").join("");
  await Deno.writeTextFile(`${dir}/SHA256SUMS`, text);
  return text;
}

/** Options of {@linkcode compileAll}. */
export interface CompileAllOptions {
  targets?: readonly CompileTarget[];
  /** Output directory relative to the root (or absolute). Default `dist`. */
  outDir?: string;
  runner?: Runner;
  /** Prints progress (stdout). */
  out?: (line: string) => void;
  /** Prints failures (stderr). */
  err?: (line: string) => void;
  /** Print the command lines instead of running them. */
  dryRun?: boolean;
}

/** Builds every target, then `SHA256SUMS`. Returns the exit status (0 or 1). */
export async function compileAll(options: CompileAllOptions = {}): Promise<number> {
  const targets = options.targets ?? TARGETS;
  const outDir = options.outDir ?? "dist";
  const runner = options.runner ?? denoRunner;
  const out = options.out ?? ((l: string) => console.log(l));
  const err = options.err ?? ((l: string) => console.error(l));
  const scan = await scanDynamicLoads();
  if (scan.problems.length > 0) {
    for (const p of scan.problems) err(`compile: ${p}`);
    return 1;
  }
  const absOut = outDir.startsWith("/") ? outDir : ROOT + outDir;
  if (options.dryRun) {
    for (const t of targets) {
      out(["deno", ...compileArgs(t, { includes: scan.includes, outDir })].join(" "));
    }
    return 0;
  }
  await Deno.mkdir(absOut, { recursive: true });
  const built: string[] = [];
  for (const target of targets) {
    const args = compileArgs(target, { includes: scan.includes, outDir });
    const r = await runner(args);
    if (r.code !== 0) {
      const line = downloadFailureLine(target, r.stderr);
      if (line) {
        err(line);
      } else {
        err(`compile: deno compile failed for ${target.triple} (exit ${r.code}):`);
        err(r.stderr.trimEnd());
      }
      return 1;
    }
    const name = binaryName(target);
    const size = (await Deno.stat(`${absOut}/${name}`)).size;
    out(`built ${outputPath(target, outDir)} (${(size / 1e6).toFixed(1)} MB)`);
    built.push(name);
  }
  await writeSha256Sums(absOut, built);
  out(`wrote ${outDir.replace(/\/+$/, "")}/SHA256SUMS (${built.length} file(s))`);
  return 0;
}

const USAGE = `Usage: deno task compile [--target <triple>]... [--out-dir <dir>] [--dry-run]

Targets: ${TARGETS.map((t) => t.triple).join(", ")}`;

if (import.meta.main) {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      options: {
        target: { type: "string", multiple: true },
        "out-dir": { type: "string" },
        "dry-run": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    console.error(`compile: ${(e as Error).message.split(". ")[0]}`);
    console.error(USAGE);
    Deno.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const targets: CompileTarget[] = [];
  for (const triple of values.target ?? []) {
    const t = TARGETS.find((x) => x.triple === triple);
    if (!t) {
      console.error(
        `compile: unknown target "${triple}"; one of ${TARGETS.map((x) => x.triple).join(", ")}`,
      );
      Deno.exit(2);
    }
    targets.push(t);
  }
  Deno.exit(
    await compileAll({
      ...(targets.length > 0 ? { targets } : {}),
      ...(values["out-dir"] !== undefined ? { outDir: values["out-dir"] } : {}),
      dryRun: values["dry-run"] === true,
    }),
  );
}
