/**
 * sing-box's Clash API (`experimental.clash_api`), served on the main thread with `Deno.serve`
 * for dashboards (yacd, metacubexd, zashboard, tunbox's own at `/ui/`) and `tunbox connections`:
 *
 * | endpoint | answer |
 * |---|---|
 * | `GET /` | `{"hello":"clash"}` (a browser asking for HTML is sent to `/ui/`) |
 * | `GET /version` | `{"version":"tunbox X","premium":true,"meta":true}` |
 * | `GET /configs`, `PUT /configs`, `PATCH /configs {"mode"}` | the config; PATCH switches the mode |
 * | `GET /proxies`, `GET /proxies/{name}` | outbounds with Clash types, groups with `now`/`all` |
 * | `PUT /proxies/{name} {"name"}` | selects a selector's member (persisted in the cache file) |
 * | `GET /proxies/{name}/delay?url=&timeout=` | `{"delay": ms}`, 504 on timeout, 503 on failure |
 * | `GET /group`, `/group/{name}`, `/group/{name}/delay` | the groups; a group's member delays |
 * | `GET /connections` | live connections with current counters (+ tunbox's `closed`) |
 * | `DELETE /connections`, `DELETE /connections/{id}` | closes all / one (the client sees a reset) |
 * | `GET /traffic`, `/memory`, `/logs?level=`, `/connections?interval=` | streams (WebSocket or chunked JSON lines) |
 * | `GET /rules` | `{"rules": [{type, payload, proxy}]}` |
 * | `GET /rules/explain?...` | tunbox: how the rules decide a described flow (the router's trace) |
 * | `GET /dns/query?name=&type=` | an answer through the DNS module |
 * | `POST /cache/fakeip/flush`, `POST /cache/dns/flush` | forget FakeIP mappings / cached answers |
 * | `GET /providers/proxies`, `/providers/rules` | `{"providers": {}}` |
 * | `/ui/` | `external_ui`, or the built-in dashboard |
 *
 * `secret` is checked as sing-box does (`Authorization: Bearer <secret>`; `?token=` only on
 * WebSocket requests), in constant time; `access_control_allow_origin` (default `*`) and
 * `access_control_allow_private_network` answer CORS, preflights included. Errors are
 * `{"message": ...}` with sing-box's texts.
 *
 * @module
 */

import { Invalid, parseListenAddress } from "../config/values.ts";
import { getLogger } from "@logtape/logtape";
import denoJson from "../../deno.json" with { type: "json" };
import type { ClashApiOptions, Options } from "../config/types.ts";
import type { ConnectionHub } from "../conn/mod.ts";
import { typeCode } from "../net/dns/packet.ts";
import { parseIp } from "../net/ip.ts";
import { newConnMetadata } from "../route/metadata.ts";
import type { Router, RouteTrace } from "../route/router.ts";
import { authorized, Cors, error, ERRORS, json, jsonStream, noContent } from "./http.ts";
import { type LogFeed, parseLogLevel } from "./logs.ts";
import {
  clashConfig,
  clashConnections,
  clashDnsAnswer,
  clashProxies,
  clashRule,
  type DelayHistory,
  groupMembers,
  listedOutbounds,
  processMemory,
  proxyInfo,
  type ProxyState,
} from "./shapes.ts";
import { UiFiles } from "./ui.ts";
import { type GroupState, type WorkerCall, WorkerCallFailed } from "./worker_call.ts";

export {
  type ClashConnection,
  type ClashConnections,
  clashConnections,
  toClashConnection,
} from "./shapes.ts";

const log = getLogger(["tunbox", "api"]);

/** The default URL of latency tests (sing-box's). */
export const DEFAULT_DELAY_URL = "https://www.gstatic.com/generate_204";

