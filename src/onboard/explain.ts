/**
 * `tunbox explain`: which rule a connection would match and why, which outbound it would use,
 * and which DNS server would answer its name. The router evaluates the flow with a trace
 * (`Router.route(meta, hooks, trace)`): the same code `run` uses, so the verdict here is the
 * router's decision, not a second matcher's. DNS uses `DnsRouter.select`, the DNS router's own
 * rule walk.
 *
 * What the flow looks like before routing, as `run` would see it:
 * - a TUN flow has an IP destination and the TUN's address as its source; a domain is resolved
 *   (the caller's resolver) unless the DNS rules answer it from a FakeIP server, in which case
 *   the destination becomes the domain, as the worker's FakeIP lookup does; with
 *   `dns.reverse_mapping` the domain is known before sniffing;
 * - listener flows (socks/http/mixed) carry the domain as their destination;
 * - sniffing finds what the flow would carry: TLS (TCP, or any port with a name), HTTP (port
 *   80), QUIC (UDP 443), DNS (port 53), with the name given;
 * - `resolve` actions get the caller's addresses.
 *
 * {@linkcode explainConnection} is the entry point for other front ends (the Clash API).
 *
 * @module
 */

import type { Options, Rule } from "../config/types.ts";
import { isSupported } from "../config/support.ts";
import { createDns, type DnsModule } from "../dns/mod.ts";
import { dnsMetadata } from "../dns/router.ts";
import { TYPE_A, TYPE_AAAA } from "../net/dns/wire.ts";
import { Reactor } from "../io/reactor.ts";
import { formatIp, parseIp } from "../net/ip.ts";
import { builtinOutbounds, createOutbounds } from "../outbound/mod.ts";
import { compileGoRegex } from "../config/go_regex.ts";
import { type ConnMetadata, newConnMetadata } from "../route/metadata.ts";
import type { RuleSetRegistry } from "../route/rule_set.ts";
import { RuleSetManager } from "../ruleset/manager.ts";
import { createRuleSetRegistry } from "../ruleset/worker_side.ts";
import { type RouteDecision, Router, type RouteTrace, type RuleStep } from "../route/router.ts";
import type { ItemTrace } from "../route/rule.ts";

/** What to explain. */
export interface ExplainInput {
  /** An IP address, `ip:port`, `[v6]:port`, a domain, `domain:port` or a URL. */
  destination: string;
  port?: number;
  udp?: boolean;
  /** The name sniffing would find (TLS SNI, HTTP Host, QUIC SNI). */
  domain?: string;
  /** The protocol sniffing would find; default from the port and network. */
  protocol?: string;
  /** The process (a name or an executable's path) the process rules see (Linux, macOS). */
  process?: string;
  /** The inbound tag; default the first tun inbound. */
  inbound?: string;
}

/** One evaluated item with what the flow had for it. */
export interface ExplainedItem extends ItemTrace {
  /** The flow's value for the item's field, in words (`destination port 80`). */
  observed: string;
  items?: ExplainedItem[];
}

/** A rule tried, with its items explained. */
export interface ExplainedStep extends Omit<RuleStep, "items"> {
  items: ExplainedItem[];
}

/** The answer. */
export interface Explanation {
  flow: {
    network: string;
    inbound: string;
    inboundType: string;
    source: string;
    destination: string;
    domain: string;
    protocol: string;
  };
  steps: ExplainedStep[];
  /** Rules after the deciding one (not evaluated). */
  notReached: { index: number; text: string }[];
  decision: RouteDecision;
  /** The outbound used, in words (`socks 127.0.0.1:1080`), when the decision routes. */
  outbound: string;
  /** The DNS server for the flow's name (a hijacked A/AAAA query), when there is a name. */
  dns: { server: string | null; ruleIndex: number; ruleText: string; detail: string } | null;
  notes: string[];
}

/** Resolves a name to addresses (the CLI uses the system resolver). */
export type ExplainResolver = (name: string) => Promise<string[]>;

