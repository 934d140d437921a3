/**
 * A minimal subset of sing-box's Clash API (`experimental.clash_api.external_controller`),
 * served on the main thread with `Deno.serve`:
 *
 * | endpoint | answer |
 * |---|---|
 * | `GET /` | `{"hello":"clash"}` |
 * | `GET /version` | `{"version":"tunbox X","premium":true,"meta":true}` |
 * | `GET /connections` | `{downloadTotal, uploadTotal, connections: [], memory, closed: [...]}` |
 *
 * Connection entries have sing-box's shape (`id`, `metadata{network,type,sourceIP,...}`,
 * `upload`, `download`, `start`, `chains`, `rule`, `rulePayload`). Packet workers report a
 * connection when it closes, so `connections` (open connections in sing-box) stays empty and
 * the tunbox extension `closed` lists the most recent closed ones (oldest first, with `end`
 * and `error`); the totals count closed connections since start.
 *
 * `secret` is checked as sing-box does (`Authorization: Bearer <secret>`, or `?token=`);
 * `access_control_allow_origin` sets the CORS header (default `*`). Every other path is a
 * 404 with `{"message": ...}`.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import denoJson from "../../deno.json" with { type: "json" };
import type { ClashApiOptions } from "../config/types.ts";
import type { ConnectionRecord } from "../tun/worker_protocol.ts";

const log = getLogger(["tunbox", "api"]);

/** How many closed connections `GET /connections` keeps. */
export const MAX_CLOSED = 500;

/** One connection as sing-box's Clash API reports it (plus tunbox's `end` and `error`). */
export interface ClashConnection {
  id: string;
  metadata: {
    network: "tcp" | "udp";
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

/** Splits `addr:port` / `[v6]:port` / `?:port` (the records' endpoint form). */
export function splitEndpoint(endpoint: string): { ip: string; port: string } {
  const i = endpoint.lastIndexOf(":");
  if (i < 0) return { ip: endpoint, port: "" };
  let ip = endpoint.slice(0, i);
  if (ip.startsWith("[") && ip.endsWith("]")) ip = ip.slice(1, -1);
  if (ip === "?") ip = "";
  return { ip, port: endpoint.slice(i + 1) };
}

/**
 * The rule as sing-box's Clash API names it: `final` for the final outbound, otherwise the
 * rule and its action (`ip_is_private=true => route(direct)`), from a record's rule text
 * (`final => route(proxy)`, `match[0] ip_is_private=true => route(direct)`).
 */
export function clashRule(recordRule: string): string {
  if (recordRule === "final" || recordRule.startsWith("final ")) return "final";
  return recordRule.replace(/^match\[\d+\]\s*/, "");
}

/** Converts a connection record to its Clash API form; `type` is `<inbound type>/<tag>`. */
export function toClashConnection(rec: ConnectionRecord, type: string): ClashConnection {
  const src = splitEndpoint(rec.source);
  const dst = splitEndpoint(rec.destination);
  const out: ClashConnection = {
    id: String(rec.id),
    metadata: {
      network: rec.network,
      type,
      sourceIP: src.ip,
      destinationIP: dst.ip,
      sourcePort: src.port,
      destinationPort: dst.port,
      host: rec.domain ?? "",
      dnsMode: "normal",
      processPath: "",
    },
    upload: rec.upload,
    download: rec.download,
    start: new Date(rec.start).toISOString(),
    chains: rec.outbound ? [rec.outbound] : [],
    rule: clashRule(rec.rule),
    rulePayload: "",
  };
  if (rec.end !== undefined) out.end = new Date(rec.end).toISOString();
  if (rec.error !== undefined) out.error = rec.error;
  return out;
}

/** Parses `external_controller`: `host:port`, `[v6]:port` or `:port` (all addresses). */
export function parseController(value: string): { hostname: string; port: number } {
  const i = value.lastIndexOf(":");
  const port = Number(value.slice(i + 1));
  if (i < 0 || !Number.isInteger(port) || port < 0 || port > 65535 || value.slice(i + 1) === "") {
    throw new RangeError(
      `Cannot parse external_controller "${value}": expected host:port, e.g. 127.0.0.1:9090`,
    );
  }
  let hostname = value.slice(0, i);
  if (hostname.startsWith("[") && hostname.endsWith("]")) hostname = hostname.slice(1, -1);
  return { hostname: hostname === "" ? "0.0.0.0" : hostname, port };
}

/** Connection state behind the API: totals and the closed-connection ring. */
export class ClashState {
  uploadTotal = 0;
  downloadTotal = 0;
  readonly closed: ClashConnection[] = [];

  /** Adds a closed connection (from a worker report). */
  record(rec: ConnectionRecord, type: string): void {
    this.uploadTotal += rec.upload;
    this.downloadTotal += rec.download;
    this.closed.push(toClashConnection(rec, type));
    if (this.closed.length > MAX_CLOSED) this.closed.splice(0, this.closed.length - MAX_CLOSED);
  }

  snapshot(): ClashConnections {
    return {
      downloadTotal: this.downloadTotal,
      uploadTotal: this.uploadTotal,
      connections: [],
      memory: Deno.memoryUsage().rss,
      closed: [...this.closed],
    };
  }
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
  state: ClashState,
): (req: Request) => Response {
  const origins = options.access_control_allow_origin.length > 0
    ? options.access_control_allow_origin
    : ["*"];
  return (req) => {
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
        return json(state.snapshot(), 200, cors);
    }
    return json({ message: `${url.pathname} is not served by tunbox's Clash API` }, 404, cors);
  };
}

/** The running API server. */
export class ClashApi {
  readonly state = new ClashState();
  #server: Deno.HttpServer<Deno.NetAddr> | undefined;

  private constructor(readonly options: ClashApiOptions) {}

  /**
   * Listens on `external_controller`. Throws when the address cannot be parsed or bound
   * (`start clash-api: listen 127.0.0.1:9090 failed: ...`).
   */
  static start(options: ClashApiOptions): ClashApi {
    const api = new ClashApi(options);
    const where = options.external_controller ?? "";
    const { hostname, port } = parseController(where);
    try {
      api.#server = Deno.serve(
        { hostname, port, onListen: () => {} },
        clashHandler(options, api.state),
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
