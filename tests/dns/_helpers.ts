/**
 * Test helpers for the DNS module: a small authoritative DNS server on the reactor (UDP and TCP
 * on the same loopback port, messages built with `dns-packet` independently of `src/dns/`),
 * query builders, and a decoded-config builder.
 */

import dnsPacket from "dns-packet";
import { Buffer } from "node:buffer";
import type { SockAddr } from "../../ffi/sockaddr.ts";
import { decodeConfigText } from "../../src/config/decode.ts";
import { decodeRoot } from "../../src/config/decode.ts";
import { Diagnostics } from "../../src/config/diagnostic.ts";
import { parseJsonc } from "../../src/config/jsonc.ts";
import type { Options } from "../../src/config/types.ts";
import type { Reactor } from "../../src/io/reactor.ts";
import { TcpListener, UdpSocket, WOULD_BLOCK } from "../../src/io/socket.ts";
import type { Stream } from "../../src/io/stream.ts";
import { tlsAccept, type TlsServerContext } from "../../src/tls/server.ts";
import { readSome, writeAll } from "../../src/io/handshake_io.ts";
import { type ConnMetadata, newConnMetadata } from "../../src/route/metadata.ts";
import { createDns, type DnsModule, type SharedDnsMemory } from "../../src/dns/mod.ts";
import { builtinOutbounds, createOutbounds } from "../../src/outbound/mod.ts";
import type { DialContext, Outbound } from "../../src/outbound/types.ts";
import { testContext } from "../outbound/_helpers.ts";

export { LOOPBACK, sleep, testContext, within, withReactor } from "../outbound/_helpers.ts";

/** A decoded DNS message (dns-packet's shape, loosely typed for tests). */
// deno-lint-ignore no-explicit-any
export type Msg = any;

/** Decodes a message with dns-packet. */
export function decode(bytes: Uint8Array): Msg {
  return dnsPacket.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

/** Encodes a message with dns-packet. */
export function encode(msg: Msg): Uint8Array {
  const b = dnsPacket.encode(msg);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength).slice();
}

/** A query for `name` of `type` with id `id` (RD set), optionally with an EDNS OPT record. */
export function query(
  name: string,
  type = "A",
  id = 0x4242,
  opts: { edns?: number; additionals?: Msg[] } = {},
): Uint8Array {
  const additionals = opts.additionals ?? [];
  if (opts.edns !== undefined) {
    additionals.push({ type: "OPT", name: ".", udpPayloadSize: opts.edns, flags: 0, options: [] });
  }
  return encode({
    type: "query",
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name }],
    additionals,
  });
}

/** What the test server saw. */
export interface SeenQuery {
  transport: "udp" | "tcp";
  msg: Msg;
  from: SockAddr;
}

/** Returns a response message (dns-packet shape), raw bytes, or null to stay silent. */
export type DnsHandler = (
  q: Msg,
  transport: "udp" | "tcp",
) => Msg | Uint8Array | null | Promise<Msg | Uint8Array | null>;

/** A running test DNS server. */
export interface TestDnsServer {
  port: number;
  addr: Uint8Array;
  queries: SeenQuery[];
  /** TCP connections accepted so far. */
  tcpConnections: number;
  /** Closes every accepted TCP connection (simulates a server closing idle connections). */
  dropTcpConnections(): void;
  close(): void;
}

/** A response to `q` with `answers` (dns-packet records) and `rcode`. */
export function reply(q: Msg, answers: Msg[] = [], rcode = 0, extra: Partial<Msg> = {}): Msg {
  return {
    type: "response",
    id: q.id,
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | rcode,
    questions: q.questions,
    answers,
    ...extra,
  };
}

/**
 * A zone: `name → type → records` (dns-packet answer objects without `name`/`type`, e.g.
 * `{ ttl: 60, data: "192.0.2.1" }`). Unknown names: NXDOMAIN with an SOA (minimum 30 s).
 */
