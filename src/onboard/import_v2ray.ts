/**
 * V2Ray/Xray JSON (v4, with V2Ray 3's `inbound`/`outboundDetour` forms and V2rayU's string
 * ports) and V2Ray v5 JSON → a sing-box config of the same shape.
 *
 * What maps where:
 * - inbounds `socks`/`http` → sing-box `socks`/`http` inbounds (accounts → `users`); an
 *   inbound's `sniffing` → a `sniff` rule for that inbound at the top of the rules;
 * - outbounds `freedom` → `direct`, `socks`/`http` → the same, `vmess`/`vless`/`trojan`/
 *   `shadowsocks` → the same with `tls` (`tlsSettings`, Xray's `realitySettings`) and
 *   `transport` (`ws`, `http`/`h2`, `grpc`, `quic`, `httpupgrade`); `proxySettings.tag` →
 *   `detour`; `blackhole` → rules with `reject`; `dns` → rules with `hijack-dns`;
 * - routing rules, in order: `domain:`/`full:`/`regexp:`/`keyword:`/plain entries →
 *   `domain_suffix`/`domain`/`domain_regex`/`domain_keyword`; `geosite:`/`geoip:` → remote rule
 *   sets; `geoip:private` → `ip_is_private`; `ip`, `port`, `sourcePort`, `source`, `network`,
 *   `inboundTag`, `user`, `protocol` → their sing-box fields. V2Ray ANDs a rule's `domain` and
 *   `ip` lists, sing-box ORs them, so a rule with both becomes a logical `and` rule; a list
 *   mixing entries and rule sets becomes one rule per kind (same outbound, so the same result);
 * - balancers → `urltest` over the outbounds their selectors name;
 * - dns servers → typed sing-box servers (through the default outbound unless `+local`),
 *   `domains` → DNS rules, `hosts` → a `hosts` server.
 *
 * Everything else (mux.cool, mKCP, domain sockets, `attrs`, `ext:` files, API, stats,
 * policy, reverse proxies, server-side inbounds...) becomes a comment saying why.
 *
 * @module
 */

import {
  bool,
  cidr,
  Drops,
  type Imported,
  ImportError,
  list,
  type LocalListener,
  obj,
  portList,
  portOf,
  type RemoteServer,
  RuleSets,
  str,
  Tags,
  type TlsFields,
  tlsObject,
  wsTransport,
} from "./convert.ts";
import { commented, type Jsonc, noteEntry, trailing } from "./jsonc_writer.ts";

type O = Record<string, unknown>;

/** True when `root` looks like V2Ray v5's JSON format rather than v4. */
export function isV2rayV5(root: O): boolean {
  if ("router" in root && !("routing" in root)) return true;
  for (const ob of list(root, "outbounds")) {
    const s = obj(ob, "settings");
    if ("address" in s && !("vnext" in s) && !("servers" in s)) return true;
    if ("transport" in obj(ob, "streamSettings")) return true;
  }
  return false;
}

/** True when `root` looks like a V2Ray/Xray config (any version). */
export function isV2rayConfig(root: O): boolean {
  return ["inbounds", "outbounds", "inbound", "outbound", "routing", "router"].some((k) =>
    k in root
  ) && (list(root, "outbounds").length > 0 || "outbound" in root || "inbounds" in root);
}

interface OutboundInfo {
  /** The tag rules should name, or a special meaning. */
  kind: "outbound" | "block" | "dns" | "dropped";
  tag: string;
}

class V2rayConverter {
  readonly drops = new Drops();
  readonly tags = new Tags();
  readonly ruleSets = new RuleSets();
  readonly listeners: LocalListener[] = [];
  readonly servers: RemoteServer[] = [];
  /** V2Ray outbound tag → what it became. */
  readonly outboundMap = new Map<string, OutboundInfo>();
  /** Inbound tags in the converted config, by V2Ray tag. */
  readonly inboundMap = new Map<string, string>();
  readonly sniffInbounds: string[] = [];
  defaultTag = "";
  proxyTag: string | null = null;
  hasDirect = "";

  constructor(readonly root: O, readonly v5: boolean) {}

