/**
 * Probing local proxies with real handshakes (for `tunbox init` and `tunbox doctor`):
 *
 * - SOCKS5: the greeting offers "no authentication" and "username/password" (RFC 1928 §3); the
 *   method the server picks says whether it needs credentials (RFC 1929, tried when known);
 * - UDP ASSOCIATE (RFC 1928 §4, §7): the reply code says whether the proxy relays UDP; with a
 *   `udpCheck`, one DNS query goes through the relay and an answer must come back (a proxy may
 *   accept the command and still drop every datagram);
 * - HTTP: a `CONNECT` to 127.0.0.1:9 (nothing is reached off this machine); any `HTTP/1.x`
 *   status line means an HTTP proxy, 407 that it needs credentials.
 *
 * A port that answers both is `mixed` (Clash's mixed-port, sing-box's mixed inbound).
 *
 * @module
 */

import { createSocket } from "node:dgram";
import { connect, type Socket } from "node:net";
import { Buffer } from "node:buffer";
import { formatIp, parseIp } from "../net/ip.ts";

/** The ports local proxy clients use by default. */
export const USUAL_PORTS: readonly number[] = [
  1080, // V2rayU, V2Ray, ss-local, dante
  1081,
  1086, // V2rayU HTTP (old), ShadowsocksX-NG
  1087, // V2rayU HTTP
  7890, // Clash mixed/HTTP
  7891, // Clash SOCKS
  7897, // Clash Verge Rev mixed
  10808, // v2rayN SOCKS
  10809, // v2rayN HTTP
  2080, // sing-box mixed (GUI clients)
  2081,
  20170, // v2rayA SOCKS
  20171, // v2rayA HTTP
  20172, // v2rayA mixed
  8889, // Qv2ray HTTP
  9050, // Tor
];

/** What a UDP check sends through the relay and how an answer is recognised. */
export interface UdpCheck {
  /** The datagram's destination (an IP literal) and port. */
  host: string;
  port: number;
  payload: Uint8Array;
  /** True when `reply` answers `payload`. */
  accepts(reply: Uint8Array): boolean;
}

/** Result of probing one port. */
export interface ProbeResult {
  host: string;
  port: number;
  kind: "socks5" | "http" | "mixed" | "unknown";
  /** SOCKS5 authentication: `none`, `userpass` (credentials needed), `refused` (no method). */
  socksAuth: "none" | "userpass" | "refused" | null;
  /** Whether credentials were tried and accepted (RFC 1929), when they were needed. */
  authOk: boolean | null;
  /** HTTP: the proxy answered 407. */
  httpAuth: boolean | null;
  /**
   * UDP ASSOCIATE: `works` (a datagram came back), `accepted` (the command succeeded, no
   * datagram was sent), `silent` (accepted, but nothing came back), `refused` (reply code),
   * `untested` (no SOCKS5 or no credentials).
   */
  udp: "works" | "accepted" | "silent" | "refused" | "untested";
  /** Plain-language detail for UDP (the reply code, the relay address, ...). */
  udpDetail: string;
}

/** Options for {@linkcode probePort}. */
export interface ProbeOptions {
  timeoutMs?: number;
  credentials?: { username: string; password: string };
  udpCheck?: UdpCheck;
}

/** A TCP connection with a read buffer and a deadline on each read. */
class Conn {
  #buf = Buffer.alloc(0);
  #waiters: (() => void)[] = [];
  #closed = false;
  private constructor(readonly sock: Socket, readonly timeoutMs: number) {
    sock.on("data", (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      this.#wake();
    });
    sock.on("close", () => {
      this.#closed = true;
      this.#wake();
    });
    sock.on("error", () => {
      this.#closed = true;
      this.#wake();
    });
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /** Connects; null when refused or timed out. */
  static open(host: string, port: number, timeoutMs: number): Promise<Conn | null> {
    return new Promise((resolve) => {
      const sock = connect({ host, port });
      const timer = setTimeout(() => {
        sock.destroy();
        resolve(null);
      }, timeoutMs);
      sock.once("connect", () => {
        clearTimeout(timer);
        resolve(new Conn(sock, timeoutMs));
      });
      sock.once("error", () => {
        clearTimeout(timer);
        resolve(null);
      });
    });
  }

  write(bytes: Uint8Array | string): void {
    this.sock.write(bytes);
  }

  /** Reads at least `n` bytes (or up to a CRLFCRLF with n = -1); null on close or timeout. */
  async read(n: number): Promise<Uint8Array | null> {
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      if (n >= 0 && this.#buf.length >= n) {
        const out = this.#buf.subarray(0, n);
        this.#buf = this.#buf.subarray(n);
        return new Uint8Array(out);
      }
      if (n < 0) {
        const i = this.#buf.indexOf("\r\n");
        if (i >= 0) {
          const out = this.#buf.subarray(0, i);
          this.#buf = this.#buf.subarray(i + 2);
          return new Uint8Array(out);
        }
      }
      if (this.#closed) return null;
      const left = deadline - Date.now();
      if (left <= 0) return null;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        timer = setTimeout(r, left);
      });
      clearTimeout(timer);
    }
  }

  close(): void {
    this.sock.destroy();
  }
}

