/**
 * Results shared by all sniffers. A sniffer is a pure function over the bytes received so far;
 * it never throws on malformed input and answers one of:
 * - `match`: the protocol was recognised (domain/client may be empty);
 * - `need-more`: the bytes so far are a valid prefix; call again with more;
 * - `no-match`: not this protocol (the reason is for debug logs).
 *
 * @module
 */

/** A recognised protocol. `domain` and `client` are "" when the protocol carries none. */
export interface SniffMatch {
  readonly status: "match";
  /** sing-box protocol name: `tls`, `http`, `quic`, `dns`. */
  readonly protocol: string;
  /** Server name (TLS/QUIC SNI, HTTP Host without port); "" when absent. */
  readonly domain: string;
  /** QUIC client guess (`chromium`, `safari`, `firefox`, `quic-go`, `unknown`); "" otherwise. */
  readonly client: string;
  /** For DNS: the first question. sing-box does not route by it; it is for logs. */
  readonly dnsQuestion?: { readonly name: string; readonly type: number };
}

/** More bytes are needed to decide. */
export interface SniffNeedMore {
  readonly status: "need-more";
}

/** Not this protocol. */
export interface SniffNoMatch {
  readonly status: "no-match";
  readonly reason: string;
}

/** Outcome of a sniffer. */
export type SniffResult = SniffMatch | SniffNeedMore | SniffNoMatch;

/** The shared `need-more` value (no allocation per call). */
export const NEED_MORE: SniffNeedMore = Object.freeze({ status: "need-more" });

/** Builds a `no-match` result. */
export function noMatch(reason: string): SniffNoMatch {
  return { status: "no-match", reason };
}

/** Builds a `match` result. */
export function matched(protocol: string, domain = "", client = ""): SniffMatch {
  return { status: "match", protocol, domain, client };
}
