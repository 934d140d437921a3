import assert from "node:assert/strict";
import {
  convertAdGuard,
  convertCidrList,
  convertDomainList,
  convertInput,
  readGeosite,
} from "../../src/ruleset/convert.ts";
import { readMmdb } from "../../src/ruleset/mmdb.ts";
import { recoverLists } from "../../src/ruleset/srs.ts";
import { formatRuleSetSource } from "../../src/ruleset/source.ts";
import { compileRuleSet, type RuleSetRule } from "../../src/route/headless.ts";
import { MatchState } from "../../src/route/match_state.ts";
import { newConnMetadata } from "../../src/route/metadata.ts";
import { parseIp } from "../../src/net/ip.ts";

const enc = new TextEncoder();

function matches(rules: RuleSetRule[], target: string): boolean {
  const addr = parseIp(target);
  const meta = newConnMetadata({
    id: 0,
    inbound: "",
    inboundType: "",
    network: "tcp",
    source: { addr: new Uint8Array(0), port: 0 },
    destination: { addr: addr ?? new Uint8Array(0), port: 0 },
  });
  if (!addr) meta.domain = target;
  const st = new MatchState();
  return compileRuleSet(rules, "t").rules.some((r) => {
    st.reset();
    return r.match(meta, st);
  });
}

function source(rules: RuleSetRule[]): string {
  return formatRuleSetSource({ version: 2, rules: recoverLists(rules) });
}

Deno.test("`convertDomainList()` reads plain, v2ray and Clash forms", () => {
  const warnings: string[] = [];
  const set = convertDomainList(
    "example.com\nfull:exact.org\n.sub.net\n+.plus.io\nkeyword:ads\nregexp:^x\\.\n" +
      "DOMAIN-SUFFIX,clash.example\nDOMAIN,one.example\n# comment\nnot a domain\n",
    { onWarning: (w) => warnings.push(w) },
  );
  assert.deepEqual(warnings, ["1 line(s) are not domains and were skipped"]);
  const r = set.rules[0]!;
  assert.ok(r.type === "default");
  assert.deepEqual(r.domain, ["exact.org", "one.example"]);
  assert.deepEqual(r.domain_suffix, ["example.com", ".sub.net", "plus.io", "clash.example"]);
  assert.deepEqual(r.domain_keyword, ["ads"]);
  assert.deepEqual(r.domain_regex, ["^x\\."]);
  assert.equal(matches(set.rules, "www.example.com"), true);
  assert.equal(matches(set.rules, "sub.net"), false);
  assert.equal(matches(set.rules, "a.sub.net"), true);
  assert.equal(matches(set.rules, "www.exact.org"), false);
  assert.throws(() => convertDomainList("# nothing\n"), /the list has no domains/);
});

Deno.test("`convertCidrList()` merges addresses and CIDRs", () => {
  const set = convertCidrList(
    "1.2.2.0/24\n1.2.3.0/24\n5.6.7.8\nIP-CIDR6,2001:db8::/32,no-resolve\nbad\n",
  );
  assert.equal(set.summary, "4 CIDRs in 3 ranges");
  assert.match(source(set.rules), /"1\.2\.2\.0\/23",\n\s+"5\.6\.7\.8\/32",\n\s+"2001:db8::\/32"/);
  assert.equal(matches(set.rules, "1.2.2.9"), true);
  assert.equal(matches(set.rules, "1.2.4.1"), false);
});

Deno.test("`convertAdGuard()` builds sing-box's rule shape: exceptions and important rules", () => {
  const warnings: string[] = [];
  const set = convertAdGuard(
    [
      "! title",
      "||ads.example^",
      "@@||good.ads.example^",
      "/track[0-9]+\\./",
      "||vip.example^$important",
      "0.0.0.0 hosts.example",
      "||path.example/ad.js",
      "||x.example^$third-party",
    ].join("\n"),
    { onWarning: (w) => warnings.push(w) },
  );
  assert.deepEqual(warnings, ["parsed rules: 5/7"]);
  const rule = set.rules[0]!;
  assert.ok(rule.type === "logical" && rule.mode === "or");
  for (
    const [name, hit] of [
      ["a.ads.example", true],
      ["good.ads.example", false],
      ["track7.net", true],
      ["vip.example", true],
      ["hosts.example", true],
      ["sub.hosts.example", false],
      ["path.example", false],
      ["other.example", false],
    ] as const
  ) {
    assert.equal(matches(set.rules, name), hit, name);
  }
});

