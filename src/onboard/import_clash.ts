/**
 * Clash / Clash Meta (mihomo) YAML → a sing-box config of the same shape.
 *
 * - `port`/`socks-port`/`mixed-port` → `http`/`socks`/`mixed` inbounds on `bind-address` (all
 *   interfaces with `allow-lan`, else 127.0.0.1), `authentication` → `users`;
 * - `proxies` → outbounds named as in Clash (`ss`, `vmess`, `vless`, `trojan`, `socks5`,
 *   `http`, `hysteria2`); `proxy-groups` → `selector` (select) and `urltest` (url-test,
 *   fallback, load-balance: the last two are approximations, said in a comment);
 * - `rules` → route rules in order (`DOMAIN*`, `GEOSITE`/`GEOIP` as remote rule sets,
 *   `GEOIP,LAN`/`private` → `ip_is_private`, `IP-CIDR[6]`, `SRC-IP-CIDR`, `SRC-PORT`,
 *   `DST-PORT`, `NETWORK`, `PROCESS-NAME`, `PROCESS-PATH`, `AND`/`OR`/`NOT`); `DIRECT` → a
 *   `direct` outbound, `REJECT` → `reject`; `MATCH` → `route.final`;
 * - `dns` → servers, `fake-ip` → a `fakeip` server for A/AAAA queries, `nameserver-policy` and
 *   `fake-ip-filter` → DNS rules; `hosts` → a `hosts` server; `tun.enable` → a tun inbound;
 *   `external-controller` → `experimental.clash_api`.
 *
 * Inline rule providers (`type: inline` with a `payload`) become inline rule sets that
 * `RULE-SET` rules name: `domain` behaviour (`+.x` → `domain_suffix`, `.x` → a dotted suffix,
 * `*.x` → a one-label `domain_regex`, else `domain`), `ipcidr` (`ip_cidr`) and `classical` (each
 * line a rule as above). Downloaded (`http`) and `file` providers are Clash lists sing-box cannot
 * read: a comment says how to convert them (`tunbox rule-set convert`), and their `RULE-SET`
 * rules become comments. `IN-PORT`, `IP-ASN`, scripts, proxy providers and relay groups become
 * comments saying why.
 *
 * @module
 */

import { LineCounter, parseDocument } from "yaml";
import {
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
  tlsObject,
  wsTransport,
} from "./convert.ts";
import { commented, type Jsonc, type Note } from "./jsonc_writer.ts";

type O = Record<string, unknown>;

/** Parses YAML text into a plain object; throws ImportError with the line of a syntax error. */
export function parseYaml(text: string): O {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = lc.linePos(e.pos[0]);
    throw new ImportError(
      `not valid YAML: line ${pos.line}, column ${pos.col}: ${e.message.split("\n")[0]}`,
    );
  }
  const v = doc.toJS({ maxAliasCount: 1000 });
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new ImportError("not a Clash config: the YAML is not a mapping");
  }
  return v as O;
}

/** True when `root` looks like a Clash/mihomo config. */
export function isClashConfig(root: O): boolean {
  return ["proxies", "proxy-groups", "rules", "mixed-port", "socks-port", "port"].some((k) =>
    k in root
  );
}

class ClashConverter {
  readonly drops = new Drops();
  readonly tags = new Tags();
  readonly ruleSets = new RuleSets();
  /** Rule providers by name: the inline set's tag, or null when not converted. */
  readonly providers = new Map<string, string | null>();
  readonly listeners: LocalListener[] = [];
  readonly servers: RemoteServer[] = [];
  /** Clash proxy/group name → outbound tag. */
  readonly names = new Map<string, string>();
  directTag = "";
  proxyTag: string | null = null;
  needsDirect = false;

  constructor(readonly root: O) {}

