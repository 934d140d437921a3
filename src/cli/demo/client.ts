/**
 * `tunbox demo client` (internal): the traffic of the demo, started by `tunbox demo` inside
 * the client namespace (`--netns`), where tunbox's TUN carries it. Runs the checks, then asks
 * tunbox's Clash API (`GET /version`, `GET /connections`) for the connections it saw, and
 * prints one JSON {@linkcode ClientReport} on stdout.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import dgram from "node:dgram";
import { decodePacket, encodePacket } from "../../net/dns/packet.ts";
import type { ClashConnection, ClashConnections } from "../../api/clash_api.ts";
import { httpGet } from "./http_get.ts";
import { demoPayload, sha256Hex } from "./payload.ts";
import { FETCH, THROUGHPUT_SECONDS, TOPOLOGY } from "./topology.ts";

/** One check of the demo. */
export interface DemoCheck {
  id: "dns" | "http" | "direct" | "throughput";
  /** What was tried, in a few words. */
  title: string;
  ok: boolean;
  /** What was seen (or what went wrong). */
  detail: string;
  network: "tcp" | "udp";
  /** The client socket's local port (to find it among tunbox's connections). */
  localPort?: number;
  /** The throughput run's result. */
  mbps?: number;
}

/** What the client prints. */
export interface ClientReport {
  checks: DemoCheck[];
  apiVersion?: string;
  apiError?: string;
  /** Closed connections tunbox reported (`closed` of `GET /connections`). */
  connections: ClashConnection[];
  uploadTotal: number;
  downloadTotal: number;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** One UDP DNS query for `name` A to `server:53`, answered within `timeoutMs` (2 tries). */
async function dnsCheck(): Promise<DemoCheck> {
  const check: DemoCheck = {
    id: "dns",
    title: `DNS over UDP: ${TOPOLOGY.dnsName} A @${TOPOLOGY.dns}`,
    ok: false,
    detail: "",
    network: "udp",
  };
  const sock = dgram.createSocket("udp4");
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once("error", reject);
      sock.bind(0, "0.0.0.0", () => resolve());
    });
    check.localPort = sock.address().port;
    const id = Math.floor(Math.random() * 65535);
    const query = encodePacket({
      id,
      type: "query",
      flags: 0x0100, // RD
      questions: [{ type: "A", name: TOPOLOGY.dnsName }],
    });
    const started = performance.now();
    for (let attempt = 0; attempt < 2 && !check.ok; attempt++) {
      const reply = new Promise<Buffer | null>((resolve) => {
        const timer = setTimeout(() => resolve(null), 2000);
        sock.once("message", (msg: Buffer) => {
          clearTimeout(timer);
          resolve(msg);
        });
      });
      sock.send(query, 53, TOPOLOGY.dns);
      const msg = await reply;
      if (!msg) {
        check.detail = "no answer within 2 s";
        continue;
      }
      const answer = decodePacket(msg);
      const a = answer.answers?.find((r) => r.type === "A");
      const data = a?.data === undefined ? "" : String(a.data);
      const ms = Math.round(performance.now() - started);
      check.ok = answer.id === id && data === TOPOLOGY.web;
      check.detail = check.ok
        ? `answer ${data} in ${ms} ms (through the SOCKS server's UDP ASSOCIATE)`
        : `unexpected answer ${JSON.stringify(data)} (id ${answer.id}, sent ${id})`;
    }
  } catch (e) {
    check.detail = message(e);
  } finally {
    sock.close();
  }
  return check;
}

async function fetchCheck(): Promise<DemoCheck> {
  const mib = FETCH.size / (1024 * 1024);
  const check: DemoCheck = {
    id: "http",
    title: `HTTP fetch of ${mib} MiB from ${TOPOLOGY.web}`,
    ok: false,
    detail: "",
    network: "tcp",
  };
  try {
    const r = await httpGet(TOPOLOGY.web, 80, `/file?size=${FETCH.size}&seed=${FETCH.seed}`, {
      keepBody: true,
    });
    check.localPort = r.localPort;
    if (r.status !== 200 || !r.body) {
      check.detail = `HTTP status ${r.status}`;
      return check;
    }
    const got = await sha256Hex(r.body);
    const want = await sha256Hex(demoPayload(FETCH.size, FETCH.seed));
    const peer = r.headers.get("x-peer") ?? "?";
    if (got !== want) {
      check.detail = `SHA-256 ${got.slice(0, 16)}… differs from the expected ${want.slice(0, 16)}…`;
    } else if (peer !== TOPOLOGY.clientSocksEgress) {
      check.detail = `SHA-256 matches, but the far side saw ${peer}, not the SOCKS server's ` +
        `egress ${TOPOLOGY.clientSocksEgress}`;
    } else {
      check.ok = true;
      check.detail = `SHA-256 ${got.slice(0, 16)}… matches; the far side saw ${peer} ` +
        "(the SOCKS server's egress)";
    }
  } catch (e) {
    check.detail = message(e);
  }
  return check;
}

