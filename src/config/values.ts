/**
 * Parsers for sing-box's lenient scalar forms: durations, marks, port ranges, addresses and
 * prefixes. Each returns the value or a `string` explaining what is wrong (no throwing), so the
 * decoder can attach the position.
 *
 * @module
 */

import { parseIp, parsePrefix, type Prefix } from "../net/ip.ts";
import type { PortRange } from "./types.ts";

/** A parse failure: the reason, phrased to follow `invalid <what> "<value>": `. */
export class Invalid {
  constructor(readonly reason: string) {}
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  "μs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** Why "" is refused where sing-box parses a duration, address or prefix (it refuses "" too). */
const EMPTY_REFUSED = 'empty (sing-box refuses "" too; leave the key out for the default)';

/**
 * Parses a Go-style duration ("300ms", "1h30m", "1.5s", "1d") into milliseconds. As Go, "0" alone
 * is accepted and every other number needs a unit.
 */
export function parseDuration(text: string): number | Invalid {
  let s = text.trim();
  if (s === "") {
    return new Invalid(EMPTY_REFUSED);
  }
  let sign = 1;
  if (s[0] === "-" || s[0] === "+") {
    if (s[0] === "-") sign = -1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  const re = /^([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h|d)/;
  let total = 0;
  let any = false;
  while (s.length > 0) {
    const m = re.exec(s);
    if (!m || m[1] === "" || m[1] === ".") {
      if (/^[0-9.]+$/.test(s)) {
        return new Invalid(`missing unit (write "${s}s", "${s}ms", "${s}m", ...)`);
      }
      return new Invalid('expected a duration such as "300ms", "10s", "5m" or "1h30m"');
    }
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    any = true;
    s = s.slice(m[0].length);
  }
  if (!any) return new Invalid('expected a duration such as "10s"');
  return sign * total;
}

/** Parses an unsigned integer as Go's `strconv.ParseUint(s, 0, bits)` (0x, 0o, 0b, leading 0). */
export function parseUintAuto(text: string, max: number): number | Invalid {
  const s = text.trim().replaceAll("_", "");
  let v: number;
  if (/^0[xX][0-9a-fA-F]+$/.test(s)) v = parseInt(s.slice(2), 16);
  else if (/^0[oO][0-7]+$/.test(s)) v = parseInt(s.slice(2), 8);
  else if (/^0[bB][01]+$/.test(s)) v = parseInt(s.slice(2), 2);
  else if (/^0[0-7]+$/.test(s)) v = parseInt(s.slice(1), 8);
  else if (/^[0-9]+$/.test(s)) v = Number(s);
  else return new Invalid('expected a number or a hexadecimal string like "0x2023"');
  if (!Number.isSafeInteger(v) || v > max) return new Invalid(`out of range (0 to ${max})`);
  return v;
}

/** Parses `"1000:2000"`, `":3000"` (from 0), `"4000:"` (to 65535) or a single port. */
export function parsePortRange(text: string, max = 65535): PortRange | Invalid {
  const colon = text.indexOf(":");
  const num = (s: string, dflt: number): number | Invalid => {
    if (s === "") return dflt;
    if (!/^[0-9]+$/.test(s)) return new Invalid(`"${s}" is not a port number`);
    const v = Number(s);
    if (v > max) return new Invalid(`${s} is larger than ${max}`);
    return v;
  };
  if (colon < 0) {
    const v = num(text, -1);
    if (v instanceof Invalid) return v;
    if (v < 0) return new Invalid('expected "start:end", ":end" or "start:"');
    return { start: v, end: v };
  }
  const start = num(text.slice(0, colon), 0);
  if (start instanceof Invalid) return start;
  const end = num(text.slice(colon + 1), max);
  if (end instanceof Invalid) return end;
  if (text === ":") return new Invalid('expected "start:end", ":end" or "start:"');
  if (start > end) return new Invalid(`start ${start} is after end ${end}`);
  return { start, end };
}

/**
 * Heuristic for redacted addresses copied from blog posts: `3.xxx.xx.82`, `x.x.x.x`,
 * `1.2.3.*`, `<server-ip>`, `YOUR_SERVER_IP`.
 */
export function looksLikePlaceholder(text: string): boolean {
  const host = text.replace(/\/.*$/, "");
  if (/^[0-9xX*.]+$/.test(host) && /[xX*]/.test(host) && host.includes(".")) return true;
  if (/^[0-9a-fA-FxX*:]+$/.test(host) && /[xX*]/.test(host) && host.includes(":")) return true;
  if (/^<.*>$/.test(host) || /your|server[_-]?ip|placeholder|example_ip/i.test(host)) return true;
  return false;
}

const PLACEHOLDER_HINT =
  "it looks like a redacted placeholder (letters x or * in place of digits); put the real address here";

function addressReason(text: string): string {
  if (text === "") return EMPTY_REFUSED;
  if (looksLikePlaceholder(text)) return PLACEHOLDER_HINT;
  if (/^[0-9]+(\.[0-9]+){3}$/.test(text)) {
    return "an IPv4 octet is out of range or has a leading zero";
  }
  if (text.includes("%")) return "zones (%) are not allowed here";
  return "not an IPv4 or IPv6 address";
}

/** Parses an IPv4/IPv6 address (no brackets, no port). */
export function parseAddress(text: string): Uint8Array | Invalid {
  if (text.startsWith("[") || text.includes("%")) return new Invalid(addressReason(text));
  const a = parseIp(text);
  return a ?? new Invalid(addressReason(text));
}

/**
 * Parses `addr/bits` (Go's `netip.ParsePrefix`). With `allowBare`, a lone address means the
 * single-address prefix (as sing-box's `ip_cidr` rule items and `Prefixable` fields accept).
 */
export function parsePrefixText(text: string, allowBare: boolean): Prefix | Invalid {
  const slash = text.lastIndexOf("/");
  if (slash < 0) {
    const a = parseAddress(text);
    if (a instanceof Invalid) return a;
    if (allowBare) return { addr: a, bits: a.length * 8 };
    return new Invalid(
      `missing prefix length (write "${text}/${
        a.length === 4 ? 32 : 128
      }" for one address, or e.g. "${text}/${a.length === 4 ? 30 : 126}")`,
    );
  }
  const host = text.slice(0, slash);
  const bits = text.slice(slash + 1);
  const a = parseAddress(host);
  if (a instanceof Invalid) return looksLikePlaceholder(text) ? new Invalid(PLACEHOLDER_HINT) : a;
  if (!/^[0-9]{1,3}$/.test(bits)) return new Invalid(`prefix length "${bits}" is not a number`);
  const max = a.length * 8;
  if (Number(bits) > max) return new Invalid(`prefix length ${bits} is larger than ${max}`);
  if (bits.length > 1 && bits[0] === "0") {
    return new Invalid(`prefix length "${bits}" has a leading zero`);
  }
  const p = parsePrefix(text);
  return p ?? new Invalid("not a prefix");
}

/** Splits `host:port` / `[v6]:port`; returns host and port or an explanation. */
export function splitHostPort(text: string): { host: string; port?: number } | Invalid {
  if (text.startsWith("[")) {
    const end = text.indexOf("]");
    if (end < 0) return new Invalid("missing ']'");
    const host = text.slice(1, end);
    const rest = text.slice(end + 1);
    if (rest === "") return { host };
    if (!rest.startsWith(":") || !/^[0-9]{1,5}$/.test(rest.slice(1))) {
      return new Invalid("bad port");
    }
    const port = Number(rest.slice(1));
    if (port > 65535) return new Invalid(`port ${port} is larger than 65535`);
    return { host, port };
  }
  const colons = text.split(":").length - 1;
  if (colons === 1) {
    const i = text.indexOf(":");
    const p = text.slice(i + 1);
    if (!/^[0-9]{1,5}$/.test(p)) return new Invalid(`bad port "${p}"`);
    const port = Number(p);
    if (port > 65535) return new Invalid(`port ${port} is larger than 65535`);
    return { host: text.slice(0, i), port };
  }
  return { host: text };
}

/** True for a syntactically valid domain name (letters, digits, `-`, `_`, dots). */
export function isDomainName(text: string): boolean {
  if (text.length === 0 || text.length > 253) return false;
  const t = text.endsWith(".") ? text.slice(0, -1) : text;
  return t.split(".").every((l) => /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(l));
}

/**
 * Parses a listen address such as Clash API's `external_controller`: `host:port`, `[v6]:port` or
 * `:port` (all addresses).
 */
export function parseListenAddress(value: string): { hostname: string; port: number } | Invalid {
  const i = value.lastIndexOf(":");
  const portText = value.slice(i + 1);
  const port = Number(portText);
  if (i < 0 || portText === "" || !Number.isInteger(port) || port < 0 || port > 65535) {
    return new Invalid("expected host:port, e.g. 127.0.0.1:9090");
  }
  let hostname = value.slice(0, i);
  if (hostname.startsWith("[") && hostname.endsWith("]")) hostname = hostname.slice(1, -1);
  return { hostname: hostname === "" ? "0.0.0.0" : hostname, port };
}

/** Why `name` cannot be an HTTP header name in a request tunbox writes, or undefined. */
export function headerNameProblem(name: string): string | undefined {
  if (name === "") return "empty header name";
  if (/[\r\n:]/.test(name)) return `invalid header name ${JSON.stringify(name)}`;
  return undefined;
}

/** Why `value` cannot be an HTTP header value in a request tunbox writes, or undefined. */
export function headerValueProblem(value: string): string | undefined {
  return /[\r\n]/.test(value) ? "value contains a line break" : undefined;
}

/**
 * Why `p` cannot be a FakeIP range, or undefined: a range needs at least 4 addresses (the base,
 * the first cursor, one usable address and the broadcast).
 */
export function fakeIpRangeProblem(p: Prefix): string | undefined {
  const len = p.addr.length;
  if (p.bits > len * 8 - 2) return "is too small: it needs at least 4 addresses";
  return undefined;
}

/** Why `url` cannot be a urltest URL (an http or https URL), or undefined. */
export function testUrlProblem(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `cannot parse ${JSON.stringify(url)}`;
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    return `${JSON.stringify(u.href)} is not an http or https URL`;
  }
  return undefined;
}
