/**
 * A minimal subset of sing-box's Clash API (`experimental.clash_api.external_controller`),
 * served on the main thread with `Deno.serve`:
 *
 * | endpoint | answer |
 * |---|---|
 * | `GET /` | `{"hello":"clash"}` |
 * | `GET /version` | `{"version":"tunbox X","premium":true,"meta":true}` |
 * | `GET /connections` | `{downloadTotal, uploadTotal, connections: [...], memory, closed: [...]}` |
 *
 * Connection entries have sing-box's shape (`id`, `metadata{network,type,sourceIP,...}`,
 * `upload`, `download`, `start`, `chains`, `rule`, `rulePayload`), made from the records of the
 * {@linkcode ConnectionHub}: `connections` lists the live ones with current counters (the hub
 * asks every worker for a report first), the tunbox extension `closed` the most recent closed
 * ones (oldest first, with `end` and `error`); the totals count every connection since start.
 *
 * `secret` is checked as sing-box does (`Authorization: Bearer <secret>`, or `?token=`);
 * `access_control_allow_origin` sets the CORS header (default `*`). Every other path is a
 * 404 with `{"message": ...}`.
 *
 * @module
 */

import { Invalid, parseListenAddress } from "../config/values.ts";
import { getLogger } from "@logtape/logtape";
import denoJson from "../../deno.json" with { type: "json" };
import type { ClashApiOptions } from "../config/types.ts";
import type { ConnectionHub, HubSnapshot } from "../conn/hub.ts";
import type { ConnRecord } from "../conn/record.ts";

const log = getLogger(["tunbox", "api"]);

/** One connection as sing-box's Clash API reports it (plus tunbox's `end` and `error`). */
export interface ClashConnection {
  id: string;
  metadata: {
    network: "tcp" | "udp" | "icmp";
    type: string;
    sourceIP: string;
    destinationIP: string;
    sourcePort: string;
    destinationPort: string;
    host: string;
    dnsMode: string;
    processPath: string;
  };
  upload: number;
  download: number;
  start: string;
  chains: string[];
  rule: string;
  rulePayload: string;
  /** tunbox: when it closed (RFC 3339). */
  end?: string;
  /** tunbox: why it failed, when it did. */
  error?: string;
}

/** The `GET /connections` snapshot. */
export interface ClashConnections {
  downloadTotal: number;
  uploadTotal: number;
  connections: ClashConnection[];
  memory: number;
  /** tunbox: recently closed connections, oldest first. */
  closed: ClashConnection[];
}

/** The chain a record shows: its outbounds, or what took the connection instead. */
function chainsOf(rec: ConnRecord): string[] {
  if (rec.chain.length > 0) return [...rec.chain];
  if (rec.action === "reject") return ["reject"];
  if (rec.action === "hijack-dns") return ["dns"];
  return [];
}

/** Converts a connection record to its Clash API form (sing-box's `TrackerMetadata` JSON). */
export function toClashConnection(rec: ConnRecord): ClashConnection {
  const out: ClashConnection = {
    id: String(rec.id),
    metadata: {
      network: rec.network,
      type: rec.inbound !== "" ? `${rec.inboundType}/${rec.inbound}` : rec.inboundType,
      sourceIP: rec.sourceIp,
      destinationIP: rec.destinationIp,
      sourcePort: String(rec.sourcePort),
      destinationPort: String(rec.destinationPort),
      host: rec.domain !== "" ? rec.domain : rec.destinationHost,
      dnsMode: "normal",
      processPath: "",
    },
    upload: rec.upload,
    download: rec.download,
    start: new Date(rec.start).toISOString(),
    chains: chainsOf(rec),
    rule: rec.rule,
    rulePayload: "",
  };
  if (rec.end !== undefined) out.end = new Date(rec.end).toISOString();
  if (rec.error !== undefined) out.error = rec.error;
  return out;
}