async function directCheck(): Promise<DemoCheck> {
  const check: DemoCheck = {
    id: "direct",
    title: `Direct rule: HTTP ${TOPOLOGY.directServer}/ip`,
    ok: false,
    detail: "",
    network: "tcp",
  };
  try {
    const r = await httpGet(TOPOLOGY.directServer, 80, "/ip", { keepBody: true });
    check.localPort = r.localPort;
    const seen = new TextDecoder().decode(r.body ?? new Uint8Array());
    check.ok = r.status === 200 && seen === TOPOLOGY.clientDirect;
    check.detail = check.ok
      ? `the far side saw ${seen} (the direct outbound, bound to ${TOPOLOGY.clientLink})`
      : `status ${r.status}, the far side saw ${
        JSON.stringify(seen)
      }, expected ${TOPOLOGY.clientDirect}`;
  } catch (e) {
    check.detail = message(e);
  }
  return check;
}

async function throughputCheck(): Promise<DemoCheck> {
  const check: DemoCheck = {
    id: "throughput",
    title: `Throughput: ${THROUGHPUT_SECONDS} s download from ${TOPOLOGY.web}`,
    ok: false,
    detail: "",
    network: "tcp",
  };
  try {
    const r = await httpGet(TOPOLOGY.web, 80, "/stream", {
      stopAfterMs: THROUGHPUT_SECONDS * 1000,
      timeoutMs: THROUGHPUT_SECONDS * 1000 + 10_000,
    });
    check.localPort = r.localPort;
    const mbps = r.bodyBytes * 8 / r.bodySeconds / 1e6;
    check.mbps = Math.round(mbps * 10) / 10;
    check.ok = r.status === 200 && r.bodyBytes > 0;
    check.detail = `${(r.bodyBytes / 1e6).toFixed(1)} MB in ${r.bodySeconds.toFixed(1)} s: ` +
      `${check.mbps} Mbit/s`;
  } catch (e) {
    check.detail = message(e);
  }
  return check;
}

/** Finds the record of a check's connection: same network, same client port. */
export function findConnection(
  conns: readonly ClashConnection[],
  check: Pick<DemoCheck, "network" | "localPort">,
): ClashConnection | undefined {
  if (check.localPort === undefined) return undefined;
  return conns.find((c) =>
    c.metadata.network === check.network && c.metadata.sourcePort === String(check.localPort)
  );
}

/** Runs every check and queries the API; the report is printed as JSON by the command. */
export async function runClient(apiAddress: string, waitMs = 10_000): Promise<ClientReport> {
  const checks = [await dnsCheck(), await fetchCheck(), await directCheck()];
  checks.push(await throughputCheck());
  const report: ClientReport = { checks, connections: [], uploadTotal: 0, downloadTotal: 0 };
  const base = `http://${apiAddress}`;
  try {
    const v = await (await fetch(`${base}/version`)).json() as { version?: string };
    report.apiVersion = v.version ?? "";
    // Workers report a connection after it closes (TCP at once, UDP after the idle timeout),
    // once a second: wait until every check's connection is there.
    const deadline = Date.now() + waitMs;
    for (;;) {
      const snap = await (await fetch(`${base}/connections`)).json() as ClashConnections;
      report.connections = snap.closed;
      report.uploadTotal = snap.uploadTotal;
      report.downloadTotal = snap.downloadTotal;
      const missing = checks.filter((c) =>
        c.localPort !== undefined && !findConnection(snap.closed, c)
      );
      if (missing.length === 0 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 250));
    }
  } catch (e) {
    report.apiError = `Clash API at ${apiAddress}: ${message(e)}`;
  }
  return report;
}

/** `tunbox demo client [--api host:port]`: prints the report as one JSON line. */
export async function clientCommand(args: string[]): Promise<number> {
  const i = args.indexOf("--api");
  const api = i >= 0 && args[i + 1] ? args[i + 1]! : TOPOLOGY.apiAddress;
  const report = await runClient(api);
  console.log(JSON.stringify(report));
  return 0;
}