interface Parsed {
  host: string;
  port: number | undefined;
  /** A scheme's default port (http 80, https 443). */
  schemePort: number | undefined;
}

function parseDestination(text: string): Parsed {
  const url = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]+)/i.exec(text);
  let hostPort = text;
  let schemePort: number | undefined;
  if (url) {
    hostPort = url[2]!.replace(/^.*@/, "");
    const scheme = url[1]!.toLowerCase();
    schemePort = scheme === "http" || scheme === "ws" ? 80 : 443;
  }
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(hostPort);
  if (v6) return { host: v6[1]!, port: v6[2] ? Number(v6[2]) : undefined, schemePort };
  if (parseIp(hostPort)) return { host: hostPort, port: undefined, schemePort };
  const m = /^(.*):(\d+)$/.exec(hostPort);
  if (m) return { host: m[1]!, port: Number(m[2]), schemePort };
  return { host: hostPort, port: undefined, schemePort };
}

/** What sniffing a flow like this would find, given the name it carries. */
function sniffedProtocol(network: string, port: number, name: string): string {
  if (port === 53) return "dns";
  if (network === "udp") return port === 443 && name ? "quic" : "";
  if (network !== "tcp") return "";
  if (port === 80) return name ? "http" : "";
  return name ? "tls" : "";
}

const SNIFFER_OF: Record<string, string> = { tls: "tls", http: "http", quic: "quic", dns: "dns" };

