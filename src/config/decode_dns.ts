/**
 * The `dns` section: typed servers (sing-box 1.12), legacy `address` servers upgraded to typed
 * ones with a warning (mapping of sing-box's `DNSServerOptions.Upgrade`), rules, and options.
 *
 * @module
 */

import type { JsonNode } from "./jsonc.ts";
import type { Ctx, Obj } from "./reader.ts";
import { decodeDnsRule, type RCODES, sourceOf } from "./decode_rule.ts";
import { domainStrategy, readDialFields } from "./decode_dial.ts";
import { readHeaders } from "./decode_outbound.ts";
import { readTls } from "./decode_tls.ts";
import { defineTag, entryType } from "./entry.ts";
import { featureId, verdict } from "./support.ts";
import { dialFieldsEmpty } from "./decode_dial.ts";
import { fakeIpRangeProblem, Invalid, isDomainName, splitHostPort } from "./values.ts";
import { formatPrefix } from "../net/ip.ts";
import { parseIp } from "../net/ip.ts";
import type {
  DnsOptions,
  DnsRule,
  DnsServerOptions,
  DnsServerType,
  Options,
  Prefix,
} from "./types.ts";

const TYPED = [
  "local",
  "hosts",
  "udp",
  "tcp",
  "tls",
  "quic",
  "https",
  "h3",
  "dhcp",
  "fakeip",
  "resolved",
  "tailscale",
] as const satisfies readonly DnsServerType[];

const RCODE_NAMES: Record<string, (typeof RCODES)[number]> = {
  success: "NOERROR",
  format_error: "FORMERR",
  server_failure: "SERVFAIL",
  name_error: "NXDOMAIN",
  not_implemented: "NOTIMP",
  refused: "REFUSED",
};

function emptyServer(type: DnsServerType, tag: string): DnsServerOptions {
  return { type, tag, headers: {}, hosts_path: [], predefined: {} };
}

/** Validates `server` as an IP address or domain name. */
function checkServerHost(ctx: Ctx, node: JsonNode, path: string, host: string): boolean {
  if (host === "") {
    ctx.error(node, path, "missing server address");
    return false;
  }
  // Digits-and-dots or anything with a colon must be an IP address; the rest a domain name.
  if (/^[0-9.]+$/.test(host) || host.includes(":")) {
    if (parseIp(host) === null) {
      ctx.error(node, path, `invalid server address ${JSON.stringify(host)}`);
      return false;
    }
    return true;
  }
  if (!isDomainName(host)) {
    ctx.error(node, path, `invalid server address ${JSON.stringify(host)}`);
    return false;
  }
  return true;
}

interface LegacyResult {
  server?: DnsServerOptions;
  rcode?: (typeof RCODES)[number];
}

/** The typed form of an upgraded server, for the warning text. */
function typedForm(s: DnsServerOptions): string {
  const o: Record<string, unknown> = { type: s.type };
  if (s.server !== undefined) o.server = s.server;
  if (s.server_port !== undefined) o.server_port = s.server_port;
  if (s.path !== undefined) o.path = s.path;
  if (s.interface !== undefined) o.interface = s.interface;
  if (s.detour !== undefined) o.detour = s.detour;
  if (s.domain_resolver !== undefined) {
    o.domain_resolver = s.domain_resolver.strategy
      ? { server: s.domain_resolver.server, strategy: s.domain_resolver.strategy }
      : s.domain_resolver.server;
  }
  if (s.inet4_range !== undefined) o.inet4_range = formatPrefix(s.inet4_range);
  if (s.inet6_range !== undefined) o.inet6_range = formatPrefix(s.inet6_range);
  return JSON.stringify(o).replaceAll(",", ", ").replaceAll('":', '": ');
}