/** The `GET /connections` body from the hub's state. */
export function clashConnections(snap: HubSnapshot): ClashConnections {
  return {
    downloadTotal: snap.downloadTotal,
    uploadTotal: snap.uploadTotal,
    connections: snap.live.map(toClashConnection),
    memory: Deno.memoryUsage().rss,
    closed: snap.closed.map(toClashConnection),
  };
}

/** Parses `external_controller`: `host:port`, `[v6]:port` or `:port` (all addresses). */
export function parseController(value: string): { hostname: string; port: number } {
  // The same parser `check` uses (src/config/), so what it accepts listens here.
  const r = parseListenAddress(value);
  if (r instanceof Invalid) {
    throw new RangeError(`Cannot parse external_controller "${value}": ${r.reason}`);
  }
  return r;
}

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

/** The request handler (exported for tests; {@linkcode ClashApi} serves it). */
export function clashHandler(
  options: ClashApiOptions,
  hub: ConnectionHub,
): (req: Request) => Promise<Response> {
  const origins = options.access_control_allow_origin.length > 0
    ? options.access_control_allow_origin
    : ["*"];
  return async (req) => {
    const url = new URL(req.url);
    const origin = req.headers.get("origin");
    const cors: Record<string, string> = {};
    if (origins.includes("*")) cors["access-control-allow-origin"] = "*";
    else if (origin !== null && origins.includes(origin)) {
      cors["access-control-allow-origin"] = origin;
      cors["vary"] = "Origin";
    }
    if (req.method === "OPTIONS") {
      const h: Record<string, string> = {
        ...cors,
        "access-control-allow-methods": "GET, POST, PUT, PATCH, DELETE",
        "access-control-allow-headers": "Content-Type, Authorization",
      };
      if (options.access_control_allow_private_network) {
        h["access-control-allow-private-network"] = "true";
      }
      return new Response(null, { status: 204, headers: h });
    }
    if (options.secret) {
      const auth = req.headers.get("authorization") ?? "";
      const token = url.searchParams.get("token");
      if (auth !== `Bearer ${options.secret}` && token !== options.secret) {
        return json({ message: "Unauthorized" }, 401, cors);
      }
    }
    if (req.method !== "GET") return json({ message: "Method Not Allowed" }, 405, cors);
    switch (url.pathname) {
      case "/":
        return json({ hello: "clash" }, 200, cors);
      case "/version":
        return json(
          { version: `tunbox ${denoJson.version}`, premium: true, meta: true },
          200,
          cors,
        );
      case "/connections":
        await hub.refresh();
        return json(clashConnections(hub.snapshot()), 200, cors);
    }
    return json({ message: `${url.pathname} is not served by tunbox's Clash API` }, 404, cors);
  };
}

/** The running API server. */
export class ClashApi {
  #server: Deno.HttpServer<Deno.NetAddr> | undefined;

  private constructor(readonly options: ClashApiOptions, readonly hub: ConnectionHub) {}

  /**
   * Listens on `external_controller`. Throws when the address cannot be parsed or bound
   * (`start clash-api: listen 127.0.0.1:9090 failed: ...`).
   */
  static start(options: ClashApiOptions, hub: ConnectionHub): ClashApi {
    const api = new ClashApi(options, hub);
    const where = options.external_controller ?? "";
    const { hostname, port } = parseController(where);
    try {
      api.#server = Deno.serve(
        { hostname, port, onListen: () => {} },
        clashHandler(options, hub),
      );
    } catch (e) {
      throw new Error(
        `start clash-api: listen ${where} failed: ${e instanceof Error ? e.message : String(e)}`,
        { cause: e },
      );
    }
    log.info("clash-api: listening on {address}", { address: api.address });
    return api;
  }

  /** `host:port` it listens on. */
  get address(): string {
    const a = this.#server?.addr;
    if (!a) return "";
    return a.hostname.includes(":") ? `[${a.hostname}]:${a.port}` : `${a.hostname}:${a.port}`;
  }

  /** Stops listening (idempotent). */
  async close(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (s) await s.shutdown();
  }
}