const REP_TEXT: Record<number, string> = {
  1: "general failure",
  2: "not allowed by the proxy's rules",
  3: "network unreachable",
  4: "host unreachable",
  5: "connection refused",
  7: "command not supported",
  8: "address type not supported",
};

/** Runs the SOCKS5 greeting (and RFC 1929 login); returns the chosen method or null. */
async function socksHello(
  c: Conn,
  credentials: ProbeOptions["credentials"],
): Promise<{ method: number; authOk: boolean | null } | null> {
  c.write(new Uint8Array([5, 2, 0, 2]));
  const reply = await c.read(2);
  if (!reply || reply[0] !== 5) return null;
  const method = reply[1]!;
  if (method !== 2) return { method, authOk: null };
  if (!credentials) return { method, authOk: null };
  const u = new TextEncoder().encode(credentials.username);
  const p = new TextEncoder().encode(credentials.password);
  c.write(new Uint8Array([1, u.length, ...u, p.length, ...p]));
  const auth = await c.read(2);
  return { method, authOk: auth !== null && auth[1] === 0 };
}

/** Reads a SOCKS5 reply: code and bound address. */
async function socksReply(c: Conn): Promise<{ rep: number; addr: string; port: number } | null> {
  const head = await c.read(4);
  if (!head || head[0] !== 5) return null;
  const atyp = head[3];
  let addr = "";
  if (atyp === 1) {
    const a = await c.read(4);
    if (!a) return null;
    addr = formatIp(a);
  } else if (atyp === 4) {
    const a = await c.read(16);
    if (!a) return null;
    addr = formatIp(a);
  } else if (atyp === 3) {
    const len = await c.read(1);
    if (!len) return null;
    const name = await c.read(len[0]!);
    if (!name) return null;
    addr = new TextDecoder().decode(name);
  } else return null;
  const port = await c.read(2);
  if (!port) return null;
  return { rep: head[1]!, addr, port: (port[0]! << 8) | port[1]! };
}

/** Sends `check` through the relay; true when an accepted answer comes back in time. */
function udpRoundTrip(
  relayHost: string,
  relayPort: number,
  check: UdpCheck,
  timeoutMs: number,
): Promise<boolean> {
  const dest = parseIp(check.host);
  if (!dest) return Promise.resolve(false);
  const family = relayHost.includes(":") ? "udp6" : "udp4";
  return new Promise((resolve) => {
    const sock = createSocket(family);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      try {
        sock.close();
      } catch { /* closed */ }
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.on("error", () => done(false));
    sock.on("message", (msg: Buffer) => {
      // RSV RSV FRAG ATYP ADDR PORT DATA
      if (msg.length < 4 || msg[2] !== 0) return;
      const atyp = msg[3];
      const skip = atyp === 1 ? 10 : atyp === 4 ? 22 : atyp === 3 ? 7 + msg[4]! : -1;
      if (skip < 0 || msg.length < skip) return;
      if (check.accepts(new Uint8Array(msg.subarray(skip)))) done(true);
    });
    const header = new Uint8Array([
      0,
      0,
      0,
      dest.length === 4 ? 1 : 4,
      ...dest,
      check.port >> 8,
      check.port & 0xff,
    ]);
    const packet = new Uint8Array(header.length + check.payload.length);
    packet.set(header);
    packet.set(check.payload, header.length);
    sock.send(packet, relayPort, relayHost);
  });
}