/** The ranges of the legacy `dns.fakeip` block (sing-box's defaults when it names none). */
function fakeRanges(f: NonNullable<DnsOptions["fakeip"]>): Pick<DnsServerOptions, "inet4_range"> {
  return f.inet4_range || f.inet6_range
    ? {
      ...(f.inet4_range ? { inet4_range: f.inet4_range } : {}),
      ...(f.inet6_range ? { inet6_range: f.inet6_range } : {}),
    }
    : { inet4_range: { addr: new Uint8Array([198, 18, 0, 0]), bits: 15 } };
}

/** Decodes a legacy server (`address`), upgrading it as sing-box does. */
function decodeLegacy(
  o: Obj,
  tag: string,
  fakeip: DnsOptions["fakeip"],
): LegacyResult {
  const ctx = o.ctx;
  const addrAt = o.at("address");
  const address = o.string("address");
  const resolver = o.tagRef("address_resolver", "dns server");
  const addressStrategy = domainStrategy(o, "address_strategy");
  const fallbackDelay = o.duration("address_fallback_delay");
  const strategy = domainStrategy(o, "strategy");
  const detour = o.tagRef("detour", "outbound");
  const clientSubnet = o.prefix("client_subnet", true);
  o.done(" in a legacy DNS server");
  if (!addrAt || address === undefined) {
    if (!addrAt) ctx.error(o.node, o.path, 'missing "type" (or the legacy "address")');
    return {};
  }
  const at = addrAt.node;
  const path = addrAt.path;
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)/.exec(address);
  let scheme: string;
  let host = "";
  let urlPath = "";
  if (m) {
    scheme = m[1]!.toLowerCase();
    host = m[2]!;
    urlPath = m[3]!;
  } else if (address === "local" || address === "fakeip") {
    scheme = address;
  } else {
    scheme = "udp";
    host = address;
  }
  const out = emptyServer("udp", tag);
  out.legacy = true;
  if (detour !== undefined) out.detour = detour;
  if (resolver !== undefined) {
    out.address_resolver = resolver;
    out.domain_resolver = { server: resolver };
    if (addressStrategy !== undefined) out.domain_resolver.strategy = addressStrategy;
  }
  if (addressStrategy !== undefined) out.address_strategy = addressStrategy;
  if (fallbackDelay !== undefined) out.fallback_delay = fallbackDelay;
  if (strategy !== undefined) out.strategy = strategy;
  if (clientSubnet !== undefined) out.client_subnet = clientSubnet;

  const hostPort = (defaultPort: number): boolean => {
    const hp = splitHostPort(host);
    if (hp instanceof Invalid) {
      ctx.error(at, path, `invalid DNS server address ${JSON.stringify(address)}: ${hp.reason}`);
      return false;
    }
    if (!checkServerHost(ctx, at, path, hp.host)) return false;
    out.server = hp.host;
    if (hp.port !== undefined && hp.port !== 0 && hp.port !== defaultPort) {
      out.server_port = hp.port;
    }
    return true;
  };

  let rcode: (typeof RCODES)[number] | undefined;
  switch (scheme) {
    case "local":
      out.type = "local";
      break;
    case "udp":
    case "tcp":
      out.type = scheme;
      if (!hostPort(53)) return {};
      break;
    case "tls":
    case "quic":
      out.type = scheme;
      if (!hostPort(853)) return {};
      break;
    case "https":
    case "h3":
      out.type = scheme;
      if (!hostPort(443)) return {};
      if (urlPath !== "/dns-query") out.path = urlPath;
      break;
    case "rcode":
      rcode = RCODE_NAMES[host];
      if (!rcode) {
        ctx.error(
          at,
          path,
          `unknown rcode ${JSON.stringify(host)}; expected one of ${
            Object.keys(RCODE_NAMES).join(", ")
          }`,
        );
        return {};
      }
      break;
    case "dhcp":
      out.type = "dhcp";
      if (host !== "" && host !== "auto") out.interface = host;
      break;
    case "fakeip":
      out.type = "fakeip";
      if (fakeip?.inet4_range) out.inet4_range = fakeip.inet4_range;
      if (fakeip?.inet6_range) out.inet6_range = fakeip.inet6_range;
      break;
    default:
      ctx.error(at, path, `unsupported DNS server scheme ${JSON.stringify(scheme)}`);
      return {};
  }
  const id = featureId("dns.server", out.type);
  if (
    rcode === undefined && id !== undefined && !ctx.support(id, at, path) &&
    verdict(id, ctx.os).level === "error"
  ) {
    // No upgrade hint: the typed form would not run either; the verdict says what to use.
    out.source = sourceOf(o);
    ctx.where.set(out, o);
    return { server: out };
  }
  const head = "legacy DNS server address is deprecated in sing-box 1.12.0 and removed in 1.14.0";
  const tail =
    "tunbox upgrades it (sing-box 1.13 refuses it unless ENABLE_DEPRECATED_LEGACY_DNS_SERVERS=true)";
  if (rcode) {
    ctx.warn(
      at,
      path,
      `${head}; DNS rules that use this server become {"action": "predefined", "rcode": "${rcode}"}, write them that way; ${tail}`,
    );
    return { rcode };
  }
  // The upgrade hint is written after the whole config is checked (legacyDnsHints): the typed
  // form it suggests must be one tunbox runs, the same way.
  out.source = sourceOf(o);
  ctx.where.set(out, o);
  return { server: out };
}