  convert(): Imported {
    const root = this.root;
    const config: Record<string, Jsonc> = {};
    const level = str(root, "log-level");
    if (level) {
      const map: Record<string, string> = {
        debug: "debug",
        info: "info",
        warning: "warn",
        error: "error",
      };
      config.log = level === "silent"
        ? { disabled: true }
        : { level: map[level] ?? "info", timestamp: true };
    }
    // Outbounds: proxies, then groups (they refer to proxies and to each other).
    const outbounds: Jsonc[] = [];
    list(root, "proxies").forEach((p, i) => outbounds.push(this.proxy(p as O, i)));
    outbounds.push(...this.groups(list(root, "proxy-groups")));
    for (const key of ["proxy-providers", "script", "sub-rules", "listeners"]) {
      if (key in root) {
        outbounds.push(this.drops.drop(`"${key}"`, "no sing-box equivalent tunbox can write"));
      }
    }
    outbounds.push(...this.ruleProviders(obj(root, "rule-providers")));
    const inbounds = this.inbounds();
    const tun = this.tun(obj(root, "tun"));
    if (tun) inbounds.unshift(tun);
    const rules = this.rules(list(root, "rules"));
    if (tun && list(obj(root, "tun"), "dns-hijack").length > 0) {
      rules.rules.unshift(
        commented({ action: "sniff" }, "tun.dns-hijack: recognise DNS on any address"),
        { protocol: "dns", action: "hijack-dns" },
      );
    }
    const dns = this.dns(obj(root, "dns"), obj(root, "hosts"));
    if (dns) config.dns = dns;
    if (inbounds.length > 0) config.inbounds = inbounds;
    if (this.needsDirect || this.directTag === "") {
      if (!this.directTag) this.directTag = this.tags.take("direct");
      outbounds.push({ type: "direct", tag: this.directTag });
    }
    config.outbounds = outbounds;
    this.ruleSets.downloadDetour = this.proxyTag ?? "";
    const route: Record<string, Jsonc> = { rules: rules.rules };
    const sets = this.ruleSets.list();
    if (sets.length > 0) route.rule_set = sets;
    const mode = str(root, "mode").toLowerCase();
    if (mode === "direct") route.final = this.directTag;
    else if (mode === "global") {
      const global = this.names.get("GLOBAL") ?? this.proxyTag;
      if (global) route.final = global;
      route.rules = [];
      this.drops.lines.push("mode: global: every connection goes to route.final; rules left out");
    } else route.final = rules.final || this.directTag;
    if (str(obj(root, "tun"), "auto-detect-interface") !== "" || obj(root, "tun").enable) {
      route.auto_detect_interface = obj(root, "tun")["auto-detect-interface"] !== false;
    }
    config.route = route;
    const controller = str(root, "external-controller");
    if (controller) {
      const api: Record<string, Jsonc> = { external_controller: controller };
      if (str(root, "secret")) api.secret = str(root, "secret");
      config.experimental = { clash_api: api };
    }
    return {
      format: "Clash/mihomo YAML",
      config,
      listeners: this.listeners,
      servers: this.servers,
      proxyTag: this.proxyTag,
      dropped: this.drops.lines,
    };
  }

  inbounds(): Jsonc[] {
    const root = this.root;
    const allowLan = root["allow-lan"] === true;
    const bind = str(root, "bind-address");
    const listen = allowLan ? (bind && bind !== "*" ? bind : "::") : "127.0.0.1";
    const users = list(root, "authentication").map(String).flatMap((a) => {
      const i = a.indexOf(":");
      return i > 0 ? [{ username: a.slice(0, i), password: a.slice(i + 1) }] : [];
    });
    const out: Jsonc[] = [];
    const add = (key: string, type: LocalListener["type"]) => {
      const port = portOf(root[key]);
      if (port === 0) return;
      const ib: Record<string, Jsonc> = {
        type,
        tag: this.tags.take(`${type}-in`),
        listen,
        listen_port: port,
      };
      if (users.length > 0) ib.users = users;
      out.push(ib);
      this.listeners.push({ type, listen, port, udp: type === "http" ? null : true, users });
    };
    add("mixed-port", "mixed");
    add("socks-port", "socks");
    add("port", "http");
    for (const key of ["redir-port", "tproxy-port"]) {
      if (portOf(root[key])) {
        out.push(this.drops.drop(`${key}`, "tunbox has no redirect/tproxy inbound; use the tun"));
      }
    }
    return out;
  }