/** Probes one port; null when nothing listens there. */
export async function probePort(
  host: string,
  port: number,
  options: ProbeOptions = {},
): Promise<ProbeResult | null> {
  const timeoutMs = options.timeoutMs ?? 1500;
  const result: ProbeResult = {
    host,
    port,
    kind: "unknown",
    socksAuth: null,
    authOk: null,
    httpAuth: null,
    udp: "untested",
    udpDetail: "",
  };
  // SOCKS5 greeting.
  const c = await Conn.open(host, port, timeoutMs);
  if (!c) return null;
  let socks = false;
  try {
    const hello = await socksHello(c, options.credentials);
    if (hello) {
      socks = true;
      result.socksAuth = hello.method === 0 ? "none" : hello.method === 2 ? "userpass" : "refused";
      result.authOk = hello.authOk;
    }
  } finally {
    c.close();
  }
  // HTTP CONNECT to the discard port on loopback: nothing leaves this machine.
  const h = await Conn.open(host, port, timeoutMs);
  let http = false;
  if (h) {
    try {
      h.write("CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n");
      const line = await h.read(-1);
      const text = line ? new TextDecoder().decode(line) : "";
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      if (m) {
        http = true;
        result.httpAuth = m[1] === "407";
      }
    } finally {
      h.close();
    }
  }
  result.kind = socks && http ? "mixed" : socks ? "socks5" : http ? "http" : "unknown";
  if (socks && (result.socksAuth === "none" || result.authOk === true)) {
    await probeUdp(result, options, timeoutMs);
  } else if (socks) {
    result.udpDetail = result.socksAuth === "userpass"
      ? "needs a username and password to test"
      : "the proxy accepts no authentication method tunbox offers";
  }
  return result;
}

async function probeUdp(result: ProbeResult, options: ProbeOptions, timeoutMs: number) {
  const c = await Conn.open(result.host, result.port, timeoutMs);
  if (!c) return;
  try {
    const hello = await socksHello(c, options.credentials);
    if (!hello || (hello.method !== 0 && hello.authOk !== true)) return;
    c.write(new Uint8Array([5, 3, 0, 1, 0, 0, 0, 0, 0, 0]));
    const reply = await socksReply(c);
    if (!reply) {
      result.udp = "refused";
      result.udpDetail = "the proxy closed the connection on UDP ASSOCIATE";
      return;
    }
    if (reply.rep !== 0) {
      result.udp = "refused";
      result.udpDetail = `the proxy answered UDP ASSOCIATE with 0x${
        reply.rep.toString(16).padStart(2, "0")
      } (${REP_TEXT[reply.rep] ?? "unassigned"})`;
      return;
    }
    // An unspecified relay address means "the address you connected to" (RFC 1928 §6).
    const relayHost = reply.addr === "0.0.0.0" || reply.addr === "::" ? result.host : reply.addr;
    if (!options.udpCheck) {
      result.udp = "accepted";
      result.udpDetail = `relay at ${relayHost}:${reply.port}`;
      return;
    }
    const ok = await udpRoundTrip(relayHost, reply.port, options.udpCheck, timeoutMs * 2);
    result.udp = ok ? "works" : "silent";
    result.udpDetail = ok
      ? `a DNS query to ${options.udpCheck.host} came back through the relay ${relayHost}:${reply.port}`
      : `UDP ASSOCIATE succeeded but a DNS query to ${options.udpCheck.host} through the relay ${relayHost}:${reply.port} got no answer`;
  } finally {
    c.close();
  }
}

/** Probes `ports` on `host` in parallel; only ports that answered, in the given order. */
export async function probeLocalProxies(
  ports: readonly number[],
  host = "127.0.0.1",
  options: ProbeOptions = {},
): Promise<ProbeResult[]> {
  const results = await Promise.all(ports.map((p) => probePort(host, p, options)));
  return results.filter((r): r is ProbeResult => r !== null && r.kind !== "unknown");
}

/** A DNS query for `name` (type A, id 0x7462) and a check that a reply answers it. */
export function dnsUdpCheck(server: string, name = "example.com"): UdpCheck {
  const labels = name.split(".").flatMap((l) => {
    const b = new TextEncoder().encode(l);
    return [b.length, ...b];
  });
  const payload = new Uint8Array([
    0x74,
    0x62, // id
    0x01,
    0x00, // RD
    0,
    1, // QDCOUNT
    0,
    0,
    0,
    0,
    0,
    0,
    ...labels,
    0,
    0,
    1, // A
    0,
    1, // IN
  ]);
  return {
    host: server,
    port: 53,
    payload,
    accepts: (r) => r.length >= 12 && r[0] === 0x74 && r[1] === 0x62 && (r[2]! & 0x80) !== 0,
  };
}
