/**
 * Configuration: read sing-box JSON/JSONC, merge several sources, decode strictly into
 * {@linkcode Options}, upgrade legacy forms with warnings, and report every problem as
 * `file:line:col: json.path: message`.
 *
 * ```ts
 * const result = await loadConfig([{ type: "file", path: "config.json" }]);
 * for (const e of result.errors) console.error(e.format());
 * ```
 *
 * @module
 */

export { ConfigDiagnostic, type Pos, type Severity } from "./diagnostic.ts";
export { decodeConfigText, type DecodeTextResult } from "./decode.ts";
export {
  type ConfigSource,
  loadConfig,
  type LoadResult,
  MAX_CONFIG_BYTES,
  sourcesFromFlags,
} from "./load.ts";
export { formatJsonc } from "./format.ts";
export { MAX_DEPTH, toPlain } from "./jsonc.ts";
export type { ValidateOptions } from "./validate.ts";
export type * from "./types.ts";