  convert(): Imported {
    const root = this.root;
    const config: Record<string, Jsonc> = {};
    const log = this.log(obj(root, "log"));
    if (log) config.log = log;

    // Outbounds first: rules and DNS servers refer to their tags.
    const rawOutbounds = [
      ...(root.outbound ? [root.outbound] : []),
      ...list(root, "outbounds"),
      ...list(root, "outboundDetour"),
    ];
    const outbounds: Jsonc[] = [];
    rawOutbounds.forEach((ob, i) => outbounds.push(...this.outbound(ob as O, i)));
    const balancers = this.balancers(rawOutbounds);
    outbounds.push(...balancers);
    if (this.defaultTag === "" && this.hasDirect) this.defaultTag = this.hasDirect;

    const rawInbounds = [
      ...(root.inbound ? [root.inbound] : []),
      ...list(root, "inbounds"),
      ...list(root, "inboundDetour"),
    ];
    const inbounds: Jsonc[] = [];
    rawInbounds.forEach((ib, i) => inbounds.push(...this.inbound(ib as O, i)));

    const dns = this.dns(obj(root, "dns"));
    if (dns) config.dns = dns;
    if (inbounds.length > 0) config.inbounds = inbounds;
    if (outbounds.length === 0) {
      throw new ImportError("the config has no outbounds tunbox can convert");
    }
    config.outbounds = outbounds;
    this.ruleSets.downloadDetour = this.proxyTag ?? "";
    config.route = this.route();
    for (const key of ["api", "stats", "policy", "reverse", "observatory", "fakedns", "metrics"]) {
      if (key in root) {
        config[`//${key}`] = this.drops.drop(
          `"${key}"`,
          key === "fakedns"
            ? "use a sing-box fakeip DNS server instead"
            : "V2Ray-only feature with no sing-box equivalent",
        );
      }
    }
    if ("transport" in root) {
      config["//transport"] = this.drops.drop(
        '"transport" (global stream settings)',
        "set the transport on each outbound; the outbounds above use their own streamSettings only",
      );
    }
    return {
      format: this.v5 ? "V2Ray JSON (v5)" : "V2Ray/Xray JSON (v4)",
      config,
      listeners: this.listeners,
      servers: this.servers,
      proxyTag: this.proxyTag,
      dropped: this.drops.lines,
    };
  }

