/**
 * Terminal output for the CLI: color decisions and diagnostics.
 *
 * @module
 */

import type { ConfigDiagnostic } from "../config/diagnostic.ts";

/** True when stderr should get ANSI colors (a terminal, no `--disable-color`, no `NO_COLOR`). */
export function useColor(disableColor: boolean): boolean {
  if (disableColor) return false;
  try {
    if (Deno.env.get("NO_COLOR")) return false;
  } catch {
    // No env permission: decide by the terminal alone.
  }
  try {
    return Deno.stderr.isTerminal();
  } catch {
    return false;
  }
}

/** One line for a diagnostic: errors as `file:line:col: path: message`, warnings prefixed. */
export function diagnosticLine(d: ConfigDiagnostic, color: boolean): string {
  if (d.severity === "error") return color ? `\x1b[31m${d.format()}\x1b[0m` : d.format();
  return `${color ? "\x1b[33mwarning\x1b[0m" : "warning"}: ${d.format()}`;
}

/** Prints errors then warnings to stderr, one line each. */
export function printDiagnostics(
  result: { errors: ConfigDiagnostic[]; warnings: ConfigDiagnostic[] },
  color: boolean,
): void {
  for (const d of result.errors) console.error(diagnosticLine(d, color));
  for (const d of result.warnings) console.error(diagnosticLine(d, color));
}
