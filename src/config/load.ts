/**
 * Loading a configuration from files, directories and stdin: size and encoding checks, JSONC
 * parsing, sing-box's merge of several sources, strict decoding.
 *
 * @module
 */

import { type ConfigDiagnostic, Diagnostics, sortDiagnostics } from "./diagnostic.ts";
import { type JsonNode, parseJsonc } from "./jsonc.ts";
import { mergeInto } from "./merge.ts";
import { decodeRoot } from "./decode.ts";
import type { ValidateOptions } from "./validate.ts";
import type { Options } from "./types.ts";

/** Largest config file accepted (bytes). */
export const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

/** Where configuration comes from. */
export type ConfigSource =
  | { type: "file"; path: string }
  | { type: "directory"; path: string }
  | { type: "stdin" }
  | { type: "text"; name: string; text: string };

/** What {@linkcode loadConfig} found. `options` is set only when there are no errors. */
export interface LoadResult {
  options?: Options;
  errors: ConfigDiagnostic[];
  warnings: ConfigDiagnostic[];
  /** The merged JSON tree (before decoding), when every source parsed. */
  merged?: JsonNode;
  /** The files read, in merge order (`"stdin"` for standard input). */
  files: string[];
}

/** Builds sources the way sing-box's `-c` and `-C` flags do (`-c stdin` reads standard input). */
export function sourcesFromFlags(
  configs: readonly string[],
  directories: readonly string[],
): ConfigSource[] {
  return [
    ...configs.map((path): ConfigSource =>
      path === "stdin" ? { type: "stdin" } : { type: "file", path }
    ),
    ...directories.map((path): ConfigSource => ({ type: "directory", path })),
  ];
}

function errorText(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "no such file";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (e instanceof Deno.errors.IsADirectory) return "is a directory";
  return e instanceof Error ? e.message : String(e);
}

/** Index of the first byte that is not valid UTF-8, or -1. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number, min: number;
    if (b >= 0xc2 && b <= 0xdf) [need, min] = [1, 0x80];
    else if (b >= 0xe0 && b <= 0xef) [need, min] = [2, 0x800];
    else if (b >= 0xf0 && b <= 0xf4) [need, min] = [3, 0x10000];
    else return i;
    if (i + need >= n) return i;
    let cp = b & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

/** Decodes bytes as UTF-8, reporting the position of the first invalid byte. */
function decodeUtf8(bytes: Uint8Array, file: string, diag: Diagnostics): string | undefined {
  const bad = firstInvalidUtf8(bytes);
  if (bad >= 0) {
    const before = new TextDecoder().decode(bytes.subarray(0, bad));
    const lines = before.split("\n");
    diag.error(
      { file, line: lines.length, column: [...lines[lines.length - 1]!].length + 1 },
      "",
      `the file is not valid UTF-8 (byte 0x${
        bytes[bad]!.toString(16).padStart(2, "0")
      } at offset ${bad})`,
    );
    return undefined;
  }
  return new TextDecoder().decode(bytes);
}

async function readLimited(file: string, diag: Diagnostics): Promise<Uint8Array | undefined> {
  try {
    const info = await Deno.stat(file);
    if (info.isDirectory) {
      diag.error(
        { file, line: 0, column: 0 },
        "",
        "cannot read config: is a directory (use -C for a directory)",
      );
      return undefined;
    }
    if (info.size > MAX_CONFIG_BYTES) {
      diag.error(
        { file, line: 0, column: 0 },
        "",
        `the file is too large (${info.size} bytes; the limit is ${MAX_CONFIG_BYTES})`,
      );
      return undefined;
    }
    return await Deno.readFile(file);
  } catch (e) {
    diag.error({ file, line: 0, column: 0 }, "", `cannot read config: ${errorText(e)}`);
    return undefined;
  }
}

async function readStdin(diag: Diagnostics): Promise<Uint8Array | undefined> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of Deno.stdin.readable) {
    total += chunk.length;
    if (total > MAX_CONFIG_BYTES) {
      diag.error(
        { file: "stdin", line: 0, column: 0 },
        "",
        `the input is too large (more than ${MAX_CONFIG_BYTES} bytes)`,
      );
      return undefined;
    }
    chunks.push(chunk);
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** Expands a `-C` directory into its `*.json`/`*.jsonc` files in name order. */
async function listDirectory(dir: string, diag: Diagnostics): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (!e.isDirectory && (e.name.endsWith(".json") || e.name.endsWith(".jsonc"))) {
        names.push(e.name);
      }
    }
  } catch (e) {
    diag.error(
      { file: dir, line: 0, column: 0 },
      "",
      `cannot read config directory: ${errorText(e)}`,
    );
    return [];
  }
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const sep = dir.endsWith("/") ? "" : "/";
  return names.map((n) => dir + sep + n);
}

/** Reads one source's text (undefined after reporting a problem). */
export async function readSourceText(
  source: ConfigSource,
  diag: Diagnostics,
): Promise<{ name: string; text?: string }[]> {
  switch (source.type) {
    case "text":
      return [{ name: source.name, text: source.text }];
    case "stdin": {
      const bytes = await readStdin(diag);
      const text = bytes && decodeUtf8(bytes, "stdin", diag);
      return [text === undefined ? { name: "stdin" } : { name: "stdin", text }];
    }
    case "file": {
      const bytes = await readLimited(source.path, diag);
      const text = bytes && decodeUtf8(bytes, source.path, diag);
      return [text === undefined ? { name: source.path } : { name: source.path, text }];
    }
    case "directory": {
      const out: { name: string; text?: string }[] = [];
      for (const file of await listDirectory(source.path, diag)) {
        out.push(...await readSourceText({ type: "file", path: file }, diag));
      }
      return out;
    }
  }
}

/**
 * Loads, merges (in the order given; a directory's files in name order) and decodes a
 * configuration. Every problem found is returned, sorted by file then position.
 */
export async function loadConfig(
  sources: ConfigSource[],
  validateOptions: ValidateOptions = {},
): Promise<LoadResult> {
  const diag = new Diagnostics();
  const files: string[] = [];
  const roots: JsonNode[] = [];
  let readFailed = false;
  for (const source of sources) {
    for (const { name, text } of await readSourceText(source, diag)) {
      files.push(name);
      if (text === undefined) {
        readFailed = true;
        continue;
      }
      const root = parseJsonc(text, name, diag);
      if (root) roots.push(root);
      else readFailed = true;
    }
  }
  if (files.length === 0 && diag.errors.length === 0) {
    diag.error({ file: "(config)", line: 0, column: 0 }, "", "no configuration files found");
  }
  const result: LoadResult = { errors: [], warnings: [], files };
  if (!readFailed && roots.length > 0 && diag.errors.length === 0) {
    let merged = roots[0]!;
    for (const next of roots.slice(1)) merged = mergeInto(merged, next, diag);
    result.merged = merged;
    const options = decodeRoot(merged, diag, validateOptions);
    if (diag.errors.length === 0) result.options = options;
  }
  result.errors = sortDiagnostics(diag.errors, files);
  result.warnings = sortDiagnostics(diag.warnings, files);
  return result;
}