  log(log: O): Jsonc | null {
    const level = str(log, "loglevel");
    if (level === "" && !("error" in log)) return null;
    const out: Record<string, Jsonc> = {};
    const map: Record<string, string> = {
      debug: "debug",
      info: "info",
      warning: "warn",
      error: "error",
    };
    if (level === "none") return { disabled: true };
    if (level !== "") out.level = map[level] ?? "info";
    const error = str(log, "error");
    if (error) out.output = error;
    if (str(log, "access")) {
      Object.assign(
        out,
        noteEntry(
          "log.access: not converted: sing-box logs connections in its one log (level info)",
        ),
      );
      this.drops.lines.push(
        "log.access: not converted: sing-box logs connections in its one log (level info)",
      );
    }
    out.timestamp = true;
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Inbounds
  // -------------------------------------------------------------------------------------------

  inbound(ib: O, index: number): Jsonc[] {
    const protocol = str(ib, "protocol");
    const where = `inbounds[${index}] (${protocol || "?"})`;
    const port = portOf(ib.port);
    const settings = obj(ib, "settings");
    if (protocol !== "socks" && protocol !== "http") {
      const why = protocol === "dokodemo-door"
        ? "tunbox has no dokodemo-door/redirect inbound; its tun inbound captures traffic instead"
        : ["vmess", "vless", "trojan", "shadowsocks"].includes(protocol)
        ? "a server-side inbound; tunbox is a client"
        : "tunbox has no such inbound";
      return [this.drops.drop(where, why)];
    }
    if (port === 0) {
      return [this.drops.drop(where, `port ${JSON.stringify(ib.port)} is not a single port`)];
    }
    const wanted = str(ib, "tag") || `${protocol}-in`;
    const tag = this.tags.take(wanted);
    if (str(ib, "tag")) this.inboundMap.set(str(ib, "tag"), tag);
    const listen = str(ib, "listen") || (this.v5 ? "127.0.0.1" : "0.0.0.0");
    const out: Record<string, Jsonc> = {
      type: protocol,
      tag,
      listen: str(ib, "listen") ? listen : trailing(listen, "V2Ray's default: every interface"),
      listen_port: port,
    };
    const users = list(settings, "accounts").map((a) => ({
      username: str(a, "user"),
      password: str(a, "pass"),
    }));
    const auth = str(settings, "auth");
    if (users.length > 0 && (protocol === "http" || auth === "password")) {
      out.users = users;
    }
    const comments: string[] = [];
    let udp: boolean | null = null;
    if (protocol === "socks") {
      udp = bool(settings, this.v5 ? "udpEnabled" : "udp") === true;
      if (!udp) {
        comments.push(
          'V2Ray had "udp": false here; sing-box\'s socks inbound always accepts UDP ASSOCIATE',
        );
      }
    }
    this.listeners.push({
      type: protocol,
      listen,
      port,
      udp,
      users: (out.users as { username: string; password: string }[] | undefined) ?? [],
    });
    const sniffing = obj(ib, "sniffing");
    if (bool(sniffing, "enabled")) this.sniffInbounds.push(tag);
    return [comments.length > 0 ? commented(out, comments) : out];
  }

  // -------------------------------------------------------------------------------------------
  // Outbounds
  // -------------------------------------------------------------------------------------------

  outbound(ob: O, index: number): Jsonc[] {
    const protocol = str(ob, "protocol");
    const v2tag = str(ob, "tag");
    const where = `outbounds[${index}] (${protocol || "?"}${v2tag ? ` "${v2tag}"` : ""})`;
    const first = index === 0;
    const remember = (info: OutboundInfo) => {
      if (v2tag) this.outboundMap.set(v2tag, info);
      if (first) this.defaultTag = info.kind === "outbound" ? info.tag : "";
    };
    if (protocol === "blackhole") {
      remember({ kind: "block", tag: "" });
      if (first) this.defaultBlock = true;
      return [];
    }
    if (protocol === "dns") {
      remember({ kind: "dns", tag: "" });
      return [];
    }
    const settings = obj(ob, "settings");
    const stream = obj(ob, "streamSettings");
    let out: Record<string, Jsonc>;
    const comments: string[] = [];
    const wanted = v2tag || (protocol === "freedom" ? "direct" : "proxy");
    const serverOf = (): { address: string; port: number; user: O; entry: O } | null => {
      if (this.v5) {
        return {
          address: str(settings, "address"),
          port: portOf(settings.port),
          user: settings,
          entry: settings,
        };
      }
      const entries = [...list(settings, "vnext"), ...list(settings, "servers")];
      const entry = (entries[0] ?? {}) as O;
      if (entries.length > 1) {
        comments.push(
          `only the first of ${entries.length} servers is used: sing-box outbounds have one server (make more outbounds and a urltest for failover)`,
        );
      }
      const users = list(entry, "users");
      if (users.length > 1) comments.push(`only the first of ${users.length} users is used`);
      return {
        address: str(entry, "address"),
        port: portOf(entry.port),
        user: (users[0] ?? entry) as O,
        entry,
      };
    };
    switch (protocol) {
      case "freedom": {
        const tag = this.tags.take(wanted);
        out = { type: "direct", tag };
        if (str(settings, "domainStrategy") && str(settings, "domainStrategy") !== "AsIs") {
          comments.push(
            `freedom's domainStrategy ${
              str(settings, "domainStrategy")
            } is not converted: sing-box resolves with its DNS servers`,
          );
        }
        if (str(settings, "redirect")) {
          comments.push(
            `freedom's redirect ${
              str(settings, "redirect")
            } is not converted; use a route-options rule with override_address`,
          );
        }
        if (!this.hasDirect) this.hasDirect = tag;
        remember({ kind: "outbound", tag });
        break;
      }
      case "socks":
      case "http":
      case "vmess":
      case "vless":
      case "trojan":
      case "shadowsocks": {
        const s = serverOf();
        if (!s || !s.address || s.port === 0) {
          remember({ kind: "dropped", tag: "" });
          return [this.drops.drop(where, "it names no server address and port")];
        }
        const transport = this.transport(stream, where);
        if (transport === null) {
          remember({ kind: "dropped", tag: "" });
          return [this.drops.drop(
            where,
            `its transport "${
              str(stream, this.v5 ? "transport" : "network")
            }" has no sing-box equivalent`,
          )];
        }
        const tag = this.tags.take(wanted);
        out = { type: protocol, tag, server: s.address, server_port: s.port };
        this.fill(out, protocol, s.user, s.entry);
        const tls = this.tls(stream, protocol);
        if (tls) out.tls = tls;
        if (transport.type) out.transport = transport;
        this.servers.push({ tag, protocol, host: s.address, port: s.port });
        if (this.proxyTag === null) this.proxyTag = tag;
        remember({ kind: "outbound", tag });
        break;
      }
      default:
        remember({ kind: "dropped", tag: "" });
        return [this.drops.drop(where, `sing-box has no "${protocol}" outbound`)];
    }
    const detour = str(obj(ob, "proxySettings"), "tag");
    if (detour) out.detour = detour; // resolved to the new tag in route()
    if (detour) this.detours.push(out);
    const mux = obj(ob, "mux");
    if (bool(mux, "enabled")) {
      comments.push(
        "mux is not converted: V2Ray's mux.cool is not sing-box's multiplex, the server would not understand it",
      );
    }
    if (str(ob, "sendThrough")) {
      out.inet4_bind_address = str(ob, "sendThrough");
    }
    for (const c of comments) {
      if (c.includes("not converted") || c.startsWith("only the first")) {
        this.drops.lines.push(`${where}: ${c}`);
      }
    }
    return [comments.length > 0 ? commented(out, comments) : out];
  }

  defaultBlock = false;
  readonly detours: Record<string, Jsonc>[] = [];

  fill(out: Record<string, Jsonc>, protocol: string, user: O, entry: O): void {
    switch (protocol) {
      case "socks":
      case "http": {
        const u = this.v5 ? {} : user;
        if (str(u, "user")) out.username = str(u, "user");
        if (str(u, "pass")) out.password = str(u, "pass");
        if (protocol === "socks") out.version = "5";
        break;
      }
      case "vmess": {
        out.uuid = str(user, this.v5 ? "uuid" : "id");
        const security = str(user, "security");
        out.security = security || "auto";
        const alter = Number(user.alterId ?? 0);
        if (alter > 0) out.alter_id = alter;
        break;
      }
      case "vless": {
        out.uuid = str(user, this.v5 ? "uuid" : "id");
        const flow = str(user, "flow");
        if (flow) out.flow = flow.replace(/-udp443$/, "");
        break;
      }
      case "trojan":
        out.password = str(entry, "password");
        break;
      case "shadowsocks":
        out.method = str(entry, "method");
        out.password = str(entry, "password");
        if (bool(entry, "uot")) out.udp_over_tcp = true;
        break;
    }
  }

  tls(stream: O, protocol: string): Record<string, Jsonc> | null {
    const security = str(stream, "security");
    const fields: TlsFields = {};
    if (security === "tls" || security === "xtls") {
      const t = this.v5 ? obj(stream, "securitySettings") : {
        ...obj(stream, "tlsSettings"),
        ...obj(stream, "xtlsSettings"),
      };
      fields.serverName = str(t, "serverName");
      fields.insecure = bool(t, "allowInsecure") === true;
      fields.alpn = list(t, "alpn").map(String);
      fields.fingerprint = str(t, "fingerprint");
    } else if (security === "reality") {
      const t = obj(stream, "realitySettings");
      fields.serverName = str(t, "serverName");
      fields.fingerprint = str(t, "fingerprint");
      fields.reality = { publicKey: str(t, "publicKey"), shortId: str(t, "shortId") };
    } else if (protocol === "trojan") {
      // Trojan runs over TLS; V2Ray's trojan outbound without security is plain text, which
      // sing-box expresses with no tls object either.
      return null;
    } else {
      return null;
    }
    return tlsObject(fields);
  }

  /** The sing-box transport for a stream: `{}` for plain TCP, null when it has none. */
  transport(stream: O, where: string): Record<string, Jsonc> | null {
    const network = str(stream, this.v5 ? "transport" : "network") || "tcp";
    const settingsKey: Record<string, string> = {
      ws: "wsSettings",
      websocket: "wsSettings",
      http: "httpSettings",
      h2: "httpSettings",
      grpc: "grpcSettings",
      gun: "grpcSettings",
      quic: "quicSettings",
      httpupgrade: "httpupgradeSettings",
      tcp: "tcpSettings",
      raw: "rawSettings",
    };
    const s = this.v5
      ? obj(stream, "transportSettings")
      : obj(stream, settingsKey[network] ?? `${network}Settings`);
    switch (network) {
      case "tcp":
      case "raw": {
        const header = obj(s, "header");
        if (str(header, "type") === "http") {
          const req = obj(header, "request");
          const host = list(obj(req, "headers"), "Host").map(String);
          const t: Record<string, Jsonc> = { type: "http", method: "GET" };
          if (host.length > 0) t.host = host;
          const path = list(req, "path").map(String)[0];
          if (path) t.path = path;
          this.drops.lines.push(
            `${where}: TCP with an HTTP header: written as sing-box's http transport, which sends real HTTP (V2Ray's only pretends); check that the server accepts it`,
          );
          return t;
        }
        return {};
      }
      case "ws":
      case "websocket": {
        const headers = obj(s, "headers");
        const host = str(headers, "Host") || str(headers, "host") || str(s, "host");
        return wsTransport(
          str(s, "path"),
          host,
          Number(s.maxEarlyData ?? 0),
          str(s, "earlyDataHeaderName"),
        );
      }
      case "http":
      case "h2": {
        const t: Record<string, Jsonc> = { type: "http" };
        const host = list(s, "host").map(String);
        if (host.length > 0) t.host = host;
        if (str(s, "path")) t.path = str(s, "path");
        return t;
      }
      case "grpc":
      case "gun": {
        const t: Record<string, Jsonc> = { type: "grpc" };
        if (str(s, "serviceName")) t.service_name = str(s, "serviceName");
        return t;
      }
      case "quic":
        return { type: "quic" };
      case "httpupgrade": {
        const t: Record<string, Jsonc> = { type: "httpupgrade" };
        if (str(s, "host")) t.host = str(s, "host");
        if (str(s, "path")) t.path = str(s, "path");
        return t;
      }
      default:
        return null;
    }
  }

  balancers(rawOutbounds: unknown[]): Jsonc[] {
    const routing = this.routingObject();
    const list_ = this.v5 ? list(routing, "balancingRule") : list(routing, "balancers");
    const out: Jsonc[] = [];
    for (const b of list_) {
      const btag = str(b, "tag");
      const selectors = list(b, this.v5 ? "outboundSelector" : "selector").map(String);
      const members: string[] = [];
      for (const ob of rawOutbounds) {
        const t = str(ob, "tag");
        const info = this.outboundMap.get(t);
        if (!t || !info || info.kind !== "outbound") continue;
        if (selectors.some((s) => t.startsWith(s))) members.push(info.tag);
      }
      if (!btag || members.length === 0) {
        out.push(this.drops.drop(`balancer "${btag}"`, "its selectors match no outbound"));
        continue;
      }
      const tag = this.tags.take(btag);
      this.outboundMap.set(btag, { kind: "outbound", tag });
      const strategy = str(obj(b, "strategy"), "type") || "random";
      const group = { type: "urltest", tag, outbounds: members };
      out.push(
        strategy === "leastPing" ? group : commented(group, [
          `V2Ray balancer with strategy "${strategy}": sing-box has no random balancer, urltest uses the fastest`,
        ]),
      );
    }
    return out;
  }

  routingObject(): O {
    const root = this.root;
    if (this.v5) return obj(root, "router");
    const routing = obj(root, "routing");
    // V2Ray 3: {"strategy": "rules", "settings": {"rules": [...]}}
    if (!("rules" in routing) && "settings" in routing) return obj(routing, "settings");
    return routing;
  }

  // -------------------------------------------------------------------------------------------
  // Route
  // -------------------------------------------------------------------------------------------

  route(): Record<string, Jsonc> {
    const routing = this.routingObject();
    const rules: Jsonc[] = [];
    if (this.sniffInbounds.length > 0) {
      rules.push(commented(
        { inbound: this.sniffInbounds, action: "sniff" },
        "sniffing was enabled on these inbounds",
      ));
    }
    const strategy = str(routing, "domainStrategy");
    let resolveAdded = strategy === "" || strategy === "AsIs";
    const raw = this.v5 ? list(routing, "rule") : list(routing, "rules");
    raw.forEach((r, i) => {
      const converted = this.rule(r as O, i);
      if (!resolveAdded && converted.usesIp) {
        rules.push(commented({ action: "resolve" }, [
          `routing.domainStrategy ${strategy}: resolve domain destinations before the first IP rule`,
        ]));
        resolveAdded = true;
      }
      rules.push(...converted.rules);
    });
    if (this.defaultBlock) {
      rules.push(
        commented({ action: "reject" }, "the first outbound was blackhole: reject the rest"),
      );
    }
    // proxySettings tags → converted tags.
    for (const o of this.detours) {
      const info = this.outboundMap.get(String(o.detour));
      if (info?.kind === "outbound") o.detour = info.tag;
    }
    const out: Record<string, Jsonc> = { rules };
    const sets = this.ruleSets.list();
    if (sets.length > 0) out.rule_set = sets;
    const final = this.defaultTag || this.hasDirect;
    if (final) out.final = final;
    return out;
  }

  /** Converts one routing rule into sing-box rules (or comments). */
  rule(r: O, index: number): { rules: Jsonc[]; usesIp: boolean } {
    const where = this.v5 ? `router.rule[${index}]` : `routing.rules[${index}]`;
    const type = str(r, "type");
    if (type !== "" && type !== "field") {
      return {
        rules: [this.drops.drop(where, `rule type "${type}" was removed from V2Ray`)],
        usesIp: false,
      };
    }
    // The action.
    const target = str(r, this.v5 ? "tag" : "outboundTag") ||
      str(r, this.v5 ? "balancingTag" : "balancerTag");
    const info = this.outboundMap.get(target);
    let action: Record<string, Jsonc>;
    if (!info) {
      return {
        rules: [this.drops.drop(where, `it sends to "${target}", which is not an outbound`)],
        usesIp: false,
      };
    }
    if (info.kind === "dropped") {
      return {
        rules: [this.drops.drop(where, `its outbound "${target}" was not converted`)],
        usesIp: false,
      };
    }
    if (info.kind === "block") action = { action: "reject" };
    else if (info.kind === "dns") action = { action: "hijack-dns" };
    else action = { outbound: info.tag };

    const problems: string[] = [];
    const common: Record<string, Jsonc> = {};
    // Items AND-ed in both V2Ray and sing-box.
    const inbound = list(r, "inboundTag").map(String).map((t) => this.inboundMap.get(t) ?? t);
    if (inbound.length > 0) common.inbound = inbound;
    const network = this.v5
      ? str(r, "networks")
      : (Array.isArray(r.network) ? (r.network as unknown[]).join(",") : str(r, "network"));
    if (network) common.network = network.split(",").map((n) => n.trim()).filter(Boolean);
    const ports = portList(this.v5 ? r.portList : r.port);
    if (ports.port.length > 0) common.port = ports.port;
    if (ports.port_range.length > 0) common.port_range = ports.port_range;
    for (const b of ports.bad) problems.push(`port "${b}"`);
    const sports = portList(this.v5 ? r.sourcePortList : r.sourcePort);
    if (sports.port.length > 0) common.source_port = sports.port;
    if (sports.port_range.length > 0) common.source_port_range = sports.port_range;
    const users = list(r, this.v5 ? "userEmail" : "user").map(String);
    if (users.length > 0) common.auth_user = users;
    const protocols = list(r, "protocol").map(String).map((p) => p === "http1" ? "http" : p);
    if (protocols.length > 0) common.protocol = protocols;
    if ("attrs" in r) problems.push('"attrs" (sing-box cannot match HTTP headers)');

    // Source addresses.
    const source: Record<string, Jsonc>[] = [];
    const srcCidrs: string[] = [];
    const srcEntries = this.v5
      ? list(r, "sourceGeoip").flatMap((g) => this.v5GeoipEntries(g as O))
      : [...list(r, "source"), ...list(r, "sourceIP")].map(String);
    let srcPrivate = false;
    for (const e of srcEntries) {
      if (e === "geoip:private") srcPrivate = true;
      else if (e.startsWith("geoip:")) problems.push(`source "${e}" (no source rule sets here)`);
      else {
        const c = cidr(e);
        if (c) srcCidrs.push(c);
        else problems.push(`source "${e}"`);
      }
    }
    if (srcCidrs.length > 0) source.push({ source_ip_cidr: srcCidrs });
    if (srcPrivate) source.push({ source_ip_is_private: true });
    if (source.length === 1) Object.assign(common, source[0]);
    else if (source.length > 1) problems.push("private and listed source addresses together");

    // Destination alternatives: OR-ed within a kind.
    const domainAlts = this.domainAlternatives(r, problems);
    const ipAlts = this.ipAlternatives(r, problems);

    const comment = problems.length > 0 ? [`${where}: not converted: ${problems.join(", ")}`] : [];
    for (const c of comment) this.drops.lines.push(c);
    if (
      problems.length > 0 && domainAlts.length === 0 && ipAlts.length === 0 &&
      Object.keys(common).length === 0
    ) {
      return { rules: [this.drops.drop(where, problems.join(", "))], usesIp: false };
    }
    const wrap = (rule: Record<string, Jsonc>, i: number): Jsonc =>
      i === 0 && comment.length > 0 ? commented(rule, comment) : rule;
    const usesIp = ipAlts.length > 0;
    if (domainAlts.length > 0 && ipAlts.length > 0) {
      const group = (alts: Record<string, Jsonc>[]): Record<string, Jsonc> =>
        alts.length === 1 ? alts[0]! : { type: "logical", mode: "or", rules: alts };
      const subs: Jsonc[] = [group(domainAlts), group(ipAlts)];
      if (Object.keys(common).length > 0) subs.push(common);
      return {
        rules: [wrap({ type: "logical", mode: "and", rules: subs, ...action }, 0)],
        usesIp,
      };
    }
    const alts = domainAlts.length > 0 ? domainAlts : ipAlts.length > 0 ? ipAlts : [{}];
    if (
      alts.length === 1 && Object.keys(alts[0]!).length === 0 && Object.keys(common).length === 0
    ) {
      // A rule without conditions sends everything to its outbound.
      return { rules: [wrap({ ...action }, 0)], usesIp };
    }
    return {
      rules: alts.map((alt, i) => wrap({ ...alt, ...common, ...action }, i)),
      usesIp,
    };
  }

  domainAlternatives(r: O, problems: string[]): Record<string, Jsonc>[] {
    const plain: Record<string, string[]> = {
      domain: [],
      domain_suffix: [],
      domain_keyword: [],
      domain_regex: [],
    };
    const sets: string[] = [];
    const entries: string[] = this.v5
      ? [
        ...list(r, "domain").map((d) => this.v5DomainEntry(d as O)),
        ...list(r, "geoDomain").flatMap((g) => {
          const code = str(g, "code");
          return code
            ? [`geosite:${code}`]
            : list(g, "domain").map((d) => this.v5DomainEntry(d as O));
        }),
      ]
      : [...list(r, "domain"), ...list(r, "domains")].map(String);
    for (const e of entries) {
      const colon = e.indexOf(":");
      const kind = colon > 0 ? e.slice(0, colon) : "";
      const value = colon > 0 ? e.slice(colon + 1) : e;
      switch (kind) {
        case "domain":
          plain.domain_suffix!.push(value);
          break;
        case "full":
          plain.domain!.push(value);
          break;
        case "regexp":
          plain.domain_regex!.push(value);
          break;
        case "keyword":
          plain.domain_keyword!.push(value);
          break;
        case "geosite": {
          if (value.includes("@")) {
            problems.push(`"${e}" (attribute filters of geosite lists)`);
            break;
          }
          sets.push(this.ruleSets.ref("geosite", value));
          break;
        }
        case "ext":
        case "ext-domain":
          problems.push(`"${e}" (external geo files)`);
          break;
        case "dotless":
          problems.push(`"${e}" (dotless matching)`);
          break;
        default:
          if (kind !== "") problems.push(`"${e}"`);
          else plain.domain_keyword!.push(value);
      }
    }
    const alts: Record<string, Jsonc>[] = [];
    const p: Record<string, Jsonc> = {};
    for (const [k, v] of Object.entries(plain)) if (v.length > 0) p[k] = v;
    if (Object.keys(p).length > 0) alts.push(p);
    if (sets.length > 0) alts.push({ rule_set: sets });
    return alts;
  }

  ipAlternatives(r: O, problems: string[]): Record<string, Jsonc>[] {
    const cidrs: string[] = [];
    const sets: string[] = [];
    let isPrivate = false;
    const entries = this.v5
      ? list(r, "geoip").flatMap((g) => this.v5GeoipEntries(g as O))
      : list(r, "ip").map(String);
    for (const e of entries) {
      if (e === "geoip:private") isPrivate = true;
      else if (e.startsWith("geoip:!")) problems.push(`"${e}" (inverted geoip)`);
      else if (e.startsWith("geoip:")) sets.push(this.ruleSets.ref("geoip", e.slice(6)));
      else if (e.startsWith("ext:") || e.startsWith("ext-ip:")) {
        problems.push(`"${e}" (external geo files)`);
      } else {
        const c = cidr(e);
        if (c) cidrs.push(c);
        else problems.push(`ip "${e}"`);
      }
    }
    const alts: Record<string, Jsonc>[] = [];
    const p: Record<string, Jsonc> = {};
    if (cidrs.length > 0) p.ip_cidr = cidrs;
    if (isPrivate) p.ip_is_private = true;
    if (Object.keys(p).length > 0) alts.push(p);
    if (sets.length > 0) alts.push({ rule_set: sets });
    return alts;
  }

  v5DomainEntry(d: O): string {
    const value = str(d, "value");
    switch (str(d, "type")) {
      case "RootDomain":
        return `domain:${value}`;
      case "Full":
        return `full:${value}`;
      case "Regex":
        return `regexp:${value}`;
      default:
        return `keyword:${value}`;
    }
  }

  v5GeoipEntries(g: O): string[] {
    const code = str(g, "code");
    if (bool(g, "inverseMatch")) return [`geoip:!${code || "list"}`];
    if (code) return [`geoip:${code}`];
    return list(g, "cidr").map((c) => `${str(c, "ipAddr")}/${Number((c as O).prefix ?? 32)}`);
  }

  // -------------------------------------------------------------------------------------------
  // DNS
  // -------------------------------------------------------------------------------------------

  dns(dns: O): Record<string, Jsonc> | null {
    const servers = list(dns, this.v5 ? "nameServer" : "servers");
    const hosts = obj(dns, this.v5 ? "staticHosts" : "hosts");
    if (servers.length === 0 && Object.keys(hosts).length === 0) return null;
    const out: Jsonc[] = [];
    const rules: Jsonc[] = [];
    const tags = new Tags();
    // V2Ray sends its own DNS queries through the default outbound unless "+local".
    const detour = this.defaultTag && this.defaultTag !== this.hasDirect ? this.defaultTag : "";
    let firstTag = "";
    servers.forEach((s, i) => {
      const address = typeof s === "string" ? s : str(s, "address");
      const port = typeof s === "string" ? 0 : portOf((s as O).port);
      const server = this.dnsServer(address, port, detour, tags, `dns.servers[${i}]`);
      if ("note" in server) {
        out.push(server.note);
        return;
      }
      out.push(server.server);
      if (!firstTag) firstTag = String(server.server.tag);
      const domains = typeof s === "string" ? [] : list(s, "domains").map(String);
      if (domains.length > 0) {
        const problems: string[] = [];
        const alts = this.domainAlternatives({ domain: domains }, problems);
        for (const alt of alts) rules.push({ ...alt, server: server.server.tag as string });
        if (problems.length > 0) {
          rules.push(this.drops.drop(`dns.servers[${i}].domains`, problems.join(", ")));
        }
      }
      if (typeof s !== "string" && list(s, "expectIPs").length > 0) {
        this.drops.lines.push(
          `dns.servers[${i}].expectIPs: not converted: use a DNS rule with ip_cidr (address filter)`,
        );
      }
    });
    const hostEntries = Object.entries(hosts);
    if (hostEntries.length > 0) {
      const predefined: Record<string, Jsonc> = {};
      const names: string[] = [];
      for (const [name, value] of hostEntries) {
        const addrs = (Array.isArray(value) ? value : [value]).map(String);
        if (name.includes(":") && !name.startsWith("full:")) {
          out.push(
            this.drops.drop(`dns.hosts "${name}"`, "only exact names map to a hosts server"),
          );
          continue;
        }
        const bare = name.replace(/^full:/, "");
        if (!addrs.every((a) => cidr(a) !== null)) {
          out.push(this.drops.drop(`dns.hosts "${name}"`, "it maps to a name, not an address"));
          continue;
        }
        predefined[bare] = addrs;
        names.push(bare);
      }
      if (names.length > 0) {
        const tag = tags.take("hosts");
        out.push({ type: "hosts", tag, predefined });
        rules.unshift({ domain: names, server: tag });
      }
    }
    if (out.length === 0) return null;
    const result: Record<string, Jsonc> = { servers: out };
    if (rules.length > 0) result.rules = rules;
    if (firstTag) result.final = firstTag;
    const qs = str(dns, "queryStrategy");
    if (qs === "UseIPv4") result.strategy = "ipv4_only";
    if (qs === "UseIPv6") result.strategy = "ipv6_only";
    if (bool(dns, "disableCache")) result.disable_cache = true;
    return result;
  }

  dnsServer(
    address: string,
    port: number,
    detour: string,
    tags: Tags,
    where: string,
  ): { server: Record<string, Jsonc> } | { note: Jsonc } {
    const withDetour = (s: Record<string, Jsonc>, local: boolean) => {
      if (!local && detour) s.detour = detour;
      return { server: s };
    };
    if (address === "localhost") return { server: { type: "local", tag: tags.take("local") } };
    if (address === "fakedns") {
      return {
        server: { type: "fakeip", tag: tags.take("fakeip"), inet4_range: "198.18.0.0/15" },
      };
    }
    const m = /^([a-z+]+):\/\/(.*)$/.exec(address);
    if (m) {
      const [, scheme, rest] = m as unknown as [string, string, string];
      const local = scheme.endsWith("+local");
      const base = scheme.replace(/\+local$/, "");
      const typeOf: Record<string, string> = {
        https: "https",
        tcp: "tcp",
        udp: "udp",
        quic: "quic",
        tls: "tls",
      };
      const type = typeOf[base];
      if (!type) return { note: this.drops.drop(`${where} "${address}"`, "unknown scheme") };
      const slash = rest.indexOf("/");
      const hostPort = slash >= 0 ? rest.slice(0, slash) : rest;
      const path = slash >= 0 ? rest.slice(slash) : "";
      const hp = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(hostPort);
      if (!hp) return { note: this.drops.drop(`${where} "${address}"`, "bad address") };
      const s: Record<string, Jsonc> = {
        type,
        tag: tags.take(type === "https" ? "doh" : base),
        server: hp[1]!.replace(/^\[|\]$/g, ""),
      };
      if (hp[2]) s.server_port = Number(hp[2]);
      if (type === "https" && path && path !== "/dns-query") s.path = path;
      return withDetour(s, local);
    }
    if (cidr(address) === null) {
      return {
        note: this.drops.drop(`${where} "${address}"`, "not an address tunbox understands"),
      };
    }
    const s: Record<string, Jsonc> = { type: "udp", tag: tags.take("dns"), server: address };
    if (port && port !== 53) s.server_port = port;
    return withDetour(s, false);
  }
}

/** Converts a parsed V2Ray/Xray config. Throws {@linkcode ImportError} for non-configs. */
export function importV2ray(root: O): Imported {
  if (!isV2rayConfig(root)) {
    throw new ImportError("not a V2Ray/Xray config: no inbounds, outbounds or routing");
  }
  return new V2rayConverter(root, isV2rayV5(root)).convert();
}