export function zoneHandler(zone: Record<string, Record<string, Msg[]>>): DnsHandler {
  return (q) => {
    const question = q.questions[0];
    const name = String(question.name).toLowerCase();
    const byType = zone[name];
    if (!byType) {
      return reply(q, [], 3, {
        authorities: [{
          type: "SOA",
          name: "test",
          ttl: 3600,
          data: {
            mname: "ns.test",
            rname: "hostmaster.test",
            serial: 1,
            refresh: 60,
            retry: 60,
            expire: 60,
            minimum: 30,
          },
        }],
      });
    }
    const records = (byType[question.type] ?? []).map((r) => ({
      name: question.name,
      type: question.type,
      ...r,
    }));
    return reply(q, records);
  };
}

/** Starts a DNS server (UDP and TCP on one port; default 127.0.0.1, random port). */
export function startDnsServer(
  r: Reactor,
  handler: DnsHandler,
  opts: { addr?: Uint8Array; port?: number; tls?: TlsServerContext } = {},
): TestDnsServer {
  const addr = opts.addr ?? new Uint8Array([127, 0, 0, 1]);
  let udp: UdpSocket | null = null;
  let tcp: TcpListener | null = null;
  const conns = new Set<Stream>();
  const server: TestDnsServer = {
    port: 0,
    addr,
    queries: [],
    tcpConnections: 0,
    dropTcpConnections() {
      for (const c of conns) c.close();
      conns.clear();
    },
    close() {
      udp?.close();
      tcp?.close();
      server.dropTcpConnections();
    },
  };
  for (let attempt = 0; attempt < 20 && !tcp; attempt++) {
    udp = UdpSocket.open(r, 4, {}, { addr, port: opts.port ?? 0 });
    const port = udp.localAddr().port;
    try {
      tcp = new TcpListener(r, { addr, port }, (sock) => {
        if (!opts.tls) return serveTcp(sock);
        // DNS over TLS: the same server behind a TLS handshake.
        server.tcpConnections++;
        tlsAccept(sock, opts.tls, { what: "test DoT server", timeoutMs: 5000 }).then(
          (t) => serveTcp(t, false),
          () => {},
        );
      });
      server.port = port;
    } catch {
      udp.close();
      udp = null;
    }
  }
  if (!udp || !tcp) throw new Error("test DNS server: no free port for UDP and TCP");
  const u = udp;
  const buf = new Uint8Array(65536);
  u.onReadable = () => {
    for (;;) {
      const from: SockAddr = { addr: new Uint8Array(4), port: 0 };
      const n = u.recvFrom(buf, from);
      if (n === WOULD_BLOCK) return;
      const raw = buf.slice(0, n);
      let msg: Msg;
      try {
        msg = decode(raw);
      } catch {
        continue;
      }
      server.queries.push({ transport: "udp", msg, from: { addr: from.addr, port: from.port } });
      Promise.resolve(handler(msg, "udp")).then((out) => {
        if (out === null || u.closed) return;
        u.sendTo(out instanceof Uint8Array ? out : encode(out), from);
      });
    }
  };
  const serveTcp = (sock: Stream, count = true) => {
    if (count) server.tcpConnections++;
    conns.add(sock);
    (async () => {
      const chunk = new Uint8Array(65536);
      let pending = new Uint8Array(0);
      try {
        for (;;) {
          const n = await readSome(sock, chunk, "test dns read");
          if (n === 0) break;
          const merged = new Uint8Array(pending.length + n);
          merged.set(pending);
          merged.set(chunk.subarray(0, n), pending.length);
          pending = merged;
          while (pending.length >= 2) {
            const len = (pending[0]! << 8) | pending[1]!;
            if (pending.length < 2 + len) break;
            const raw = pending.slice(2, 2 + len);
            pending = pending.slice(2 + len);
            const msg = decode(raw);
            server.queries.push({
              transport: "tcp",
              msg,
              from: sock.peerAddr() ?? { addr: new Uint8Array(4), port: 0 },
            });
            const out = await handler(msg, "tcp");
            if (out === null) continue;
            const bytes = out instanceof Uint8Array ? out : encode(out);
            const framed = new Uint8Array(bytes.length + 2);
            framed[0] = bytes.length >> 8;
            framed[1] = bytes.length & 0xff;
            framed.set(bytes, 2);
            await writeAll(sock, framed, "test dns write");
          }
        }
      } catch { /* client went away */ }
      conns.delete(sock);
      sock.close();
    })();
  };
  return server;
}