/** Dial types whose legacy form sends queries through the default outbound. */
const REMOTE_TYPES = ["udp", "tcp", "tls", "quic", "https", "h3"];

/**
 * Warns about each upgraded legacy server with the typed form to write instead, chosen so that
 * it runs, and runs the same: a legacy server without `detour` used the default outbound, so the
 * typed form names it (a typed server dials directly); a detour to an empty direct outbound is
 * left out (sing-box refuses it in the typed form). Servers with an error get no hint.
 */
export function legacyDnsHints(options: Options, ctx: Ctx): void {
  const head = "legacy DNS server address is deprecated in sing-box 1.12.0 and removed in 1.14.0";
  const tail =
    "tunbox upgrades it (sing-box 1.13 refuses it unless ENABLE_DEPRECATED_LEGACY_DNS_SERVERS=true)";
  const byTag = new Map(options.outbounds.map((o) => [o.tag, o]));
  const emptyDirect = (tag: string | undefined) => {
    const o = tag === undefined ? undefined : byTag.get(tag);
    return o?.type === "direct" && dialFieldsEmpty(o);
  };
  const defaultOutbound = options.route.final || options.outbounds[0]?.tag;
  for (const s of options.dns.servers) {
    if (!s.legacy) continue;
    const o = ctx.where.get(s);
    const at = o?.at("address");
    if (!o || !at) continue;
    const id = featureId("dns.server", s.type);
    // An error's verdict is the message; a warning's (h3) runs, so the typed form is hinted too.
    if (id === undefined || verdict(id, ctx.os).level === "error") continue;
    if (ctx.diag.errors.some((e) => e.path === o.path || e.path.startsWith(`${o.path}.`))) {
      continue;
    }
    const typed: DnsServerOptions = { ...s };
    delete typed.detour;
    if (REMOTE_TYPES.includes(s.type)) {
      const via = s.detour ?? defaultOutbound;
      if (via !== undefined && !emptyDirect(via)) typed.detour = via;
    }
    // Per-server "strategy" and "client_subnet" have no place in the typed form.
    const moved = [
      s.strategy ? `"strategy": "${s.strategy}"` : "",
      s.client_subnet ? `"client_subnet": "${formatPrefix(s.client_subnet)}"` : "",
    ].filter((x) => x !== "");
    const move = moved.length === 0
      ? ""
      : ` and move ${moved.join(", ")} to the DNS rules that route to it (or to "dns")`;
    ctx.warn(
      at.node,
      at.path,
      `${head}, use the typed form ${typedForm(typed)} instead${move}; ${tail}`,
    );
  }
}

