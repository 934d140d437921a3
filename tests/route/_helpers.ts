/** Builders for decoded rule options and flow metadata in route tests. */

import { emptyMatch } from "../../src/config/decode_rule.ts";
import type {
  DefaultRule,
  LogicalRule,
  Network,
  Rule,
  RuleAction,
  RuleMatch,
} from "../../src/config/types.ts";
import { parseIp, parsePrefix, type Prefix } from "../../src/net/ip.ts";
import { type ConnMetadata, newConnMetadata } from "../../src/route/metadata.ts";

/** A default rule with the given match fields; action defaults to `route(out)`. */
export function rule(match: Partial<RuleMatch>, action: RuleAction = routeTo("out")): DefaultRule {
  return { type: "default", ...emptyMatch(), ...match, action };
}

/** A logical rule. */
export function logical(
  mode: "and" | "or",
  rules: Rule[],
  action: RuleAction = routeTo("out"),
  invert = false,
): LogicalRule {
  const r: LogicalRule = { type: "logical", mode, rules, action };
  if (invert) r.invert = true;
  return r;
}

/** `{action: "route", outbound}`. */
export function routeTo(outbound: string): RuleAction {
  return { action: "route", outbound };
}

/** Parses prefixes, failing loudly on typos. */
export function prefixes(...texts: string[]): Prefix[] {
  return texts.map((t) => {
    const p = parsePrefix(t.includes("/") ? t : `${t}/${t.includes(":") ? 128 : 32}`);
    if (!p) throw new Error(`bad prefix in test: ${t}`);
    return p;
  });
}

/** Parses an address, failing loudly on typos. */
export function ip(text: string): Uint8Array {
  const a = parseIp(text);
  if (!a) throw new Error(`bad address in test: ${text}`);
  return a;
}

let nextId = 1;

/** Flow metadata: `dst` like "1.2.3.4:443" or "[::1]:53". */
export function flow(
  dst: string,
  opts: {
    src?: string;
    network?: Network;
    inbound?: string;
    domain?: string;
    protocol?: string;
    client?: string;
  } = {},
): ConnMetadata {
  const [dAddr, dPort] = splitHostPort(dst);
  const [sAddr, sPort] = splitHostPort(opts.src ?? "172.19.0.1:50000");
  const m = newConnMetadata({
    id: nextId++,
    inbound: opts.inbound ?? "tun-in",
    inboundType: "tun",
    network: opts.network ?? "tcp",
    source: { addr: ip(sAddr), port: sPort },
    destination: { addr: ip(dAddr), port: dPort },
  });
  if (opts.domain !== undefined) m.domain = opts.domain;
  if (opts.protocol !== undefined) m.protocol = opts.protocol;
  if (opts.client !== undefined) m.client = opts.client;
  return m;
}

function splitHostPort(s: string): [string, number] {
  const i = s.lastIndexOf(":");
  let host = s.slice(0, i);
  if (host.startsWith("[")) host = host.slice(1, -1);
  return [host, Number(s.slice(i + 1))];
}

export { emptyMatch };