/** Decodes `text` as a config (JSONC); throws with the diagnostics when it has errors. */
export function config(json: unknown): Options {
  const result = decodeConfigText(JSON.stringify(json), "test.json");
  if (!result.options) {
    throw new Error(`config errors:\n${result.errors.map((e) => e.format()).join("\n")}`);
  }
  return result.options;
}

/**
 * Decodes `json` even when `check` refuses it (the options as far as they decode), to test the
 * DNS module's own refusals, which stand behind `check`'s.
 */
export function configUnchecked(json: unknown): Options {
  const diag = new Diagnostics();
  return decodeRoot(parseJsonc(JSON.stringify(json), "test.json", diag)!, diag, { os: "linux" });
}

/** Builds the DNS module from options `check` may refuse (see {@linkcode configUnchecked}). */
export function makeDnsUnchecked(r: Reactor, json: Record<string, unknown>): DnsModule {
  const options = configUnchecked({ outbounds: [{ type: "direct", tag: "direct" }], ...json });
  const ctx = testContext(r, {});
  const outbounds = createOutbounds(options.outbounds, ctx, options.route, builtinOutbounds());
  return createDns(options, { reactor: r, outbounds, defaultOutbound: "direct", ctx });
}

/** Metadata of a hijacked UDP flow from 10.0.0.2:5353 to 10.0.0.1:53 on inbound `tun-in`. */
export function flowMeta(network: "udp" | "tcp" = "udp", inbound = "tun-in"): ConnMetadata {
  return newConnMetadata({
    id: 7,
    inbound,
    inboundType: "tun",
    network,
    source: { addr: new Uint8Array([10, 0, 0, 2]), port: 5353 },
    destination: { addr: new Uint8Array([10, 0, 0, 1]), port: 53 },
  });
}

/** Answer records of a decoded message as `TYPE data` strings. */
export function answersOf(msg: Msg): string[] {
  return (msg.answers ?? []).map((a: Msg) =>
    `${a.type} ${typeof a.data === "string" ? a.data : JSON.stringify(a.data)}`
  );
}

/** A manual millisecond clock. */
export class FakeClock {
  t = 1_000_000;
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

/** Builds outbounds and the DNS module for a config on reactor `r`. */
export function makeDns(
  r: Reactor,
  json: Record<string, unknown>,
  extra: { now?: () => number; ctx?: Partial<DialContext>; shared?: SharedDnsMemory } = {},
): { dns: DnsModule; options: Options; outbounds: Map<string, Outbound> } {
  const options = config({ outbounds: [{ type: "direct", tag: "direct" }], ...json });
  const ctx = testContext(r, extra.ctx ?? {});
  const outbounds = createOutbounds(options.outbounds, ctx, options.route, builtinOutbounds());
  const defaultOutbound = options.route.final ?? options.outbounds[0]!.tag;
  const dns = createDns(options, {
    reactor: r,
    outbounds,
    defaultOutbound,
    ctx,
    ...(extra.now ? { now: extra.now } : {}),
    ...(extra.shared ? { shared: extra.shared } : {}),
  });
  return { dns, options, outbounds };
}

/** Sends `q` through `dns.handleQuery` as a UDP flow and decodes the answer (null: dropped). */
export async function ask(
  dns: DnsModule,
  q: Uint8Array,
  meta: ConnMetadata = flowMeta(),
): Promise<Msg | null> {
  const out = await dns.handleQuery(q, meta);
  return out === null ? null : decode(out);
}