/** A FakeIP range of the given family, big enough to allocate from. */
function fakeIpRange(o: Obj, key: string, len: 4 | 16): Prefix | undefined {
  const r = o.prefix(key, false);
  if (!r) return undefined;
  const at = o.at(key)!;
  if (r.addr.length !== len) {
    o.ctx.error(at.node, at.path, `not an IPv${len === 4 ? 4 : 6} prefix`);
    return undefined;
  }
  const problem = fakeIpRangeProblem(r);
  if (problem) {
    o.ctx.error(at.node, at.path, `FakeIP range ${formatPrefix(r)} ${problem}`);
    return undefined;
  }
  return r;
}

/** Decodes one typed server. */
function decodeTyped(o: Obj, type: DnsServerType, tag: string): DnsServerOptions | undefined {
  const ctx = o.ctx;
  const out = emptyServer(type, tag);
  out.source = sourceOf(o);
  switch (type) {
    case "local":
      readDialFields(o, out);
      {
        const pg = o.bool("prefer_go");
        if (pg !== undefined) out.prefer_go = pg;
      }
      break;
    case "hosts":
      out.hosts_path = o.strings("path");
      out.predefined = o.map("predefined", (n, p) =>
        ctx.listable(n, p, (x, q) => {
          const text = ctx.string(x, q);
          if (text === undefined) return undefined;
          return ctx.address(x, q) === undefined ? undefined : text;
        }));
      break;
    case "udp":
    case "tcp":
    case "tls":
    case "quic":
    case "https":
    case "h3": {
      readDialFields(o, out);
      const at = o.at("server");
      const server = o.string("server");
      if (!at) ctx.error(o.node, o.path, `missing "server" for a DNS server of type "${type}"`);
      else if (server !== undefined && checkServerHost(ctx, at.node, at.path, server)) {
        out.server = server;
      }
      const port = o.port("server_port");
      if (port !== undefined) out.server_port = port;
      if (type !== "udp" && type !== "tcp") {
        const tls = readTls(o);
        if (tls) out.tls = tls;
      }
      if (type === "https" || type === "h3") {
        const p = o.string("path");
        if (p !== undefined) out.path = p;
        out.headers = readHeaders(o);
        const method = o.enumOf("method", ["GET", "POST"] as const, { get: "GET", post: "POST" });
        if (method !== undefined) out.method = method;
      }
      break;
    }
    case "dhcp": {
      readDialFields(o, out);
      const i = o.string("interface");
      if (i !== undefined) out.interface = i;
      break;
    }
    case "fakeip": {
      const r4 = fakeIpRange(o, "inet4_range", 4);
      if (r4) out.inet4_range = r4;
      const r6 = fakeIpRange(o, "inet6_range", 16);
      if (r6) out.inet6_range = r6;
      break;
    }
    case "resolved":
    case "tailscale":
      o.known("service", "endpoint", "accept_default_resolvers");
      ctx.error(
        o.at("type")!.node,
        o.p("type"),
        `DNS server type "${type}" is not supported by tunbox`,
      );
      o.done();
      return undefined;
  }
  o.done(` in a DNS server of type "${type}"`);
  ctx.where.set(out, o);
  return out;
}