/** The flow's value for a rule item's field, in words. */
function observed(text: string, m: ConnMetadata): string {
  const field = text.replace(/^!\(/, "").split("=")[0]!;
  const dest = m.destination.addr.length > 0
    ? formatIp(m.destination.addr)
    : m.destination.fqdn ?? "?";
  switch (field) {
    case "inbound":
      return `inbound ${m.inbound}`;
    case "ip_version":
      return `IPv${m.ipVersion}`;
    case "network":
      return `network ${m.network}`;
    case "protocol":
      return m.protocol ? `protocol ${m.protocol}` : "no protocol known (not sniffed)";
    case "client":
      return m.client ? `client ${m.client}` : "no client known";
    case "domain":
    case "domain_suffix":
    case "domain_keyword":
    case "domain_regex": {
      const name = m.domain || m.destination.fqdn || "";
      return name ? `domain ${name}` : "no domain known (sniff first, or use FakeIP)";
    }
    case "ip_cidr":
    case "ip_is_private":
      return m.destinationAddresses.length > 0 && m.destination.addr.length === 0
        ? `resolved ${m.destinationAddresses.map(formatIp).join(", ")}`
        : `destination ${dest}`;
    case "source_ip_cidr":
    case "source_ip_is_private":
      return `source ${formatIp(m.source.addr)}`;
    case "port":
    case "port_range":
      return `destination port ${m.destination.port}`;
    case "source_port":
    case "source_port_range":
      return `source port ${m.source.port}`;
    default:
      return `"${field}" never matches in tunbox`;
  }
}

function explainItems(items: readonly ItemTrace[], m: ConnMetadata): ExplainedItem[] {
  return items.map((i) => {
    const out: ExplainedItem = { text: i.text, matched: i.matched, observed: observed(i.text, m) };
    if (i.items) out.items = explainItems(i.items, m);
    return out;
  });
}

/**
 * One note per route rule whose process items name `process` (a name, or a path whose last part
 * is compared with `process_name`): what sing-box would do there, and that tunbox goes past it.
 */
export function processRuleNotes(rules: readonly Rule[], process: string): string[] {
  const base = process.split("/").pop() ?? process;
  const names = (r: Rule): string[] => {
    if (r.type === "logical") return r.rules.flatMap(names);
    const hits: string[] = [];
    if (r.process_name.includes(base)) hits.push(`process_name ${base}`);
    if (r.process_path.includes(process)) hits.push(`process_path ${process}`);
    for (const re of r.process_path_regex) {
      try {
        if (compileGoRegex(re).test(process)) hits.push(`process_path_regex ${re}`);
      } catch { /* reported by check */ }
    }
    return hits;
  };
  const notes: string[] = [];
  rules.forEach((r, i) => {
    const hits = names(r);
    if (hits.length === 0) return;
    const a = r.action;
    const what = a.action === "route" ? `route to ${a.outbound}` : a.action;
    notes.push(
      `rule[${i}] names it (${hits.join(", ")}): in sing-box it could ${what} here; ` +
        "tunbox goes past it",
    );
  });
  return notes;
}

function describeOutbound(options: Options, tag: string): string {
  const o = options.outbounds.find((x) => x.tag === tag);
  if (!o) return tag;
  switch (o.type) {
    case "socks":
    case "http":
      return `${o.type} ${o.server}:${o.server_port}`;
    case "direct": {
      const how = o.bind_interface
        ? `bound to ${o.bind_interface}`
        : options.route.default_interface
        ? `bound to ${options.route.default_interface}`
        : options.route.auto_detect_interface
        ? "bound to the default interface"
        : "not bound to an interface";
      return `direct (${how})`;
    }
    case "selector":
      return `selector of ${o.outbounds.join(", ")} (now ${o.default ?? o.outbounds[0]})`;
    case "urltest":
      return `urltest of ${o.outbounds.join(", ")} (the fastest)`;
    default:
      return o.type;
  }
}

function describeDnsServer(options: Options, tag: string): string {
  const s = options.dns.servers.find((x) => x.tag === tag);
  if (!s) return tag === "local" ? "local (the system's resolvers)" : tag;
  const where = s.server ? ` ${s.server}${s.server_port ? `:${s.server_port}` : ""}` : "";
  const via = s.detour
    ? ` through outbound "${s.detour}"`
    : s.legacy && s.type !== "local"
    ? " through the default outbound"
    : "";
  return `${s.type}${where}${via}`;
}

/** Builds the DNS module and router as a worker does (no sockets are opened). */
function build(
  options: Options,
  ruleSets: RuleSetRegistry,
): { router: Router; dns: DnsModule; close(): void } {
  const reactor = new Reactor(8);
  const outbounds = createOutbounds(
    options.outbounds,
    { reactor },
    options.route,
    builtinOutbounds(),
  );
  const defaultOutbound = options.route.final || options.outbounds[0]?.tag || "";
  try {
    const dns = createDns(options, {
      reactor,
      outbounds,
      defaultOutbound,
      ctx: { reactor },
      ruleSets,
    });
    const router = new Router({
      rules: options.route.rules,
      outbounds: options.outbounds,
      ...(options.route.final !== undefined ? { final: options.route.final } : {}),
      ruleSets,
    });
    return {
      router,
      dns,
      close() {
        dns.close();
        for (const o of outbounds.values()) o.close();
        reactor.close();
      },
    };
  } catch (e) {
    for (const o of outbounds.values()) o.close();
    reactor.close();
    throw e;
  }
}

/**
 * Explains how a connection to `input.destination` would be handled under `options`. Throws
 * `TypeError` for a destination that cannot become a flow (a name that does not resolve, on a
 * TUN inbound without FakeIP).
 */
export async function explainConnection(
  options: Options,
  input: ExplainInput,
  resolve: ExplainResolver,
): Promise<Explanation> {
  const notes: string[] = [];
  const parsed = parseDestination(input.destination);
  const network = input.udp ? "udp" : "tcp";
  const port = input.port ?? parsed.port ?? parsed.schemePort ?? 443;
  const inbound = input.inbound
    ? options.inbounds.find((i) => i.tag === input.inbound)
    : options.inbounds.find((i) => i.type === "tun") ?? options.inbounds[0];
  if (input.inbound && !inbound) throw new TypeError(`no inbound "${input.inbound}"`);
  const inboundTag = inbound?.tag ?? input.inbound ?? "tun-in";
  const inboundType = inbound?.type ?? "tun";
  const literal = parseIp(parsed.host);
  const name = input.domain ?? (literal ? "" : parsed.host.toLowerCase());
  // Rule-sets as `run` would have them at start (inline, local; remote ones only from a cache).
  const loaded = await RuleSetManager.loadOnce(options.route.rule_set, Deno.cwd());
  notes.push(...loaded.notes);
  const built = build(options, createRuleSetRegistry(options, loaded.payloads));
  try {
    let addrs: Uint8Array[] = [];
    if (literal) addrs = [literal];
    else if (name) {
      addrs = (await resolve(name)).map((a) => parseIp(a)).filter((a): a is Uint8Array =>
        a !== null
      );
    }
    const v6First = addrs.length > 0 && addrs[0]!.length === 16;
    const tunSource = inbound?.type === "tun"
      ? inbound.address.find((a) => a.addr.length === (v6First ? 16 : 4))?.addr
      : undefined;
    const sourceAddr = tunSource ?? (v6First ? parseIp("::1")! : parseIp("127.0.0.1")!);

    // The DNS server a hijacked query for the name would use.
    let dns: Explanation["dns"] = null;
    let fake = false;
    if (name) {
      const probe = newConnMetadata({
        id: 0,
        inbound: inboundTag,
        inboundType,
        network: "udp",
        source: { addr: sourceAddr, port: 50000 },
        destination: { addr: new Uint8Array(4), port: 53 },
      });
      const qtype = v6First ? TYPE_AAAA : TYPE_A;
      const sel = built.dns.router.select(dnsMetadata(probe, name, qtype), qtype);
      const server = options.dns.servers.find((s) => s.tag === sel.server);
      fake = server?.type === "fakeip";
      dns = {
        server: sel.server,
        ruleIndex: sel.ruleIndex,
        ruleText: sel.ruleText,
        detail: sel.server === null
          ? "answered by the rule itself (rejected or predefined)"
          : describeDnsServer(options, sel.server),
      };
      if (sel.addressLimited) {
        notes.push(
          `dns.rules[${sel.ruleIndex}] filters by the answer's addresses: if the answer does not match, the next rules decide`,
        );
      }
    }

    const meta = newConnMetadata({
      id: 1,
      inbound: inboundTag,
      inboundType,
      network,
      source: { addr: sourceAddr, port: 50000 },
      destination: { addr: addrs[0] ?? new Uint8Array(0), port },
    });
    if (inboundType !== "tun" && !literal && name) {
      meta.destination = { addr: new Uint8Array(0), port, fqdn: name };
    } else if (inboundType === "tun" && name && fake) {
      meta.destination = { addr: new Uint8Array(0), port, fqdn: name };
      notes.push(
        `the name is answered with a FakeIP address, which tunbox maps back to ${name} before routing`,
      );
    } else if (inboundType === "tun" && addrs.length === 0) {
      throw new TypeError(
        `${parsed.host} did not resolve here; give its address: tunbox explain <ip> --domain ${parsed.host}`,
      );
    } else if (name && options.dns.reverse_mapping === true && !literal) {
      meta.domain = name;
      notes.push("dns.reverse_mapping knows the name from the DNS answer before sniffing");
    }
    if (!literal && name && addrs.length > 1 && !fake && inboundType === "tun") {
      notes.push(
        `${name} resolved to ${
          addrs.map(formatIp).join(", ")
        }; the application connects to the first`,
      );
    }
    if (input.process && isSupported("rule.process_name")) {
      // The rules see the process as a lookup would give it: a name alone is a path's last part;
      // the user is unknown, so user and user_id items do not match.
      meta.process = { pid: 0, uid: -1, path: input.process };
      notes.push(`as if process "${input.process}" opened the connection`);
    } else if (input.process) {
      notes.push(
        `process "${input.process}": tunbox does not look processes up here, so process rules never match`,
        ...processRuleNotes(options.route.rules, input.process),
      );
    }
    const protocol = input.protocol ?? sniffedProtocol(network, port, name);
    const trace: RouteTrace = { steps: [] };
    const decision = await built.router.route(meta, {
      sniff(sniffers) {
        if (protocol && sniffers.includes(SNIFFER_OF[protocol] ?? protocol)) {
          meta.protocol = protocol;
          if (name && protocol !== "dns") meta.domain = name;
        }
        return Promise.resolve();
      },
      resolve() {
        meta.destinationAddresses = addrs;
        return Promise.resolve();
      },
    }, trace);
    const endpoint = (d: { addr: Uint8Array; port: number; fqdn?: string }) =>
      `${d.addr.length > 0 ? formatIp(d.addr) : d.fqdn ?? "?"}:${d.port}`;
    const original = meta.originalDestination;
    if (original) {
      notes.push(`route options change the destination to dial to ${endpoint(meta.destination)}`);
    }
    const last = decision.ruleIndex;
    const rules = built.router.rules;
    const notReached = last < 0 ? [] : rules.slice(last + 1).map((r) => ({
      index: r.index,
      text: r.text,
    }));
    return {
      flow: {
        network,
        inbound: inboundTag,
        inboundType,
        source: `${formatIp(meta.source.addr)}:${meta.source.port}`,
        destination: endpoint(original ?? meta.destination),
        domain: meta.domain,
        protocol: meta.protocol,
      },
      steps: trace.steps.map((s) => ({ ...s, items: explainItems(s.items, meta) })),
      notReached,
      decision,
      outbound: decision.action === "route" ? describeOutbound(options, decision.outbound) : "",
      dns,
      notes,
    };
  } finally {
    built.close();
  }
}

function itemLine(i: ExplainedItem, depth: number, out: string[]): void {
  const pad = "      " + "  ".repeat(depth);
  out.push(`${pad}${i.matched ? "✓" : "✗"} ${i.text}   (${i.observed})`);
  for (const sub of i.items ?? []) itemLine(sub, depth + 1, out);
}

/** The explanation as text for a terminal. */
export function renderExplanation(e: Explanation): string {
  const out: string[] = [];
  const f = e.flow;
  out.push(
    `Connection: ${f.network} ${f.source} → ${f.destination} on inbound ${f.inbound} (${f.inboundType})`,
  );
  for (const n of e.notes) out.push(`  note: ${n}`);
  out.push("");
  out.push("Rules, in order:");
  if (e.steps.length === 0) out.push("  (no rules)");
  for (const s of e.steps) {
    const verdict = !s.matched ? "no match" : "MATCH";
    out.push(`  [${s.index}] ${s.text}`);
    out.push(`      → ${verdict}${s.note ? `: ${s.note}` : ""}`);
    for (const i of s.items) itemLine(i, 0, out);
  }
  for (const r of e.notReached) out.push(`  [${r.index}] ${r.text}   (not reached)`);
  out.push("");
  const d = e.decision;
  const by = d.ruleIndex < 0 ? "no rule matched: route.final" : `rule [${d.ruleIndex}]`;
  if (d.action === "route") {
    out.push(`Verdict: outbound "${d.outbound}" — ${e.outbound} (${by})`);
  } else if (d.action === "reject") {
    out.push(`Verdict: rejected (${d.method}) by ${by}`);
  } else out.push(`Verdict: DNS hijacked by ${by}: tunbox answers it from dns.servers`);
  if (f.domain || e.dns) {
    if (e.dns) {
      const rule = e.dns.ruleIndex < 0
        ? "default server"
        : `dns.rules[${e.dns.ruleIndex}] ${e.dns.ruleText}`;
      out.push(
        `DNS: a query for this name goes to ${
          e.dns.server ? `server "${e.dns.server}" — ${e.dns.detail}` : e.dns.detail
        } (${rule})`,
      );
    }
  }
  return out.join("\n");
}
