/**
 * The `predefined` DNS rule action (sing-box 1.12): a fixed answer with an RCODE and records
 * written in zone-file syntax, e.g. `"localhost. IN A 127.0.0.1"` or
 * `"*.example.com. 60 IN TXT \"v=1\""`.
 *
 * As in sing-box (`RuleActionPredefined.Response`): the answer keeps the query's id and
 * question, is authoritative with RD and RA set, and a record whose owner starts with `*` is
 * given the question's name when the question ends with the rest of the owner. Records are
 * returned whatever the question's type. A record without a TTL gets 3600 s and without a class
 * IN, as miekg/dns's `NewRR`.
 *
 * Supported record types: A, AAAA, CNAME, DNAME, NS, PTR, TXT, MX, SRV, SOA, CAA.
 *
 * @module
 */

import { formatIp, parseIpv4, parseIpv6 } from "../ip.ts";
import { domainProblem, encodeRecord, type PacketRecord, RCODES, typeCode } from "./packet.ts";
import { assembleResponse, canonicalName, type MessageLayout } from "./wire.ts";

/** miekg/dns's default TTL for records written without one. */
export const DEFAULT_RECORD_TTL = 3600;

/** One parsed record and its encoding (owners starting with `*` are encoded per query). */
interface Prepared {
  record: PacketRecord;
  /** Owner without the leading `*`, lower-cased, with a trailing dot (`.example.com.`). */
  wildcardSuffix: string | null;
  encoded: Uint8Array;
  text: string;
}

/** A compiled `predefined` action. */
export interface PredefinedAnswer {
  readonly rcode: number;
  /** sing-box's description: `predefined(NOERROR,localhost. 3600 IN A 127.0.0.1)`. */
  readonly text: string;
  /** The answer to a query. */
  respond(query: Uint8Array, layout: MessageLayout): Uint8Array;
  /** A/AAAA addresses of the answer section (what a lookup returns). */
  readonly addresses: readonly Uint8Array[];
}

function tokenize(text: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : m[2]!);
  }
  return out;
}

function checkName(name: string, what: string): string {
  const bare = name === "." ? "" : name.replace(/\.$/, "");
  if (bare !== "") {
    const problem = domainProblem(bare);
    if (problem) throw new TypeError(`${what} ${JSON.stringify(name)}: ${problem}`);
  }
  return bare;
}

function int(token: string | undefined, max: number, what: string): number {
  if (token === undefined || !/^[0-9]+$/.test(token) || Number(token) > max) {
    throw new TypeError(`invalid ${what} ${JSON.stringify(token ?? "")}`);
  }
  return Number(token);
}

/** Parses one record in zone-file syntax. Throws TypeError naming the problem. */
export function parseRecord(text: string): PacketRecord {
  const t = tokenize(text.trim());
  const owner = t.shift();
  if (owner === undefined) throw new TypeError("empty record");
  let ttl = DEFAULT_RECORD_TTL;
  let klass = "IN";
  for (let i = 0; i < 2; i++) {
    const next = t[0];
    if (next !== undefined && /^[0-9]+$/.test(next)) {
      ttl = int(t.shift(), 0x7fffffff, "TTL");
    } else if (next !== undefined && /^(IN|CH|HS|CS)$/i.test(next) && t.length > 1) {
      klass = t.shift()!.toUpperCase();
    }
  }
  const typeText = t.shift();
  if (typeText === undefined) throw new TypeError(`missing record type in ${JSON.stringify(text)}`);
  const type = typeText.toUpperCase();
  if (typeCode(type) === undefined) throw new TypeError(`unknown record type "${typeText}"`);
  const name = checkName(owner, "owner name");
  const base = { name: name === "" ? "." : name, type, class: klass, ttl };
  const need = (n: number) => {
    if (t.length < n) {
      throw new TypeError(`${type} record needs ${n} value(s): ${JSON.stringify(text)}`);
    }
  };
  switch (type) {
    case "A": {
      need(1);
      const a = parseIpv4(t[0]!);
      if (!a) throw new TypeError(`invalid IPv4 address ${JSON.stringify(t[0])}`);
      return { ...base, data: formatIp(a) };
    }
    case "AAAA": {
      need(1);
      const a = parseIpv6(t[0]!);
      if (!a) throw new TypeError(`invalid IPv6 address ${JSON.stringify(t[0])}`);
      return { ...base, data: formatIp(a) };
    }
    case "CNAME":
    case "DNAME":
    case "NS":
    case "PTR":
      need(1);
      return { ...base, data: checkName(t[0]!, `${type} target`) || "." };
    case "TXT":
      need(1);
      for (const s of t) {
        if (new TextEncoder().encode(s).length > 255) {
          throw new TypeError("TXT string is longer than 255 bytes");
        }
      }
      return { ...base, data: t };
    case "MX":
      need(2);
      return {
        ...base,
        data: {
          preference: int(t[0], 65535, "MX preference"),
          exchange: checkName(t[1]!, "MX exchange") || ".",
        },
      };
    case "SRV":
      need(4);
      return {
        ...base,
        data: {
          priority: int(t[0], 65535, "SRV priority"),
          weight: int(t[1], 65535, "SRV weight"),
          port: int(t[2], 65535, "SRV port"),
          target: checkName(t[3]!, "SRV target") || ".",
        },
      };
    case "SOA":
      need(7);
      return {
        ...base,
        data: {
          mname: checkName(t[0]!, "SOA mname") || ".",
          rname: checkName(t[1]!, "SOA rname") || ".",
          serial: int(t[2], 0xffffffff, "SOA serial"),
          refresh: int(t[3], 0xffffffff, "SOA refresh"),
          retry: int(t[4], 0xffffffff, "SOA retry"),
          expire: int(t[5], 0xffffffff, "SOA expire"),
          minimum: int(t[6], 0xffffffff, "SOA minimum"),
        },
      };
    case "CAA":
      need(3);
      return {
        ...base,
        data: { flags: int(t[0], 255, "CAA flags"), tag: t[1]!, value: t.slice(2).join(" ") },
      };
    default:
      throw new TypeError(`record type ${type} is not supported in predefined answers`);
  }
}