  tun(tun: O): Jsonc | null {
    if (tun.enable !== true) return null;
    const out: Record<string, Jsonc> = {
      type: "tun",
      tag: this.tags.take("tun-in"),
      address: ["172.19.0.1/30", "fdfe:dcba:9876::1/126"],
      auto_route: tun["auto-route"] !== false,
    };
    if (str(tun, "device")) out.interface_name = str(tun, "device");
    const stack = str(tun, "stack").toLowerCase();
    if (stack === "system" || stack === "gvisor" || stack === "mixed") out.stack = stack;
    if (tun["strict-route"] === true) out.strict_route = true;
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Proxies and groups
  // -------------------------------------------------------------------------------------------

  proxy(p: O, index: number): Jsonc {
    const name = str(p, "name");
    const type = str(p, "type");
    const where = `proxies[${index}] ("${name}", ${type})`;
    const server = str(p, "server");
    const port = portOf(p.port);
    if (!name) return this.drops.drop(where, "it has no name");
    if (!server || port === 0) return this.drops.drop(where, "it has no server and port");
    const comments: string[] = [];
    const tag = this.tags.take(name);
    const out: Record<string, Jsonc> = { type: "", tag, server, server_port: port };
    const tlsFields = () =>
      tlsObject({
        serverName: str(p, "servername") || str(p, "sni"),
        insecure: p["skip-cert-verify"] === true,
        alpn: list(p, "alpn").map(String),
        fingerprint: str(p, "client-fingerprint"),
        ...(Object.keys(obj(p, "reality-opts")).length > 0
          ? {
            reality: {
              publicKey: str(obj(p, "reality-opts"), "public-key"),
              shortId: str(obj(p, "reality-opts"), "short-id"),
            },
          }
          : {}),
      });
    switch (type) {
      case "ss": {
        out.type = "shadowsocks";
        out.method = str(p, "cipher");
        out.password = str(p, "password");
        const plugin = str(p, "plugin");
        const opts = obj(p, "plugin-opts");
        if (plugin === "obfs") {
          out.plugin = "obfs-local";
          const parts = [`obfs=${str(opts, "mode") || "http"}`];
          if (str(opts, "host")) parts.push(`obfs-host=${str(opts, "host")}`);
          out.plugin_opts = parts.join(";");
        } else if (plugin === "v2ray-plugin") {
          out.plugin = "v2ray-plugin";
          const parts: string[] = [];
          if (str(opts, "mode") && str(opts, "mode") !== "websocket") {
            parts.push(`mode=${str(opts, "mode")}`);
          }
          if (opts.tls === true) parts.push("tls");
          if (str(opts, "host")) parts.push(`host=${str(opts, "host")}`);
          if (str(opts, "path")) parts.push(`path=${str(opts, "path")}`);
          out.plugin_opts = parts.join(";");
        } else if (plugin) {
          return this.drops.drop(where, `sing-box has no "${plugin}" plugin`);
        }
        if (p["udp-over-tcp"] === true) out.udp_over_tcp = true;
        break;
      }
      case "vmess":
      case "vless": {
        out.type = type;
        out.uuid = str(p, "uuid");
        if (type === "vmess") {
          out.security = str(p, "cipher") || "auto";
          const alter = Number(p.alterId ?? 0);
          if (alter > 0) out.alter_id = alter;
        } else if (str(p, "flow")) out.flow = str(p, "flow");
        if (p.tls === true || Object.keys(obj(p, "reality-opts")).length > 0) {
          out.tls = tlsFields();
        }
        if (str(p, "packet-encoding")) out.packet_encoding = str(p, "packet-encoding");
        break;
      }
      case "trojan":
        out.type = "trojan";
        out.password = str(p, "password");
        out.tls = tlsFields();
        break;
      case "socks5":
        out.type = "socks";
        out.version = "5";
        if (str(p, "username")) out.username = str(p, "username");
        if (str(p, "password")) out.password = str(p, "password");
        if (p.tls === true) return this.drops.drop(where, "sing-box's socks outbound has no TLS");
        break;
      case "http":
        out.type = "http";
        if (str(p, "username")) out.username = str(p, "username");
        if (str(p, "password")) out.password = str(p, "password");
        if (p.tls === true) out.tls = tlsFields();
        break;
      case "hysteria2": {
        out.type = "hysteria2";
        out.password = str(p, "password");
        const up = parseInt(str(p, "up"));
        const down = parseInt(str(p, "down"));
        if (up > 0) out.up_mbps = up;
        if (down > 0) out.down_mbps = down;
        if (str(p, "obfs")) {
          out.obfs = { type: str(p, "obfs"), password: str(p, "obfs-password") };
        }
        out.tls = tlsFields();
        break;
      }
      default:
        return this.drops.drop(where, `tunbox import does not convert "${type}" proxies`);
    }
    const network = str(p, "network");
    if (network && network !== "tcp") {
      const transport = this.transport(p, network);
      if (!transport) return this.drops.drop(where, `transport "${network}" has no sing-box form`);
      out.transport = transport;
    }
    if (p.udp === false && out.type !== "http") out.network = "tcp";
    if (p.smux && obj(p, "smux").enabled === true) {
      comments.push("smux is not converted: set sing-box's multiplex if the server runs one");
    }
    this.names.set(name, tag);
    this.servers.push({ tag, protocol: String(out.type), host: server, port });
    if (this.proxyTag === null) this.proxyTag = tag;
    return comments.length > 0 ? commented(out, comments) : out;
  }

  transport(p: O, network: string): Record<string, Jsonc> | null {
    switch (network) {
      case "ws": {
        const o = obj(p, "ws-opts");
        const headers = obj(o, "headers");
        if (o["v2ray-http-upgrade"] === true) {
          const t: Record<string, Jsonc> = { type: "httpupgrade" };
          if (str(headers, "Host")) t.host = str(headers, "Host");
          if (str(o, "path")) t.path = str(o, "path");
          return t;
        }
        return wsTransport(
          str(o, "path"),
          str(headers, "Host") || str(headers, "host"),
          Number(o["max-early-data"] ?? 0),
          str(o, "early-data-header-name"),
        );
      }
      case "h2": {
        const o = obj(p, "h2-opts");
        const t: Record<string, Jsonc> = { type: "http" };
        const host = list(o, "host").map(String);
        if (host.length > 0) t.host = host;
        if (str(o, "path")) t.path = str(o, "path");
        return t;
      }
      case "http": {
        const o = obj(p, "http-opts");
        const t: Record<string, Jsonc> = { type: "http" };
        if (str(o, "method")) t.method = str(o, "method");
        const path = list(o, "path").map(String)[0];
        if (path) t.path = path;
        const host = list(obj(o, "headers"), "Host").map(String);
        if (host.length > 0) t.host = host;
        return t;
      }
      case "grpc": {
        const o = obj(p, "grpc-opts");
        const t: Record<string, Jsonc> = { type: "grpc" };
        if (str(o, "grpc-service-name")) t.service_name = str(o, "grpc-service-name");
        return t;
      }
      default:
        return null;
    }
  }

  groups(groups: unknown[]): Jsonc[] {
    const out: Jsonc[] = [];
    // Names first, so groups can refer to groups defined later.
    const valid: { g: O; tag: string }[] = [];
    for (const g of groups) {
      const name = str(g, "name");
      if (!name) continue;
      const tag = this.tags.take(name);
      this.names.set(name, tag);
      valid.push({ g: g as O, tag });
    }
    for (const [i, { g, tag }] of valid.entries()) {
      const name = str(g, "name");
      const type = str(g, "type");
      const where = `proxy-groups[${i}] ("${name}", ${type})`;
      const members: string[] = [];
      const skipped: string[] = [];
      for (const m of list(g, "proxies").map(String)) {
        if (m === "REJECT" || m === "REJECT-DROP") {
          skipped.push(`${m} (rejecting is a rule action in sing-box, not a group member)`);
        } else if (m === "DIRECT") {
          this.needsDirect = true;
          if (!this.directTag) this.directTag = this.tags.take("direct");
          members.push(this.directTag);
        } else if (this.names.has(m)) members.push(this.names.get(m)!);
        else skipped.push(`${m} (not converted)`);
      }
      const comments: string[] = [];
      if (skipped.length > 0) {
        comments.push(`left out of this group: ${skipped.join(", ")}`);
      }
      if (list(g, "use").length > 0) {
        comments.push("proxy providers (use:) are not converted; their proxies are missing here");
      }
      if (members.length === 0) {
        out.push(this.drops.drop(where, "none of its members was converted"));
        this.names.delete(name);
        continue;
      }
      let group: Record<string, Jsonc>;
      switch (type) {
        case "select":
          group = { type: "selector", tag, outbounds: members, default: members[0]! };
          break;
        case "url-test":
        case "fallback":
        case "load-balance": {
          group = { type: "urltest", tag, outbounds: members };
          if (str(g, "url")) group.url = str(g, "url");
          const interval = Number(g.interval ?? 0);
          if (interval > 0) group.interval = `${interval}s`;
          const tolerance = Number(g.tolerance ?? 0);
          if (tolerance > 0) group.tolerance = tolerance;
          if (type !== "url-test") {
            comments.push(
              `Clash ${type} group: sing-box has none, urltest (the fastest member) comes closest`,
            );
          }
          break;
        }
        default:
          out.push(this.drops.drop(where, `sing-box has no "${type}" group`));
          this.names.delete(name);
          continue;
      }
      if (this.proxyTag === null || (type === "select" && !this.selectorSeen)) {
        if (type === "select") this.selectorSeen = true;
        this.proxyTag = tag;
      }
      out.push(comments.length > 0 ? commented(group, comments) : group);
    }
    return out;
  }

  selectorSeen = false;

  // -------------------------------------------------------------------------------------------
  // Rules
  // -------------------------------------------------------------------------------------------

  /**
   * Converts inline rule providers into inline rule sets (remembered in `providers` for
   * `RULE-SET`); returns a comment for each provider that cannot be converted.
   */
  ruleProviders(providers: O): Jsonc[] {
    const notes: Jsonc[] = [];
    for (const [name, raw] of Object.entries(providers)) {
      const p = (raw ?? {}) as O;
      const type = str(p, "type").toLowerCase();
      const behavior = str(p, "behavior").toLowerCase();
      const where = `rule-providers.${name}`;
      let why = "";
      if (type !== "inline") {
        const kind = behavior === "ipcidr" ? "cidrs" : "domains";
        const format = str(p, "format") || "yaml";
        why = `its list (type "${type}", format "${format}") is in Clash's form, which sing-box ` +
          `cannot read; download it and run \`tunbox rule-set convert -t ${kind} <file>\`` +
          (behavior === "classical" ? " (classical lists: only their DOMAIN-* lines)" : "") +
          `, then name the result as a local rule set "${name}"`;
      } else if (!["domain", "ipcidr", "classical"].includes(behavior)) {
        why = `unknown behavior "${behavior}"`;
      } else {
        const rules = this.providerRules(behavior, list(p, "payload").map(String), where, notes);
        if (rules.length === 0) why = "its payload has nothing sing-box can match";
        else this.providers.set(name, this.ruleSets.inline(name, rules));
      }
      if (why) {
        this.providers.set(name, null);
        notes.push(this.drops.drop(where, why));
      }
    }
    return notes;
  }

  /** The headless rules of an inline provider's payload. */
  providerRules(behavior: string, payload: string[], where: string, notes: Jsonc[]): Jsonc[] {
    if (behavior === "classical") {
      const rules: Jsonc[] = [];
      payload.forEach((line, i) => {
        const parts = splitRule(line);
        const cond = this.condition(parts.slice(0, 2), parts.slice(2));
        if (typeof cond === "string") {
          notes.push(this.drops.drop(`${where}.payload[${i}] "${line}"`, cond));
        } else rules.push(cond);
      });
      return rules;
    }
    if (behavior === "ipcidr") {
      const cidrs: string[] = [];
      payload.forEach((v, i) => {
        const c = cidr(v.trim());
        if (c) cidrs.push(c);
        else notes.push(this.drops.drop(`${where}.payload[${i}] "${v}"`, "not an address or CIDR"));
      });
      return cidrs.length > 0 ? [{ ip_cidr: cidrs }] : [];
    }
    const rule: Record<string, string[]> = {};
    const add = (key: string, v: string) => (rule[key] ??= []).push(v);
    for (const raw of payload) {
      const v = raw.trim();
      if (v === "" || v.startsWith("#")) continue;
      if (v.startsWith("+.")) add("domain_suffix", v.slice(2));
      else if (v.startsWith(".")) add("domain_suffix", v);
      else if (v.startsWith("*.")) {
        add("domain_regex", `^[^.]+\\.${v.slice(2).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
      } else add("domain", v);
    }
    return Object.keys(rule).length > 0 ? [rule] : [];
  }

  rules(raw: unknown[]): { rules: Jsonc[]; final: string } {
    const rules: Jsonc[] = [];
    let final = "";
    raw.forEach((line, i) => {
      const text = String(line);
      const where = `rules[${i}] "${text}"`;
      const parts = splitRule(text);
      const type = (parts[0] ?? "").toUpperCase();
      if (type === "MATCH" || type === "FINAL") {
        const target = this.target(parts[1] ?? "");
        if (typeof target === "string") {
          rules.push(this.drops.drop(where, target));
        } else if ("outbound" in target) final = String(target.outbound);
        else rules.push(commented({ ...target }, `${text}`));
        return;
      }
      const target = this.target(parts[2] ?? "");
      if (typeof target === "string") {
        rules.push(this.drops.drop(where, target));
        return;
      }
      const cond = this.condition(parts.slice(0, 2), parts.slice(3));
      if (typeof cond === "string") {
        rules.push(this.drops.drop(where, cond));
        return;
      }
      rules.push({ ...cond, ...target });
    });
    return { rules, final };
  }

  /** The action for a rule target: an outbound, reject, or why it cannot be converted. */
  target(name: string): Record<string, Jsonc> | string {
    const n = name.trim();
    if (n === "DIRECT") {
      this.needsDirect = true;
      if (!this.directTag) this.directTag = this.tags.take("direct");
      return { outbound: this.directTag };
    }
    if (n === "REJECT" || n === "REJECT-TINY") return { action: "reject" };
    if (n === "REJECT-DROP") return { action: "reject", method: "drop" };
    if (n === "PASS") return "PASS has no sing-box equivalent";
    const tag = this.names.get(n);
    if (tag) return { outbound: tag };
    return `its target "${n}" is not a converted proxy or group`;
  }

  /** A sing-box rule condition for `TYPE,value` (or a logical payload), or why not. */
  condition(head: string[], options: string[]): Record<string, Jsonc> | string {
    const type = (head[0] ?? "").toUpperCase();
    const value = (head[1] ?? "").trim();
    void options; // no-resolve and src are accepted: TUN flows carry addresses already.
    switch (type) {
      case "DOMAIN":
        return { domain: [value] };
      case "DOMAIN-SUFFIX":
        return { domain_suffix: [value] };
      case "DOMAIN-KEYWORD":
        return { domain_keyword: [value] };
      case "DOMAIN-REGEX":
        return { domain_regex: [value] };
      case "GEOSITE":
        return { rule_set: [this.ruleSets.ref("geosite", value)] };
      case "RULE-SET": {
        const tag = this.providers.get(value);
        if (tag) return { rule_set: [tag] };
        return tag === null
          ? `rule provider "${value}" was not converted (see rule-providers.${value})`
          : `no rule provider "${value}"`;
      }
      case "GEOIP": {
        const v = value.toLowerCase();
        if (v === "lan" || v === "private") return { ip_is_private: true };
        return { rule_set: [this.ruleSets.ref("geoip", value)] };
      }
      case "IP-CIDR":
      case "IP-CIDR6": {
        const c = cidr(value);
        return c ? { ip_cidr: [c] } : `bad address "${value}"`;
      }
      case "SRC-IP-CIDR": {
        const c = cidr(value);
        return c ? { source_ip_cidr: [c] } : `bad address "${value}"`;
      }
      case "DST-PORT":
      case "SRC-PORT": {
        const p = portList(value.replace(/\//g, ","));
        if (p.bad.length > 0) return `bad port "${value}"`;
        const pre = type === "SRC-PORT" ? "source_" : "";
        const out: Record<string, Jsonc> = {};
        if (p.port.length > 0) out[`${pre}port`] = p.port;
        if (p.port_range.length > 0) out[`${pre}port_range`] = p.port_range;
        return out;
      }
      case "NETWORK":
        return { network: [value.toLowerCase()] };
      case "PROCESS-NAME":
        return { process_name: [value] };
      case "PROCESS-PATH":
        return { process_path: [value] };
      case "AND":
      case "OR":
      case "NOT": {
        const subs = splitLogical(value);
        if (subs === null) return `cannot read the sub-rules "${value}"`;
        const rules: Jsonc[] = [];
        for (const s of subs) {
          const c = this.condition(splitRule(s), []);
          if (typeof c === "string") return c;
          rules.push(c);
        }
        if (type === "NOT") {
          if (rules.length !== 1) return "NOT takes one sub-rule";
          return { type: "logical", mode: "and", rules, invert: true };
        }
        return { type: "logical", mode: type === "AND" ? "and" : "or", rules };
      }
      case "IP-SUFFIX":
      case "IP-ASN":
      case "SRC-GEOIP":
      case "SRC-IP-ASN":
      case "IN-PORT":
      case "IN-TYPE":
      case "IN-USER":
      case "IN-NAME":
      case "SUB-RULE":
      case "SCRIPT":
      case "UID":
      case "DSCP":
        return `sing-box has no ${type} rule tunbox can write`;
      default:
        return `unknown rule type "${type}"`;
    }
  }

  // -------------------------------------------------------------------------------------------
  // DNS
  // -------------------------------------------------------------------------------------------

  dns(dns: O, hosts: O): Record<string, Jsonc> | null {
    if (dns.enable === false && Object.keys(hosts).length === 0) return null;
    const servers: Jsonc[] = [];
    const rules: Jsonc[] = [];
    const tags = new Tags();
    const nameservers = list(dns, "nameserver").map(String);
    const detour = this.proxyTag ?? "";
    let final = "";
    const server = (addr: string, wanted: string): Record<string, Jsonc> | Note => {
      const s = clashNameserver(addr);
      if (typeof s === "string") return this.drops.drop(`dns nameserver "${addr}"`, s);
      s.tag = tags.take(wanted);
      if (s.type !== "local" && s.type !== "dhcp" && detour) s.detour = detour;
      return s;
    };
    nameservers.forEach((addr, i) => {
      const s = server(addr, i === 0 ? "remote" : `remote-${i + 1}`);
      servers.push(s);
      if (!final && !(s instanceof Object && "lines" in s)) final = String((s as O).tag);
    });
    if (list(dns, "fallback").length > 0) {
      servers.push(this.drops.drop(
        "dns fallback",
        "sing-box has no fallback servers chosen by geoip; add DNS rules instead",
      ));
    }
    for (const [pattern, addr] of Object.entries(obj(dns, "nameserver-policy"))) {
      const first = Array.isArray(addr) ? String(addr[0]) : String(addr);
      const s = server(first, "policy");
      servers.push(s);
      if ("lines" in (s as object)) continue;
      const cond = clashDomainPattern(pattern, this.ruleSets);
      if (typeof cond === "string") {
        rules.push(this.drops.drop(`nameserver-policy "${pattern}"`, cond));
      } else rules.push({ ...cond, server: String((s as O).tag) });
    }
    const hostEntries = Object.entries(hosts);
    if (hostEntries.length > 0) {
      const predefined: Record<string, Jsonc> = {};
      for (const [name, value] of hostEntries) {
        const addrs = (Array.isArray(value) ? value : [value]).map(String);
        if (name.includes("*") || !addrs.every((a) => cidr(a) !== null)) {
          servers.push(this.drops.drop(`hosts "${name}"`, "wildcards and name targets do not map"));
          continue;
        }
        predefined[name] = addrs;
      }
      if (Object.keys(predefined).length > 0) {
        const tag = tags.take("hosts");
        servers.push({ type: "hosts", tag, predefined });
        rules.unshift({ domain: Object.keys(predefined), server: tag });
      }
    }
    if (str(dns, "enhanced-mode") === "fake-ip") {
      const tag = tags.take("fakeip");
      servers.push({
        type: "fakeip",
        tag,
        inet4_range: cidr(str(dns, "fake-ip-range")) ?? "198.18.0.0/15",
      });
      const filter = list(dns, "fake-ip-filter").map(String);
      if (filter.length > 0 && final) {
        for (const f of filter) {
          const cond = clashDomainPattern(f, this.ruleSets);
          if (typeof cond === "string") rules.push(this.drops.drop(`fake-ip-filter "${f}"`, cond));
          else rules.push({ ...cond, server: final });
        }
      }
      rules.push({ query_type: ["A", "AAAA"], server: tag });
    }
    // mihomo resolves nameservers given by name with `default-nameserver` (else the system):
    // sing-box names that server in `domain_resolver`.
    const byName = servers.filter((x): x is Record<string, Jsonc> =>
      x instanceof Object && !("lines" in x) && typeof (x as O).server === "string" &&
      cidr(String((x as O).server)) === null
    );
    if (byName.length > 0) {
      const bootstrap = list(dns, "default-nameserver").map(String)
        .map((a) => clashNameserver(a))
        .find((b): b is Record<string, Jsonc> =>
          typeof b !== "string" && (b.type === "udp" || b.type === "tcp") &&
          cidr(String(b.server)) !== null
        );
      const tag = tags.take("bootstrap");
      servers.push(bootstrap ? { ...bootstrap, tag } : { type: "local", tag });
      for (const x of byName) x.domain_resolver = tag;
    }
    if (servers.length === 0) return null;
    const out: Record<string, Jsonc> = { servers };
    if (rules.length > 0) out.rules = rules;
    if (final) out.final = final;
    if (dns.ipv6 === false || this.root.ipv6 === false) out.strategy = "ipv4_only";
    return out;
  }
}

/** Splits `TYPE,value,target,opt` at top-level commas (commas inside parentheses stay). */
export function splitRule(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of text) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      out.push(cur.trim());
      cur = "";
    } else cur += ch;
  }
  out.push(cur.trim());
  return out;
}

/** `((DOMAIN,a),(NETWORK,udp))` → ["DOMAIN,a", "NETWORK,udp"]; null when malformed. */
function splitLogical(payload: string): string[] | null {
  const p = payload.trim();
  if (!p.startsWith("(") || !p.endsWith(")")) return null;
  const inner = p.slice(1, -1);
  const out: string[] = [];
  let depth = 0;
  let start = -1;
  for (let i = 0; i < inner.length; i++) {
    const ch = inner[i];
    if (ch === "(") {
      if (depth === 0) start = i + 1;
      depth++;
    } else if (ch === ")") {
      depth--;
      if (depth === 0) out.push(inner.slice(start, i));
      if (depth < 0) return null;
    }
  }
  return depth === 0 && out.length > 0 ? out : null;
}

/** A Clash domain pattern (`+.example.com`, `*.example.com`, `geosite:cn`) as rule items. */
function clashDomainPattern(pattern: string, sets: RuleSets): Record<string, Jsonc> | string {
  if (pattern.startsWith("geosite:")) return { rule_set: [sets.ref("geosite", pattern.slice(8))] };
  if (pattern.startsWith("+.")) return { domain_suffix: [pattern.slice(2)] };
  if (pattern.startsWith(".")) return { domain_suffix: [pattern] };
  if (pattern.startsWith("*.") && !pattern.slice(2).includes("*")) {
    return { domain_regex: [`^[^.]+\\.${pattern.slice(2).replace(/\./g, "\\.")}$`] };
  }
  if (pattern.includes("*")) return "wildcards inside a name do not map";
  return { domain: [pattern] };
}

/** A Clash nameserver (`8.8.8.8`, `tls://1.1.1.1:853`, `https://…`, `system`) as a server. */
function clashNameserver(addr: string): Record<string, Jsonc> | string {
  if (addr === "system" || addr === "system://") return { type: "local" };
  if (addr.startsWith("dhcp://")) {
    const iface = addr.slice(7);
    return iface && iface !== "system" ? { type: "dhcp", interface: iface } : { type: "dhcp" };
  }
  const m = /^(udp|tcp|tls|https|quic|h3):\/\/([^/#]+)(\/[^#]*)?/.exec(addr);
  const scheme = m ? m[1]! : "udp";
  const hostPort = m ? m[2]! : addr.split("#")[0]!;
  const hp = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(hostPort);
  if (!hp) return "not an address";
  const out: Record<string, Jsonc> = { type: scheme, server: hp[1]!.replace(/^\[|\]$/g, "") };
  if (hp[2]) out.server_port = Number(hp[2]);
  if ((scheme === "https" || scheme === "h3") && m?.[3] && m[3] !== "/dns-query") out.path = m[3];
  return out;
}

/** Converts a parsed Clash/mihomo config. Throws {@linkcode ImportError} for non-configs. */
export function importClash(root: O): Imported {
  if (!isClashConfig(root)) {
    throw new ImportError("not a Clash config: no proxies, proxy-groups, rules or ports");
  }
  return new ClashConverter(root).convert();
}