Deno.test("`convertAdGuard()` turns a list of plain domains into one domain rule", () => {
  const set = convertAdGuard("a.example\nb.example\n");
  assert.match(source(set.rules), /"domain": \[\n\s+"a\.example",\n\s+"b\.example"\n/);
  assert.throws(() => convertAdGuard("||x/y\n"), /empty or all rules are unsupported/);
});

/** A geosite.db as sing-box writes it: version 0, the code index, then the items. */
function geositeDb(codes: Record<string, [number, string][]>): Uint8Array {
  const items: number[] = [];
  const index: number[] = [];
  const varint = (out: number[], v: number) => {
    while (v >= 0x80) {
      out.push((v & 0x7f) | 0x80);
      v >>>= 7;
    }
    out.push(v);
  };
  const str = (out: number[], s: string) => {
    const b = enc.encode(s);
    varint(out, b.length);
    out.push(...b);
  };
  varint(index, Object.keys(codes).length);
  for (const [code, list] of Object.entries(codes)) {
    str(index, code);
    varint(index, items.length);
    varint(index, list.length);
    for (const [type, value] of list) {
      items.push(type);
      str(items, value);
    }
  }
  return new Uint8Array([0, ...index, ...items]);
}

Deno.test("geosite.db: every code, or one, becomes a set with its four kinds of item", () => {
  const db = geositeDb({
    cn: [[0, "qq.com"], [1, "cn"], [2, "baidu"], [3, "^.+\\.163\\.com$"]],
    google: [[1, "google.com"]],
  });
  assert.deepEqual([...readGeosite(db).keys()], ["cn", "google"]);
  const all = convertInput("geosite", db);
  assert.deepEqual(all.map((s) => s.name), ["geosite-cn", "geosite-google"]);
  const cn = convertInput("geosite", db, { category: "cn" })[0]!;
  assert.equal(
    source(cn.rules),
    `{
  "version": 2,
  "rules": [
    {
      "domain": "qq.com",
      "domain_suffix": "cn",
      "domain_keyword": "baidu",
      "domain_regex": "^.+\\\\.163\\\\.com$"
    }
  ]
}
`,
  );
  assert.throws(() => convertInput("geosite", db, { category: "xx" }), /code xx not exists/);
  assert.throws(() => readGeosite(new Uint8Array([1])), /unknown geosite database version 1/);
  assert.throws(() => readGeosite(db.subarray(0, 12)), /truncated|more than/);
});

// --- a MaxMind DB writer for tests -------------------------------------------------------------

type Data = string | { [k: string]: Data } | number;

function encodeData(d: Data, out: number[]): void {
  if (typeof d === "string") {
    const b = enc.encode(d);
    out.push((2 << 5) | b.length, ...b);
  } else if (typeof d === "number") {
    out.push((6 << 5) | 4, d >>> 24, (d >>> 16) & 0xff, (d >>> 8) & 0xff, d & 0xff);
  } else {
    const entries = Object.entries(d);
    out.push((7 << 5) | entries.length);
    for (const [k, v] of entries) {
      encodeData(k, out);
      encodeData(v, out);
    }
  }
}

/** Builds a 24-bit-record MaxMind DB of `networks` (prefix text → data). */
function mmdb(ipVersion: 4 | 6, networks: [string, Data][]): Uint8Array {
  const bits = ipVersion === 6 ? 128 : 32;
  type Node = [Node | Data | null, Node | Data | null];
  const root: Node = [null, null];
  const isNode = (x: unknown): x is Node => Array.isArray(x);
  for (const [text, data] of networks) {
    const [a, len] = text.split("/");
    const addr = parseIp(a!)!;
    let v = 0n;
    for (const b of addr) v = (v << 8n) | BigInt(b);
    const depth = Number(len) + (addr.length === 4 && bits === 128 ? 96 : 0);
    let n = root;
    for (let i = 0; i < depth; i++) {
      const bit = Number((v >> BigInt(bits - 1 - i)) & 1n) as 0 | 1;
      if (i === depth - 1) n[bit] = data;
      else {
        if (!isNode(n[bit])) n[bit] = [null, null];
        n = n[bit] as Node;
      }
    }
  }
  const nodes: Node[] = [];
  const number = (n: Node) => {
    nodes.push(n);
    for (const c of n) if (isNode(c)) number(c);
  };
  number(root);
  const ids = new Map(nodes.map((n, i) => [n, i]));
  const data: number[] = [];
  const offsets = new Map<string, number>();
  const ref = (d: Data) => {
    const key = JSON.stringify(d);
    if (!offsets.has(key)) {
      offsets.set(key, data.length);
      encodeData(d, data);
    }
    return nodes.length + 16 + offsets.get(key)!;
  };
  const tree: number[] = [];
  for (const n of nodes) {
    for (const c of n) {
      const r = c === null ? nodes.length : isNode(c) ? ids.get(c)! : ref(c);
      tree.push((r >> 16) & 0xff, (r >> 8) & 0xff, r & 0xff);
    }
  }
  const meta: number[] = [];
  encodeData({
    node_count: nodes.length,
    record_size: 24,
    ip_version: ipVersion,
    database_type: "test",
  }, meta);
  return new Uint8Array([
    ...tree,
    ...new Array(16).fill(0),
    ...data,
    0xab,
    0xcd,
    0xef,
    ...enc.encode("MaxMind.com"),
    ...meta,
  ]);
}

Deno.test("MaxMind DB: sing-geoip strings and GeoLite2 records become one set per country", () => {
  const db = mmdb(6, [
    ["1.0.0.0/8", "cn"],
    ["3.3.0.0/16", { country: { iso_code: "CN" } }],
    ["2.0.0.0/8", "us"],
    ["2001:db8::/32", "cn"],
    // MaxMind's alias of the IPv4 tree: skipped, or 1.0.0.0/8 would appear twice.
    ["::ffff:1.0.0.0/104", "cn"],
  ]);
  const { networks } = readMmdb(db);
  assert.equal(networks.length, 4);
  const sets = convertInput("geoip", db);
  assert.deepEqual(sets.map((s) => [s.name, s.summary]), [["geoip-cn", "3 CIDRs"], [
    "geoip-us",
    "1 CIDRs",
  ]]);
  assert.match(
    source(sets[0]!.rules),
    /"ip_cidr": \[\n\s+"1\.0\.0\.0\/8",\n\s+"3\.3\.0\.0\/16",\n\s+"2001:db8::\/32"\n/,
  );
  assert.throws(() => convertInput("geoip", db, { category: "de" }), /country code not found: de/);
  const v4 = convertInput("geoip", mmdb(4, [["10.0.0.0/8", "lan"]]), { category: "LAN" });
  assert.match(source(v4[0]!.rules), /"ip_cidr": "10\.0\.0\.0\/8"/);
  assert.throws(() => readMmdb(enc.encode("not a database")), /no metadata marker/);
});
