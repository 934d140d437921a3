/**
 * Configuration problems with the place they point at: `file:line:col: json.path: message`.
 *
 * @module
 */

/** A position in a config source: file name as given, 1-based line and column. */
export interface Pos {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** How bad a diagnostic is: errors stop `check`/`run`, warnings do not. */
export type Severity = "error" | "warning";

/** One problem found while reading, merging, decoding or checking a configuration. */
export class ConfigDiagnostic {
  readonly file: string;
  /** 1-based; 0 when the problem has no position (e.g. an unreadable file). */
  readonly line: number;
  readonly column: number;
  /** JSON path such as `route.rules[3].ip_cidr[0]`; empty when the whole file is meant. */
  readonly path: string;
  readonly message: string;
  readonly severity: Severity;

  constructor(
    pos: Pos,
    path: string,
    message: string,
    severity: Severity = "error",
  ) {
    this.file = pos.file;
    this.line = pos.line;
    this.column = pos.column;
    this.path = path;
    this.message = message;
    this.severity = severity;
  }

  /** `file:line:col: path: message` (position and path parts are left out when unknown). */
  format(): string {
    let out = this.file;
    if (this.line > 0) out += `:${this.line}:${this.column}`;
    if (this.path !== "") out += `: ${this.path}`;
    return `${out}: ${this.message}`;
  }

  toString(): string {
    return this.format();
  }
}

/**
 * Sorts diagnostics by source (in the order the sources were given), then line and column.
 * `fileOrder` lists file names in load order; unknown files sort last, by name.
 */
export function sortDiagnostics(
  list: ConfigDiagnostic[],
  fileOrder: readonly string[] = [],
): ConfigDiagnostic[] {
  const rank = (f: string) => {
    const i = fileOrder.indexOf(f);
    return i < 0 ? fileOrder.length : i;
  };
  return list.sort((a, b) =>
    rank(a.file) - rank(b.file) || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) ||
    a.line - b.line || a.column - b.column
  );
}

/** Collects diagnostics during one load. */
export class Diagnostics {
  readonly errors: ConfigDiagnostic[] = [];
  readonly warnings: ConfigDiagnostic[] = [];

  error(pos: Pos, path: string, message: string): void {
    this.errors.push(new ConfigDiagnostic(pos, path, message, "error"));
  }

  warn(pos: Pos, path: string, message: string): void {
    this.warnings.push(new ConfigDiagnostic(pos, path, message, "warning"));
  }
}
