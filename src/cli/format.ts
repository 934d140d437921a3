/**
 * `tunbox format [-w]`: pretty-print each configuration file, comments kept; `-w` writes back.
 *
 * Files are formatted one by one (not merged). A file with syntax errors is reported and left
 * alone.
 *
 * @module
 */

import { Diagnostics, sortDiagnostics } from "../config/diagnostic.ts";
import { formatJsonc } from "../config/format.ts";
import { parseJsonc } from "../config/jsonc.ts";
import { type ConfigSource, readSourceText } from "../config/load.ts";
import { printDiagnostics } from "./output.ts";

function absolute(path: string): string {
  if (path.startsWith("/") || path === "stdin") return path;
  return `${Deno.cwd()}/${path.replace(/^\.\//, "")}`;
}

/** Runs `format`. Returns the exit status. */
export async function formatCommand(
  sources: ConfigSource[],
  write: boolean,
  color: boolean,
): Promise<number> {
  const diag = new Diagnostics();
  const files: { name: string; text: string; formatted: string }[] = [];
  for (const source of sources) {
    for (const { name, text } of await readSourceText(source, diag)) {
      if (text === undefined) continue;
      const before = diag.errors.length;
      parseJsonc(text, name, diag);
      if (diag.errors.length === before) files.push({ name, text, formatted: formatJsonc(text) });
    }
  }
  const names = files.map((f) => f.name);
  printDiagnostics({ errors: sortDiagnostics(diag.errors, names), warnings: [] }, color);
  if (diag.errors.length > 0) return 2;
  for (const f of files) {
    if (!write || f.name === "stdin") {
      if (files.length > 1) console.log(absolute(f.name));
      await Deno.stdout.write(new TextEncoder().encode(f.formatted));
      continue;
    }
    if (f.formatted === f.text) continue;
    try {
      await Deno.writeTextFile(f.name, f.formatted);
    } catch (e) {
      console.error(
        `write formatted config to ${JSON.stringify(f.name)} failed: ${(e as Error).message}`,
      );
      return 1;
    }
    console.error(absolute(f.name));
  }
  return 0;
}