/** What the API needs from the running instance (the `Box` provides it). */
export interface ApiBackend {
  readonly options: Options;
  readonly workingDirectory: string;
  readonly connections: ConnectionHub;
  readonly logs: LogFeed;
  /** The compiled route rules (for `/rules` and `/rules/explain`). */
  readonly router: Router;
  /** The Clash mode now ("" without modes). */
  mode(): string;
  modes(): readonly string[];
  /** Switches the mode; the mode in force, or undefined when unknown. */
  setMode(mode: string): string | undefined;
  /** The member selector `group` uses, or undefined. */
  selected(group: string): string | undefined;
  /** Selects `member` of selector `group` in every worker; false when either is unknown. */
  select(group: string, member: string): boolean;
  /** Runs a request in a worker; rejects with {@linkcode WorkerCallFailed}. */
  workerCall(call: WorkerCall): Promise<unknown>;
  /** Forgets cached DNS answers in every worker. */
  flushDns(): void;
  /** Forgets every FakeIP mapping (shared tables and the cache file). */
  flushFakeIp(): void;
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

/** sing-box's path parameter: percent-decoded when that works, else as it is. */
function param(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Reads a JSON object body; null when it is not one. */
async function body(req: Request): Promise<Record<string, unknown> | null> {
  try {
    const v = await req.json();
    return v !== null && typeof v === "object" && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}

/** `timeout` of a delay test: a positive integer of milliseconds (sing-box: 16-bit for one). */
function parseTimeout(text: string | null, max: number): number | null {
  if (text === null || !/^\d+$/.test(text)) return null;
  const n = Number(text);
  return n > 0 && n <= max ? n : null;
}

/** The API's state and routes (see the module description). */
export class ClashApiHandler {
  readonly #cors: Cors;
  readonly #ui: UiFiles;
  /** Latency test results by outbound tag (sing-box's URL test history). */
  readonly #history = new Map<string, DelayHistory>();
  /** Ends each open stream (WebSocket or chunked), for shutdown. */
  readonly streams = new Set<() => void>();

  constructor(readonly options: ClashApiOptions, readonly backend: ApiBackend) {
    this.#cors = new Cors(options);
    this.#ui = UiFiles.forOption(options.external_ui, backend.workingDirectory);
  }

  /** Whether `/ui/` serves `external_ui` (else the built-in dashboard). */
  get externalUi(): boolean {
    return this.#ui.external;
  }

  /** The request handler. */
  handle = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    if (req.method === "OPTIONS" && req.headers.has("access-control-request-method")) {
      return this.#cors.preflight(req);
    }
    const origin = req.headers.get("origin");
    let res: Response;
    try {
      res = await this.#route(req, url);
    } catch (e) {
      log.error("clash-api: {method} {path} failed: {error}", {
        method: req.method,
        path: url.pathname,
        error: e instanceof Error ? e.message : String(e),
      });
      res = error(500, e instanceof Error ? e.message : String(e));
    }
    return this.#cors.apply(origin, res);
  };

  async #route(req: Request, url: URL): Promise<Response> {
    const path = url.pathname;
    if (path === "/ui") return Response.redirect(new URL("/ui/", url), 301);
    if (path.startsWith("/ui/")) return await this.#ui.serve(path.slice(4), req.method);
    if (!authorized(req, url, this.options.secret)) return error(401, ERRORS.unauthorized);
    const parts = path.split("/").filter((p) => p !== "").map(param);
    const [head, name, tail] = parts;
    const m = req.method;
    if (parts.length === 0) {
      if (m !== "GET") return error(405, "Method Not Allowed");
      const accept = req.headers.get("accept") ?? "";
      if (accept.includes("text/html")) return Response.redirect(new URL("/ui/", url), 307);
      return json({ hello: "clash" });
    }
    switch (head) {
      case "version":
        return json({ version: `tunbox ${denoJson.version}`, premium: true, meta: true });
      case "configs":
        return await this.#configs(req);
      case "proxies":
        if (name === undefined) {
          return m === "GET" ? await this.#proxies() : error(405, "Method Not Allowed");
        }
        return await this.#proxy(req, url, name, tail);
      case "group":
        return await this.#group(req, url, name, tail);
      case "connections":
        return await this.#connections(req, url, name);
      case "traffic":
        return this.#traffic(req);
      case "memory":
        return this.#memory(req);
      case "logs":
        return this.#logs(req, url);
      case "rules":
        if (name === "explain") return this.#explain(url);
        return json({
          rules: this.backend.router.rules.map((r) =>
            clashRule(r, this.backend.options.route.rules[r.index]?.type ?? "default")
          ),
        });
      case "dns":
        if (name === "query" && m === "GET") return await this.#dnsQuery(url);
        break;
      case "cache":
        if (m === "POST" && name === "fakeip" && tail === "flush") {
          this.backend.flushFakeIp();
          return noContent();
        }
        if (m === "POST" && name === "dns" && tail === "flush") {
          this.backend.flushDns();
          return noContent();
        }
        break;
      case "providers":
        if (m === "GET" && (name === "proxies" || name === "rules") && tail === undefined) {
          return json({ providers: {} });
        }
        break;
    }
    return error(404, ERRORS.notFound);
  }

  async #configs(req: Request): Promise<Response> {
    const b = this.backend;
    switch (req.method) {
      case "GET":
        return json(clashConfig(b.options, b.mode(), b.modes()));
      case "PUT":
        return noContent();
      case "PATCH": {
        const patch = await body(req);
        if (patch === null) return error(400, ERRORS.badRequest);
        if (typeof patch.mode === "string" && patch.mode !== "") {
          const now = b.setMode(patch.mode);
          if (now === undefined) {
            log.warn("clash-api: mode {mode} is not one of {modes}", {
              mode: patch.mode,
              modes: b.modes().join(", "),
            });
          }
        }
        return noContent();
      }
    }
    return error(405, "Method Not Allowed");
  }

