/**
 * The TLS client: TLS 1.2 and 1.3 over any {@linkcode Stream} (a reactor socket that keeps its
 * `bind_interface`/`routing_mark`, or a stream through another outbound), itself a
 * {@linkcode Stream}, so TLS composes with every outbound, the relay and the DNS transports.
 *
 * The cryptography is Deno's: `node:tls` (rustls inside Deno) runs over a Node `Duplex` made
 * from the inner stream ({@linkcode StreamDuplex}). tunbox only decides what to trust
 * (trust anchors, `insecure`, public-key pins, the name to verify) and turns failures into
 * messages that name the server and the reason. See docs/architecture.md, "TLS".
 *
 * ```ts
 * const sock = await connectTcp(reactor, { addr, port: 853 });
 * const tls = await tlsConnect(sock, { serverName: "dns.google", alpn: ["dot"] }, {
 *   what: `DNS server "google"`,
 *   timeoutMs: 5000,
 * });
 * await writeAll(tls, query, "query");
 * ```
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash, X509Certificate } from "node:crypto";
import tls from "node:tls";
import { E, SysError } from "../../ffi/errno.ts";
import type { Stream } from "../io/stream.ts";
import { NodeBackedStream } from "./node_stream.ts";
import { parseIp } from "../net/ip.ts";
import { StreamDuplex } from "./stream_duplex.ts";
import { type TrustStore, useTrustStore } from "./trust.ts";

/** A TLS protocol version tunbox can negotiate (rustls speaks 1.2 and 1.3 only). */
export type TlsVersion = "1.2" | "1.3";

/** What a TLS client connection trusts and offers. Built from options by `buildTlsClient`. */
export interface TlsClientConfig {
  /**
   * The name the certificate must be valid for (a domain or an IP literal); also sent as SNI
   * unless {@linkcode disableSni} (an IP literal is never sent, RFC 6066 §3).
   */
  serverName: string;
  /** Send no SNI, still verify the certificate against `serverName` (sing-box `disable_sni`). */
  disableSni?: boolean;
  /** ALPN protocols to offer, in preference order. */
  alpn?: readonly string[];
  /** Accept any certificate (sing-box `insecure`); the handshake signatures are still checked. */
  insecure?: boolean;
  /** Trust anchors in PEM; absent: Deno's bundled Mozilla roots. */
  ca?: readonly string[];
  /**
   * SHA-256 digests of the leaf certificate's SubjectPublicKeyInfo (DER): when set, the leaf's
   * key must be one of them and the chain is not checked (sing-box
   * `certificate_public_key_sha256`).
   */
  pins?: readonly Uint8Array[];
  minVersion?: TlsVersion;
  maxVersion?: TlsVersion;
  /**
   * Trust anchors installed as the thread's default list (the `certificate` section), used when
   * `ca` is absent; absent too: Deno's bundled Mozilla roots.
   */
  store?: TrustStore;
  /** A client certificate chain (PEM) for servers that ask for one, with its key. */
  clientCertificate?: string;
  clientKey?: string;
}

/** Per-connection parameters of {@linkcode tlsConnect}. */
export interface TlsConnectOptions {
  /** Names the caller in messages: `DNS server "google"`, `http outbound "proxy"`. */
  what: string;
  /** Handshake deadline; the inner stream is aborted when it passes. */
  timeoutMs: number;
}

