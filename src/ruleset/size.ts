/**
 * The rule-set size limit and how sizes are written in messages, shared by local loading and
 * downloads (a module of its own so that loading local sets does not import the downloader's
 * TLS and HTTP code).
 *
 * ```ts
 * formatSize(MAX_RULE_SET_BYTES); // "16 MiB"
 * ```
 *
 * @module
 */

/** Largest rule-set file accepted, downloaded or local (as the config limit). */
export const MAX_RULE_SET_BYTES = 16 * 1024 * 1024;

/** Formats a byte count as sing-box users read sizes: `16 MiB`, `52.4 MiB`. */
export function formatSize(bytes: number): string {
  const mib = bytes / 1048576;
  if (mib >= 1) return `${Number.isInteger(mib) ? mib : mib.toFixed(1)} MiB`;
  return `${bytes} bytes`;
}