function prepare(text: string): Prepared {
  const record = parseRecord(text);
  const owner = record.name === "." ? "." : `${record.name}.`;
  const wildcardSuffix = owner.startsWith("*") ? canonicalName(owner.slice(1)) : null;
  const ttl = record.ttl ?? DEFAULT_RECORD_TTL;
  return {
    record,
    wildcardSuffix,
    encoded: encodeRecord(record),
    text: `${owner} ${ttl} ${record.class ?? "IN"} ${record.type} ${
      Array.isArray(record.data)
        ? record.data.map((s) => JSON.stringify(s)).join(" ")
        : typeof record.data === "string"
        ? record.data
        : JSON.stringify(record.data)
    }`,
  };
}

/** A DNS rule's `predefined` action as the config holds it (zone-file records as text). */
export interface PredefinedAction {
  rcode: string;
  answer: string[];
  ns: string[];
  extra: string[];
}

/**
 * Compiles a `predefined` action. Throws TypeError naming `where` and the record for records
 * tunbox cannot encode.
 */
export function compilePredefined(
  action: PredefinedAction,
  where: string,
): PredefinedAnswer {
  const rcode = RCODES[action.rcode.toUpperCase()];
  if (rcode === undefined) throw new TypeError(`${where}: unknown rcode "${action.rcode}"`);
  const compile = (list: string[], field: string) =>
    list.map((text, i) => {
      try {
        return prepare(text);
      } catch (error) {
        throw new TypeError(`${where}.${field}[${i}]: ${(error as Error).message}`, {
          cause: error,
        });
      }
    });
  const sections = [
    compile(action.answer, "answer"),
    compile(action.ns, "ns"),
    compile(action.extra, "extra"),
  ] as const;
  const addresses: Uint8Array[] = [];
  for (const p of sections[0]) {
    if (p.record.type !== "A" && p.record.type !== "AAAA") continue;
    const a = p.record.type === "A"
      ? parseIpv4(p.record.data as string)
      : parseIpv6(p.record.data as string);
    if (a) addresses.push(a);
  }
  const text = `predefined(${
    [action.rcode.toUpperCase(), ...sections.flatMap((s) => s.map((p) => p.text))].join(",")
  })`;
  return {
    rcode,
    text,
    addresses,
    respond(query, layout) {
      const qname = layout.questions[0]?.name ?? "";
      const fq = canonicalName(qname === "" ? "." : `${qname}.`);
      const encode = (p: Prepared): Uint8Array => {
        if (p.wildcardSuffix === null || !fq.endsWith(p.wildcardSuffix)) return p.encoded;
        return encodeRecord({ ...p.record, name: qname === "" ? "." : qname });
      };
      return assembleResponse(query, layout, { rcode }, [
        sections[0].map(encode),
        sections[1].map(encode),
        sections[2].map(encode),
      ]);
    },
  };
}