/** Decodes the `dns` section. */
export function decodeDns(o: Obj | undefined): DnsOptions {
  const dns: DnsOptions = { servers: [], rules: [] };
  if (!o) return dns;
  const ctx = o.ctx;
  o.strict("fakeip");
  // The legacy fakeip block is read first: legacy `fakeip` servers take their ranges from it.
  const f = o.object("fakeip");
  if (f) {
    const fake: NonNullable<DnsOptions["fakeip"]> = {};
    const enabled = f.bool("enabled");
    if (enabled !== undefined) fake.enabled = enabled;
    const r4 = fakeIpRange(f, "inet4_range", 4);
    if (r4) fake.inet4_range = r4;
    const r6 = fakeIpRange(f, "inet6_range", 16);
    if (r6) fake.inet6_range = r6;
    f.done();
    dns.fakeip = fake;
    if (fake.enabled) {
      ctx.warn(
        o.keyPos("fakeip"),
        o.p("fakeip"),
        `legacy DNS fakeip options are deprecated in sing-box 1.12.0 and removed in 1.14.0, use a DNS server ${
          typedForm({ ...emptyServer("fakeip", ""), ...fakeRanges(fake) })
        } instead; tunbox upgrades it`,
      );
    }
  }
  const rcodes = new Map<string, (typeof RCODES)[number]>();
  o.items("servers").forEach((item, i) => {
    const s = ctx.object(item.node, item.path);
    if (!s) return;
    const tag = defineTag(s, "dns server", i);
    s.known("tag");
    const typeAt = s.at("type");
    const rawType = typeAt && typeAt.node.kind === "string" ? typeAt.node.value : undefined;
    if (!typeAt || rawType === "" || rawType === "legacy") {
      const r = decodeLegacy(s, tag, dns.fakeip);
      if (r.server) dns.servers.push(r.server);
      if (r.rcode) {
        rcodes.set(tag, r.rcode);
        ctx.rcodeServers.add(tag);
      }
      return;
    }
    const type = entryType(s, "dns.server", TYPED);
    if (!type) {
      s.known(...ALL_DNS_SERVER_KEYS);
      s.done();
      return;
    }
    const server = decodeTyped(s, type, tag);
    if (server) dns.servers.push(server);
  });
  dns.rules = o.items("rules").map((r) => decodeDnsRule(ctx, r.node, r.path))
    .filter((r): r is DnsRule => r !== undefined);
  if (rcodes.size > 0) {
    const rewrite = (rule: DnsRule) => {
      if (rule.action.action !== "route") return;
      const rcode = rcodes.get(rule.action.server);
      if (rcode) rule.action = { action: "predefined", rcode, answer: [], ns: [], extra: [] };
    };
    dns.rules.forEach(rewrite);
    // The rewritten rules no longer reference the removed servers.
    for (let i = ctx.refs.length - 1; i >= 0; i--) {
      const r = ctx.refs[i]!;
      if (
        r.kind === "dns server" && rcodes.has(r.tag) && /^dns\.rules\[\d+\]\.server$/.test(r.path)
      ) {
        ctx.refs.splice(i, 1);
      }
    }
  }
  const fin = o.tagRef("final", "dns server");
  if (fin !== undefined) dns.final = fin;
  const strategy = domainStrategy(o, "strategy");
  if (strategy !== undefined) dns.strategy = strategy;
  const set = <K extends keyof DnsOptions>(k: K, v: DnsOptions[K] | undefined) => {
    if (v !== undefined) dns[k] = v;
  };
  set("disable_cache", o.bool("disable_cache"));
  set("disable_expire", o.bool("disable_expire"));
  set("independent_cache", o.bool("independent_cache"));
  set("cache_capacity", o.int("cache_capacity", 0, 0xffffffff));
  // sing-box 1.14. A zero timeout is sing-box's "unset" (the default applies).
  const timeout = o.duration("timeout");
  if (timeout) dns.timeout = timeout;
  o.feature("optimistic", "dns.optimistic");
  set("reverse_mapping", o.bool("reverse_mapping"));
  const cs: Prefix | undefined = o.prefix("client_subnet", true);
  set("client_subnet", cs);
  o.done(" in dns");
  ctx.where.set(dns, o);
  return dns;
}

/** Every key any DNS server type accepts (for suggestions when the type itself is wrong). */
const ALL_DNS_SERVER_KEYS = [
  "tag",
  "type",
  "server",
  "server_port",
  "path",
  "headers",
  "tls",
  "interface",
  "inet4_range",
  "inet6_range",
  "predefined",
  "prefer_go",
  "detour",
  "bind_interface",
  "domain_resolver",
];
