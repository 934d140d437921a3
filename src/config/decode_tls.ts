/**
 * The outbound TLS block (`tls`) as far as tunbox supports it, and a helper for sing-box keys that
 * tunbox knows but does not implement (reported as errors, not as unknown fields).
 *
 * @module
 */

import type { Obj } from "./reader.ts";
import { featureId } from "./support.ts";

/** Outbound TLS options tunbox understands. */
export interface TlsOptions {
  enabled?: boolean;
  server_name?: string;
  insecure?: boolean;
}

const UNSUPPORTED_TLS_KEYS = [
  "disable_sni",
  "alpn",
  "min_version",
  "max_version",
  "cipher_suites",
  "curve_preferences",
  "certificate",
  "certificate_path",
  "certificate_public_key_sha256",
  "client_certificate",
  "client_certificate_path",
  "client_key",
  "client_key_path",
  "fragment",
  "fragment_fallback_delay",
  "record_fragment",
  "ech",
  "utls",
  "reality",
  "kernel_tx",
  "kernel_rx",
];

/** Reports sing-box keys present in `o` that tunbox does not implement. */
export function unsupportedKeys(o: Obj, keys: readonly string[], what: string): void {
  for (const k of keys) {
    const p = o.find(k);
    o.known(k);
    if (p && p.value.kind !== "null") {
      o.ctx.error(p.keyPos, o.p(k), `"${k}" ${what} is not supported by tunbox`);
    }
  }
}

/** Reads the `tls` object of `o`, if present. */
export function readTls(o: Obj): TlsOptions | undefined {
  const t = o.object("tls");
  if (!t) return undefined;
  const out: TlsOptions = {};
  const enabled = t.bool("enabled");
  if (enabled !== undefined) out.enabled = enabled;
  const sn = t.string("server_name");
  if (sn !== undefined) out.server_name = sn;
  const insecure = t.bool("insecure");
  if (insecure !== undefined) out.insecure = insecure;
  for (const k of UNSUPPORTED_TLS_KEYS) {
    // Each key's verdict (support.ts, `tls.<key>`) says what tunbox does with it.
    const id = featureId("tls", k);
    if (id) t.feature(k, id);
  }
  t.done();
  return out;
}