  /** Group state from a worker (urltest selections and delays), merged with the API's own. */
  async #proxyState(): Promise<ProxyState> {
    let groups: Record<string, GroupState> = {};
    try {
      groups = await this.backend.workerCall({ kind: "groups" }) as Record<string, GroupState>;
    } catch {
      // No worker answered: selectors still come from the shared choices.
    }
    const now = Date.now();
    return {
      now: (tag) => this.backend.selected(tag) ?? groups[tag]?.now,
      history: (tag) => {
        const own = this.#history.get(tag);
        if (own) return own;
        for (const g of Object.values(groups)) {
          const delay = g.delays[tag];
          if (delay !== undefined) return { time: new Date(now).toISOString(), delay };
        }
        return undefined;
      },
    };
  }

  async #proxies(): Promise<Response> {
    return json({ proxies: clashProxies(this.backend.options, await this.#proxyState()) });
  }

  #outbound(name: string) {
    return listedOutbounds(this.backend.options).find((o) => o.tag === name);
  }

  async #proxy(req: Request, url: URL, name: string, tail: string | undefined): Promise<Response> {
    const o = this.#outbound(name);
    if (!o) return error(404, ERRORS.notFound);
    if (tail === "delay" && req.method === "GET") return await this.#delay(url, name);
    if (tail !== undefined) return error(404, ERRORS.notFound);
    if (req.method === "GET") {
      const byTag = new Map(listedOutbounds(this.backend.options).map((x) => [x.tag, x]));
      return json(proxyInfo(o, byTag, await this.#proxyState()));
    }
    if (req.method === "PUT") {
      const b = await body(req);
      if (b === null || typeof b.name !== "string") return error(400, ERRORS.badRequest);
      if (o.type !== "selector") return error(400, "Must be a Selector");
      if (!this.backend.select(name, b.name)) {
        return error(400, "Selector update error: not found");
      }
      log.info("clash-api: selector {group} now uses {member}", { group: name, member: b.name });
      return noContent();
    }
    return error(405, "Method Not Allowed");
  }

  async #delay(url: URL, tag: string): Promise<Response> {
    const timeoutMs = parseTimeout(url.searchParams.get("timeout"), 65535);
    if (timeoutMs === null) return error(400, ERRORS.badRequest);
    const testUrl = url.searchParams.get("url") || DEFAULT_DELAY_URL;
    try {
      const ms = await this.backend.workerCall({ kind: "delay", tag, url: testUrl, timeoutMs });
      const delay = Math.max(1, Math.round(ms as number));
      this.#history.set(tag, { time: new Date().toISOString(), delay });
      return json({ delay });
    } catch (e) {
      this.#history.delete(tag);
      if (e instanceof WorkerCallFailed && e.timeout) return error(504, ERRORS.timeout);
      log.debug("clash-api: delay test of {tag} failed: {error}", {
        tag,
        error: e instanceof Error ? e.message : String(e),
      });
      return error(503, "An error occurred in the delay test");
    }
  }

  async #group(req: Request, url: URL, name: string | undefined, tail: string | undefined) {
    if (req.method !== "GET") return error(405, "Method Not Allowed");
    const outs = listedOutbounds(this.backend.options);
    const byTag = new Map(outs.map((o) => [o.tag, o]));
    if (name === undefined) {
      const state = await this.#proxyState();
      return json({
        proxies: outs.filter((o) => groupMembers(o)).map((o) => proxyInfo(o, byTag, state)),
      });
    }
    const o = byTag.get(name);
    if (!o || !groupMembers(o)) return error(404, ERRORS.notFound);
    if (tail === undefined) return json(proxyInfo(o, byTag, await this.#proxyState()));
    if (tail !== "delay") return error(404, ERRORS.notFound);
    const timeoutMs = parseTimeout(url.searchParams.get("timeout"), 2 ** 31 - 1);
    if (timeoutMs === null) return error(400, ERRORS.badRequest);
    const testUrl = url.searchParams.get("url") || DEFAULT_DELAY_URL;
    try {
      const result = await this.backend.workerCall({
        kind: "group-delay",
        tag: name,
        url: testUrl,
        timeoutMs,
      }) as Record<string, number>;
      const time = new Date().toISOString();
      for (const member of groupMembers(o)!) {
        const delay = result[member];
        if (delay === undefined) this.#history.delete(member);
        else this.#history.set(member, { time, delay: Math.max(1, delay) });
      }
      return json(result);
    } catch (e) {
      return error(504, e instanceof Error ? e.message : String(e));
    }
  }

  async #connections(req: Request, url: URL, id: string | undefined): Promise<Response> {
    const hub = this.backend.connections;
    if (req.method === "DELETE") {
      if (id === undefined) hub.abortAll("closed from the Clash API");
      else if (/^\d+$/.test(id)) hub.abort(Number(id), "closed from the Clash API");
      return noContent();
    }
    if (req.method !== "GET" || id !== undefined) return error(405, "Method Not Allowed");
    const interval = url.searchParams.get("interval");
    const wantsWs = (req.headers.get("upgrade") ?? "").toLowerCase() === "websocket";
    if (!wantsWs) {
      await hub.refresh();
      return json(clashConnections(hub.snapshot()));
    }
    let everyMs = 1000;
    if (interval !== null) {
      if (!/^\d+$/.test(interval)) return error(400, ERRORS.badRequest);
      everyMs = Math.max(100, Number(interval));
    }
    return this.#stream(req, (send) => {
      let stopped = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const tick = async () => {
        await hub.refresh();
        if (stopped) return;
        send(clashConnections(hub.snapshot()));
        timer = setTimeout(tick, everyMs);
      };
      void tick();
      return () => {
        stopped = true;
        clearTimeout(timer);
      };
    });
  }

  #stream(req: Request, start: (send: (body: unknown) => void) => () => void): Response {
    return jsonStream(req, start, this.streams);
  }

  #traffic(req: Request): Response {
    const hub = this.backend.connections;
    return this.#stream(req, (send) => {
      let stopped = false;
      let last = hub.snapshot();
      let up = last.uploadTotal, down = last.downloadTotal;
      const timer = setInterval(async () => {
        await hub.refresh();
        if (stopped) return;
        last = hub.snapshot();
        send({
          up: Math.max(0, last.uploadTotal - up),
          down: Math.max(0, last.downloadTotal - down),
        });
        up = last.uploadTotal;
        down = last.downloadTotal;
      }, 1000);
      return () => {
        stopped = true;
        clearInterval(timer);
      };
    });
  }

  #memory(req: Request): Response {
    return this.#stream(req, (send) => {
      let first = true;
      const timer = setInterval(() => {
        // sing-box sends 0 first so charts start from zero.
        send({ inuse: first ? 0 : processMemory(), oslimit: 0 });
        first = false;
      }, 1000);
      return () => clearInterval(timer);
    });
  }

  #logs(req: Request, url: URL): Response {
    const level = parseLogLevel(url.searchParams.get("level") ?? "");
    if (level === undefined) return error(400, ERRORS.badRequest);
    return this.#stream(req, (send) => this.backend.logs.subscribe(level, send));
  }

  #explain(url: URL): Response {
    const q = url.searchParams;
    const network = q.get("network") ?? "tcp";
    if (network !== "tcp" && network !== "udp" && network !== "icmp") {
      return error(400, `network must be tcp, udp or icmp, not "${network}"`);
    }
    const dest = q.get("destination") ?? "";
    const m = /^\[?([^\]]*?)\]?(?::(\d{1,5}))?$/.exec(dest);
    const host = m?.[1] ?? "";
    const port = Number(m?.[2] ?? (network === "icmp" ? 0 : 443));
    if (host === "" || port > 65535) {
      return error(400, `destination "${dest}": expected an address or name with a port`);
    }
    const addr = parseIp(host);
    const source = parseIp(q.get("source") ?? "") ?? new Uint8Array([172, 19, 0, 1]);
    const meta = newConnMetadata({
      id: 0,
      inbound: q.get("inbound") ?? "",
      inboundType: q.get("inbound_type") ?? "tun",
      network,
      source: { addr: source, port: 50000 },
      destination: addr ? { addr, port } : { addr: new Uint8Array(0), port, fqdn: host },
    });
    const domain = q.get("domain");
    if (domain) meta.domain = domain;
    else if (!addr) meta.domain = host;
    const protocol = q.get("protocol");
    if (protocol) meta.protocol = protocol;
    const trace: RouteTrace = { steps: [] };
    // No I/O here: a rule that must sniff or resolve stops the walk, and says so.
    const decision = this.backend.router.matchSync(meta, trace);
    return json({
      decision: decision === null
        ? { action: "pending", reason: "a sniff or resolve action needs the flow's data" }
        : {
          action: decision.action,
          ruleIndex: decision.ruleIndex,
          rule: decision.ruleIndex < 0 ? "final" : decision.ruleText,
          ...(decision.action === "route" ? { outbound: decision.outbound } : {}),
        },
      steps: trace.steps,
    });
  }

  async #dnsQuery(url: URL): Promise<Response> {
    const name = url.searchParams.get("name") ?? "";
    const type = url.searchParams.get("type") || "A";
    const qtype = typeCode(type);
    if (qtype === undefined) return error(400, "invalid query type");
    if (name === "") return error(400, "invalid query name");
    try {
      const answer = await this.backend.workerCall({ kind: "dns-query", name, qtype });
      return json(clashDnsAnswer(answer as Uint8Array));
    } catch (e) {
      return error(500, e instanceof Error ? e.message : String(e));
    }
  }
}