/** A TLS handshake or connection failure; `reason` is the part after the server's name. */
export class TlsError extends Error {
  override name = "TlsError";
  constructor(message: string, readonly reason: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Readable reasons for Node/rustls certificate error codes. */
const CERT_REASONS: Record<string, string> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "certificate signed by an unknown authority",
  UNABLE_TO_GET_ISSUER_CERT: "certificate signed by an unknown authority",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "certificate signed by an unknown authority",
  SELF_SIGNED_CERT_IN_CHAIN: "self-signed certificate in the chain",
  DEPTH_ZERO_SELF_SIGNED_CERT: "self-signed certificate",
  CERT_HAS_EXPIRED: "certificate has expired",
  CERT_NOT_YET_VALID: "certificate is not yet valid",
  CERT_REVOKED: "certificate is revoked",
  ERR_TLS_CERT_ALTNAME_INVALID: "certificate is not valid for the name",
};

/** One line for a handshake failure: the Node code's meaning, then rustls' own words. */
export function describeTlsFailure(error: unknown): string {
  const e = error as { code?: string; message?: string; reason?: string };
  const code = typeof e?.code === "string" ? e.code : "";
  const message = typeof e?.message === "string" ? e.message : String(error);
  if (error instanceof TlsError) return error.reason;
  const known = CERT_REASONS[code];
  if (known) {
    const detail = code === "ERR_TLS_CERT_ALTNAME_INVALID" && e.reason ? `: ${e.reason}` : "";
    return `${known}${detail} (${code})`;
  }
  if (/UnknownIssuer/i.test(message)) return "certificate signed by an unknown authority";
  if (/NotValidForName/i.test(message)) return "certificate is not valid for the name";
  if (/Expired/.test(message)) return "certificate has expired";
  if (/peer is incompatible|PeerIncompatible|protocol_version|ProtocolVersion/i.test(message)) {
    return `no TLS version in common (${message})`;
  }
  if (/no_application_protocol|NoApplicationProtocol/i.test(message)) {
    return `no ALPN protocol in common (${message})`;
  }
  if (/InvalidContentType|InvalidMessage|CorruptMessage|record overflow|BadRecord/i.test(message)) {
    return `the server does not speak TLS (${message})`;
  }
  // Node's words for an EOF before the handshake finished (it uses the code ECONNRESET).
  if (/disconnected before secure TLS connection/i.test(message)) {
    return "connection closed during the handshake";
  }
  if (code === "ECONNRESET" || /reset|ECONNRESET/i.test(message)) {
    return "connection reset during the handshake";
  }
  if (/socket hang up|closed|EOF|ended/i.test(message)) {
    return "connection closed during the handshake";
  }
  return code && !message.includes(code) ? `${message} (${code})` : message;
}

/** SHA-256 of a certificate's SubjectPublicKeyInfo (DER), as sing-box pins it. */
export function publicKeySha256(certDer: Uint8Array): Uint8Array {
  const cert = new X509Certificate(certDer);
  const spki = cert.publicKey.export({ type: "spki", format: "der" });
  return new Uint8Array(createHash("sha256").update(spki).digest());
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Node's names of the versions. */
export const NODE_VERSION: Record<TlsVersion, tls.SecureVersion> = {
  "1.2": "TLSv1.2",
  "1.3": "TLSv1.3",
};

/** Null when `config` pins nothing or the leaf's key is pinned; else the failure. */
function checkPins(
  config: TlsClientConfig,
  socket: tls.TLSSocket,
  fail: (reason: string) => TlsError,
): TlsError | null {
  const pins = config.pins ?? [];
  if (pins.length === 0) return null;
  const raw = socket.getPeerCertificate()?.raw;
  if (!raw || raw.length === 0) return fail("the server sent no certificate to check the pin");
  const digest = publicKeySha256(new Uint8Array(raw));
  if (pins.some((p) => sameBytes(p, digest))) return null;
  return fail(
    `certificate public key sha256 ${
      Buffer.from(digest).toString("base64")
    } is not in certificate_public_key_sha256`,
  );
}

/** Node `tls.connect` options for `config` over `socket`. */
function connectOptions(config: TlsClientConfig, socket: StreamDuplex): tls.ConnectionOptions {
  const verifyChain = !config.insecure && (config.pins ?? []).length === 0;
  const sendSni = !config.disableSni && config.serverName !== "" &&
    parseIp(config.serverName) === null;
  // allowHalfOpen is read by tls.connect (half-close) though the typings lack it.
  const options: tls.ConnectionOptions & { allowHalfOpen: boolean } = {
    socket,
    allowHalfOpen: true,
    // Chain errors abort the handshake inside rustls when verifying; with pins or `insecure`
    // they are collected and ignored, and the checks below decide.
    rejectUnauthorized: verifyChain,
    // The name is checked here (rustls leaves it to JavaScript); pins are checked after the
    // handshake, since Node skips this callback when the chain did not verify.
    checkServerIdentity: (_host, cert) =>
      verifyChain ? tls.checkServerIdentity(config.serverName, cert) : undefined,
  };
  if (sendSni) options.servername = config.serverName;
  if (config.alpn && config.alpn.length > 0) options.ALPNProtocols = [...config.alpn];
  if (config.ca) options.ca = [...config.ca];
  else if (config.store && verifyChain) useTrustStore(config.store);
  if (config.clientCertificate && config.clientKey) {
    options.cert = config.clientCertificate;
    options.key = config.clientKey;
  }
  if (config.minVersion) options.minVersion = NODE_VERSION[config.minVersion];
  if (config.maxVersion) options.maxVersion = NODE_VERSION[config.maxVersion];
  return options;
}

/**
 * Runs a TLS client handshake over `inner` and resolves with the encrypted stream. On failure
 * (or after `timeoutMs`) `inner` is aborted and the promise rejects with a {@linkcode TlsError}
 * naming the caller, the server name and the reason:
 * `DNS server "dot": TLS handshake with dns.test failed: certificate signed by an unknown
 * authority (UNABLE_TO_VERIFY_LEAF_SIGNATURE)`.
 */
export function tlsConnect(
  inner: Stream,
  config: TlsClientConfig,
  options: TlsConnectOptions,
): Promise<TlsStream> {
  const duplex = new StreamDuplex(inner);
  const name = config.serverName === "" ? "the server" : config.serverName;
  const fail = (reason: string, cause?: unknown) =>
    new TlsError(`${options.what}: TLS handshake with ${name} failed: ${reason}`, reason, {
      cause,
    });
  let socket: tls.TLSSocket;
  try {
    socket = tls.connect(connectOptions(config, duplex));
  } catch (error) {
    duplex.destroy();
    return Promise.reject(fail(describeTlsFailure(error), error));
  }
  return awaitHandshake(inner, socket, duplex, {
    event: "secureConnect",
    timeoutMs: options.timeoutMs,
    fail,
    timeout: () =>
      `${options.what}: TLS handshake with ${name} timed out (after ${options.timeoutMs} ms)`,
    check: () => checkPins(config, socket, fail),
  });
}

/**
 * @internal Waits for `socket`'s handshake (client `secureConnect` or server `secure`) and
 * makes the {@linkcode TlsStream}; on failure, timeout or a failed `check`, aborts and rejects.
 */
export function awaitHandshake(
  inner: Stream,
  socket: tls.TLSSocket,
  duplex: StreamDuplex,
  how: {
    event: "secureConnect" | "secure";
    timeoutMs: number;
    fail: (reason: string, cause?: unknown) => TlsError;
    timeout: () => string;
    check?: () => TlsError | null;
  },
): Promise<TlsStream> {
  return new Promise<TlsStream>((resolve, reject) => {
    let settled = false;
    const settle = (error: Error | null) => {
      if (settled) return;
      settled = true;
      timer.cancel();
      socket.off(how.event, onSecure);
      socket.off("error", onError);
      socket.off("close", onClose);
      duplex.off("error", onError);
      duplex.off("end", onEnd);
      if (error) {
        socket.on("error", () => {});
        // The transport first, with the error, so it is reset (destroying the TLS socket
        // first would close it gracefully).
        duplex.destroy(error);
        socket.destroy();
        reject(error);
      } else {
        resolve(new TlsStream(inner, socket, duplex));
      }
    };
    const onSecure = () => settle(how.check?.() ?? null);
    const onError = (error: Error) => settle(how.fail(describeTlsFailure(error), error));
    const onClose = () => settle(how.fail("connection closed during the handshake"));
    // A server's TLS socket ignores a transport EOF during the handshake. Give the bytes that
    // came before it one loop round to finish the handshake.
    const onEnd = () => inner.reactor.setTimeout(0, onClose);
    const timer = inner.reactor.setTimeout(how.timeoutMs, () => {
      settle(
        new TlsError(how.timeout(), "handshake timed out", {
          cause: new SysError("TLS handshake", E.ETIMEDOUT),
        }),
      );
    });
    socket.once(how.event, onSecure);
    socket.once("error", onError);
    socket.once("close", onClose);
    // Node's TLS socket does not always report a failed transport: watch it directly.
    duplex.once("error", onError);
    duplex.once("end", onEnd);
  });
}

/** How long a gracefully closed TLS stream may take to flush before its transport is closed. */
const CLOSE_FLUSH_MS = 5_000;

/**
 * An established TLS connection as a {@linkcode Stream}. `shutdownWrite` sends close_notify (TLS's
 * end of stream; the transport stays open for the answer); a peer's close_notify or EOF reads as
 * end of stream; `close` sends close_notify after what was written, then closes the transport;
 * `abort` resets it.
 */
export class TlsStream extends NodeBackedStream {
  /** The negotiated ALPN protocol, or null. */
  readonly alpnProtocol: string | null;
  /** `"1.2"` or `"1.3"`. */
  readonly version: TlsVersion;
  #socket: tls.TLSSocket;

  /** @internal Made by {@linkcode tlsConnect}. */
  constructor(inner: Stream, socket: tls.TLSSocket, duplex: StreamDuplex) {
    super(inner, socket, duplex);
    this.#socket = socket;
    this.alpnProtocol = typeof socket.alpnProtocol === "string" ? socket.alpnProtocol : null;
    this.version = socket.getProtocol() === "TLSv1.2" ? "1.2" : "1.3";
    socket.on("data", (chunk: Buffer) => this.push(chunk));
    socket.on("end", () => this.pushEof());
    socket.on("error", (error: Error) => this.fail(error));
    socket.on("close", () => {
      this.awake(false);
      this.pushEof();
    });
  }

  /** The server's certificate (DER), when it sent one. */
  peerCertificate(): Uint8Array | null {
    const raw = this.#socket.getPeerCertificate()?.raw;
    return raw && raw.length > 0 ? new Uint8Array(raw) : null;
  }

  protected sendBytes(buf: Uint8Array): number {
    return this.writeCopy(buf, this.#socket.destroyed, "TLS write");
  }

  protected sendEof(): void {
    this.#socket.end();
  }

  protected override pauseSource(): void {
    // Node's TLSSocket keeps emitting 'data' after pause() in Deno; stop reading the
    // transport instead (what is inside the TLS layer is bounded by one read).
    this.duplex.holdReading(true);
  }

  protected override resumeSource(): void {
    this.duplex.holdReading(false);
  }

  protected destroy(reset: boolean): void {
    this.awake(false);
    const socket = this.#socket;
    socket.removeAllListeners("data");
    socket.on("error", () => {});
    if (reset || socket.destroyed) {
      // The transport first: destroying the TLS socket first would close it gracefully.
      this.duplex.closeStream(reset ? new SysError("TLS stream aborted", E.ECONNRESET) : undefined);
      socket.destroy();
      return;
    }
    // Graceful: close_notify after what was written, then the transport is closed (FIN) once
    // Node's TLS has handed it every byte; if that takes too long, closed anyway.
    const release = () => {
      timer.cancel();
      socket.destroy();
      this.duplex.destroy();
    };
    const timer = this.reactor.setTimeout(CLOSE_FLUSH_MS, release);
    socket.once("finish", () => {
      // close_notify reaches the duplex from a microtask: look one loop round later.
      this.reactor.setTimeout(0, () => {
        if (!this.duplex.waitingForTransport) return release();
        this.duplex.onTransportWait = (waiting) => {
          if (!waiting) release();
        };
      });
    });
    socket.end();
  }
}
