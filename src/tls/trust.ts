/**
 * The trust store of TLS clients that do not name their own certificates: sing-box's top-level
 * `certificate` section (`store`: `system` (default), `mozilla`, `chrome`, `none`; plus
 * `certificate`, `certificate_path` and `certificate_directory_path`).
 *
 * The store is installed as the thread's default CA list (`tls.setDefaultCACertificates`) the
 * first time a client needs it: Deno parses an explicit `ca` list on every handshake (145 system
 * roots cost about 100 ms a handshake, measured), but keeps the default list.
 *
 * ```ts
 * const store = trustStore(options.certificate); // read once per thread
 * useTrustStore(store); // before a handshake that verifies with it
 * ```
 *
 * @module
 */

import { X509Certificate } from "node:crypto";
import tls from "node:tls";
import { getLogger } from "@logtape/logtape";
import type { CertificateOptions } from "../config/types.ts";

const log = getLogger(["tunbox", "tls"]);

/** Trust anchors (PEM, one certificate each) and where they came from. */
export class TrustStore {
  constructor(
    readonly certificates: readonly string[],
    /** For messages: `system store (144 certificates)`. */
    readonly description: string,
  ) {}
}

/** Splits PEM text into its certificate blocks (other blocks are skipped). */
export function pemCertificates(text: string): string[] {
  const out: string[] = [];
  const re =
    /-----BEGIN (?:X509 |TRUSTED )?CERTIFICATE-----[\s\S]*?-----END (?:X509 |TRUSTED )?CERTIFICATE-----/g;
  for (const m of text.matchAll(re)) {
    out.push(m[0].replace(/(X509|TRUSTED) CERTIFICATE/g, "CERTIFICATE"));
  }
  return out;
}

/**
 * Certificates from inline PEM and files, each checked by parsing it; throws a TypeError naming
 * `what` and the file.
 */
export function loadCertificates(
  what: string,
  inline: readonly string[] = [],
  files: readonly string[] = [],
): string[] {
  const out: string[] = [];
  const add = (text: string, source: string) => {
    const certs = pemCertificates(text);
    if (certs.length === 0) throw new TypeError(`${what}: no PEM certificate in ${source}`);
    for (const pem of certs) {
      try {
        new X509Certificate(pem);
      } catch (error) {
        throw new TypeError(
          `${what}: invalid certificate in ${source}: ${(error as Error).message}`,
          { cause: error },
        );
      }
      out.push(pem);
    }
  };
  if (inline.length > 0) add(inline.join("\n"), "certificate");
  for (const path of files) add(readText(what, path, "certificate"), JSON.stringify(path));
  return out;
}

/** Reads a file for TLS; throws a TypeError naming `what`, the role and the path. */
export function readText(what: string, path: string, role: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : (error as Error).message;
    throw new TypeError(`${what}: cannot read ${role} ${JSON.stringify(path)}: ${reason}`, {
      cause: error,
    });
  }
}

/** Certificates of every `*.pem`/`*.crt`/`*.cer` file directly in `dir`. */
function directoryCertificates(what: string, dir: string): string[] {
  const out: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch (error) {
    throw new TypeError(
      `${what}: cannot read certificate directory ${JSON.stringify(dir)}: ${
        (error as Error).message
      }`,
      { cause: error },
    );
  }
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (!e.isFile && !e.isSymlink) continue;
    if (!/\.(pem|crt|cer)$/i.test(e.name)) continue;
    const text = readText(what, `${dir}/${e.name}`, "certificate");
    out.push(...pemCertificates(text));
  }
  return out;
}

const stores = new WeakMap<CertificateOptions, TrustStore>();
let defaultStore: TrustStore | null = null;

/** The base list of a `store` value. */
function baseCertificates(store: CertificateOptions["store"]): { certs: string[]; label: string } {
  switch (store) {
    case "none":
      return { certs: [], label: "no store" };
    case "mozilla":
    case "chrome":
      // Deno bundles Mozilla's roots (webpki-roots); Chrome's list is not available.
      return { certs: [...tls.getCACertificates("bundled")], label: `${store} store` };
    case "system": {
      const certs = [...tls.getCACertificates("system")];
      if (certs.length > 0) return { certs, label: "system store" };
      log.warn(
        "The system has no CA certificates; TLS clients trust Mozilla's roots bundled in tunbox",
      );
      return { certs: [...tls.getCACertificates("bundled")], label: "bundled Mozilla roots" };
    }
  }
}

/**
 * The trust store for a `certificate` section (absent: the system store), read once per
 * section object and thread. Throws a TypeError naming the file that cannot be used.
 */
export function trustStore(options?: CertificateOptions): TrustStore {
  if (!options) {
    defaultStore ??= make({
      store: "system",
      certificate: [],
      certificate_path: [],
      certificate_directory_path: [],
    });
    return defaultStore;
  }
  let s = stores.get(options);
  if (!s) {
    s = make(options);
    stores.set(options, s);
  }
  return s;
}

function make(options: CertificateOptions): TrustStore {
  const what = "certificate";
  const base = baseCertificates(options.store);
  const extra = loadCertificates(what, options.certificate, options.certificate_path);
  for (const dir of options.certificate_directory_path) {
    extra.push(...directoryCertificates(what, dir));
  }
  const certs = [...base.certs, ...extra];
  const parts = [`${base.label}`];
  if (extra.length > 0) parts.push(`${extra.length} added`);
  return new TrustStore(certs, `${parts.join(" + ")}, ${certs.length} certificates`);
}

let installed: TrustStore | null = null;

/** Makes `store` this thread's default CA list (a no-op when it already is). */
export function useTrustStore(store: TrustStore): void {
  if (installed === store) return;
  // Deno implements it (Node 22.19+ API); its typings do not declare it yet.
  (tls as unknown as { setDefaultCACertificates(certs: string[]): void })
    .setDefaultCACertificates([...store.certificates]);
  installed = store;
}