/** The running API server. */
export class ClashApi {
  #server: Deno.HttpServer<Deno.NetAddr> | undefined;

  private constructor(readonly handler: ClashApiHandler) {}

  /**
   * Listens on `external_controller`. Throws when the address cannot be parsed or bound
   * (`start clash-api: listen 127.0.0.1:9090 failed: ...`).
   */
  static start(options: ClashApiOptions, backend: ApiBackend): ClashApi {
    const api = new ClashApi(new ClashApiHandler(options, backend));
    const where = options.external_controller ?? "";
    const { hostname, port } = parseController(where);
    try {
      api.#server = Deno.serve({ hostname, port, onListen: () => {} }, api.handler.handle);
    } catch (e) {
      throw new Error(
        `start clash-api: listen ${where} failed: ${e instanceof Error ? e.message : String(e)}`,
        { cause: e },
      );
    }
    log.info("clash-api: listening on {address}{ui}", {
      address: api.address,
      ui: api.handler.externalUi ? ` (external_ui at /ui/)` : " (dashboard at /ui/)",
    });
    return api;
  }

  /** `host:port` it listens on. */
  get address(): string {
    const a = this.#server?.addr;
    if (!a) return "";
    return a.hostname.includes(":") ? `[${a.hostname}]:${a.port}` : `${a.hostname}:${a.port}`;
  }

  /** Stops listening (idempotent); open streams end. */
  async close(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    this.handler.backend.logs.close();
    for (const end of [...this.handler.streams]) end();
    if (s) await s.shutdown();
  }
}
