/**
 * HTTP/1.x request sniffer: protocol `http`, domain from the request target or `Host`.
 *
 * Follows Go's `http.ReadRequest` (sing-box reads the request with a copy of it): the request
 * line is `METHOD SP request-target SP HTTP/x.y` with a token method, header lines are
 * `Name: value` with token names, lines may end in CRLF or LF, and the header block ends with an
 * empty line; until then the answer is `need-more`. An absolute-form target
 * (`GET http://h/ HTTP/1.1`) or a CONNECT authority wins over the `Host` header (RFC 9112 §3.2.2),
 * and the port is removed, as sing-box's `M.ParseSocksaddr(host).AddrString()` does. An IP
 * literal host is returned in canonical form (without brackets).
 *
 * @module
 */

import { formatIp, parseIp } from "../net/ip.ts";
import { matched, NEED_MORE, noMatch, type SniffResult } from "./result.ts";

/** RFC 9110 token characters, indexed by byte. */
const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TOKEN[c.charCodeAt(0)] = 1;
}

const SP = 0x20, CR = 0x0d, LF = 0x0a, HT = 0x09;

/** Sniffs an HTTP/1 request from the start of a TCP stream. */
export function sniffHttp(data: Uint8Array): SniffResult {
  // Request line.
  const lineEnd = data.indexOf(LF);
  if (lineEnd < 0) return plausibleRequestPrefix(data) ? NEED_MORE : noMatch("not an HTTP request");
  const line = text(data, 0, trimCr(data, 0, lineEnd));
  const sp1 = line.indexOf(" ");
  const sp2 = sp1 < 0 ? -1 : line.indexOf(" ", sp1 + 1);
  if (sp1 <= 0 || sp2 < 0) return noMatch("malformed HTTP request line");
  const method = line.slice(0, sp1);
  const target = line.slice(sp1 + 1, sp2);
  const proto = line.slice(sp2 + 1);
  if (!isToken(method)) return noMatch("invalid HTTP method");
  if (!validVersion(proto)) return noMatch("invalid HTTP version");
  if (target === "" || hasControlOrSpace(target)) return noMatch("invalid request target");

  // Header lines until an empty line.
  let host: string | null = null;
  let pos = lineEnd + 1;
  let first = true;
  for (;;) {
    const end = data.indexOf(LF, pos);
    if (end < 0) {
      return plausibleHeaderPrefix(data, pos) ? NEED_MORE : noMatch("malformed HTTP header");
    }
    const stop = trimCr(data, pos, end);
    if (stop === pos) break; // empty line: end of headers
    const b0 = data[pos]!;
    if (b0 === SP || b0 === HT) {
      if (first) return noMatch("malformed HTTP header initial line");
      pos = end + 1; // obsolete line folding: continuation of the previous value
      continue;
    }
    first = false;
    const colon = data.indexOf(0x3a, pos);
    if (colon < 0 || colon >= stop || colon === pos) return noMatch("malformed HTTP header line");
    for (let i = pos; i < colon; i++) {
      if (TOKEN[data[i]!] !== 1) return noMatch("invalid HTTP header name");
    }
    if (host === null && colon - pos === 4 && isHostName(data, pos)) {
      host = text(data, colon + 1, stop).replace(/^[ \t]+|[ \t]+$/g, "");
    }
    pos = end + 1;
  }

  let authority = host ?? "";
  const absolute = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)/.exec(target);
  if (absolute) authority = absolute[1]!.replace(/^[^@]*@/, "");
  else if (method === "CONNECT" && !target.startsWith("/")) authority = target;
  return matched("http", hostWithoutPort(authority));
}

function trimCr(d: Uint8Array, start: number, lf: number): number {
  return lf > start && d[lf - 1] === CR ? lf - 1 : lf;
}

function text(d: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i++) s += String.fromCharCode(d[i]!);
  return s;
}

function hasControlOrSpace(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return true;
  }
  return false;
}

function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (TOKEN[s.charCodeAt(i)] !== 1) return false;
  return true;
}

function isHostName(d: Uint8Array, p: number): boolean {
  return (d[p]! | 0x20) === 0x68 && (d[p + 1]! | 0x20) === 0x6f && (d[p + 2]! | 0x20) === 0x73 &&
    (d[p + 3]! | 0x20) === 0x74;
}

/** Go's `http.ParseHTTPVersion`. */
function validVersion(v: string): boolean {
  return /^HTTP\/[0-9]\.[0-9]$/.test(v);
}

/** True while the bytes can still begin a request line (`TOKEN SP ...`). */
function plausibleRequestPrefix(d: Uint8Array): boolean {
  let i = 0;
  while (i < d.length && TOKEN[d[i]!] === 1) i++;
  if (i === d.length) return true;
  if (i === 0 || d[i] !== SP) return false;
  // After the method only printable target/version bytes may follow before the line ends.
  for (let j = i + 1; j < d.length; j++) {
    const c = d[j]!;
    if (c < 0x20 && c !== CR) return false;
    if (c === CR && j + 1 < d.length) return false; // CR not followed by LF
  }
  return true;
}

/** True while an unfinished header line can still become valid. */
function plausibleHeaderPrefix(d: Uint8Array, pos: number): boolean {
  for (let i = pos; i < d.length; i++) {
    const c = d[i]!;
    if (c === 0x3a) return i > pos;
    if (c === CR) return i === d.length - 1 && i === pos;
    if (TOKEN[c] !== 1) return i === pos && (c === SP || c === HT);
  }
  return true;
}

/** Strips the port and IPv6 brackets; canonicalises IP literals. */
function hostWithoutPort(authority: string): string {
  let host = authority;
  if (host.startsWith("[")) {
    const close = host.indexOf("]");
    host = close > 0 ? host.slice(1, close) : host;
  } else {
    const colon = host.indexOf(":");
    if (colon >= 0 && colon === host.lastIndexOf(":")) host = host.slice(0, colon);
  }
  const ip = parseIp(host);
  return ip ? formatIp(ip) : host;
}
