/**
 * `tunbox import` on real client configs: V2Ray 4.34 configs (checked with the installed
 * `v2ray -test`), Xray and V2Ray v5 configs, Clash and mihomo YAML and ss-local JSON in the
 * shapes users keep. Each conversion is compared with its golden file
 * (`tests/fixtures/import/<name>.expected.jsonc`; `UPDATE_GOLDEN=1` rewrites them) and loaded
 * with tunbox's config loader.
 */

import assert from "node:assert/strict";
import { parse as parseJsonc } from "jsonc-parser";
import { loadConfig } from "../../src/config/load.ts";
import {
  type FeatureId,
  featureId,
  FEATURES,
  isSupported,
  verdict,
} from "../../src/config/support.ts";
import { importText, renderImport } from "../../src/onboard/import.ts";
import { writeGeoData } from "./_geo_dat.ts";

const DIR = new URL("../fixtures/import/", import.meta.url).pathname;
const UPDATE = Deno.env.get("UPDATE_GOLDEN") === "1";
const PROTOCOLS = new Set(["vmess", "vless", "trojan", "shadowsocks", "hysteria2"]);

const fixtures = [...Deno.readDirSync(DIR)]
  .map((e) => e.name)
  .filter((n) => /\.(json|yaml)$/.test(n))
  .sort();

/**
 * The only errors a converted config may have: the verdicts (src/config/support.ts) on protocol
 * outbounds, their TLS and transport fields, and DNS server types tunbox does not run yet. Their tags stay defined, so nothing
 * else may cascade from them.
 */
function explained(message: string): boolean {
  const ids = [
    ...[...PROTOCOLS].map((t) => featureId("outbound", t)),
    // Fields of protocol outbounds tunbox does not run (a shadowsocks plugin, REALITY, a
    // transport, ...).
    ...(Object.keys(FEATURES) as FeatureId[]).filter((id) =>
      /^(outbound|tls|transport)\./.test(id) && !isSupported(id)
    ),
    ...DNS_TYPES.map((t) => featureId("dns.server", t)),
  ];
  // A left-out outbound that is used: its verdict, then the uses ("... It is used by ...").
  return ids.some((id) =>
    id !== undefined &&
    (message.endsWith(`: ${verdict(id).message}`) ||
      message.includes(`: ${verdict(id).message}. It is used by `))
  );
}

/** DNS server types a conversion may produce that tunbox may not run yet. */
const DNS_TYPES = ["tls", "https", "quic", "h3"];

for (const name of fixtures) {
  Deno.test(`\`tunbox import\` converts ${name} as its golden file says, and it loads`, async () => {
    const input = await Deno.readTextFile(DIR + name);
    const out = renderImport(importText(input), name, "2025-01-01");
    const golden = DIR + name.replace(/\.(json|yaml)$/, ".expected.jsonc");
    if (UPDATE) await Deno.writeTextFile(golden, out);
    assert.equal(out, await Deno.readTextFile(golden));

    const result = await loadConfig([{ type: "text", name: "converted.jsonc", text: out }]);
    const parsed = parseJsonc(out) as {
      outbounds: { type: string; tag: string }[];
      dns?: { servers?: Record<string, unknown>[] };
    };
    const unexplained = result.errors.map((e) => e.format()).filter((m) => !explained(m));
    assert.deepEqual(unexplained, []);

    // With every protocol outbound stood in for by a SOCKS one (and every DNS server tunbox does
    // not run yet by a udp one), the rest must load cleanly.
    if (parsed.dns?.servers) {
      parsed.dns.servers = parsed.dns.servers.map((s) => {
        const id = featureId("dns.server", String(s.type));
        return id && !isSupported(id) ? { type: "udp", tag: s.tag, server: "127.0.0.1" } : s;
      });
    }
    parsed.outbounds = parsed.outbounds.map((o) =>
      PROTOCOLS.has(o.type)
        ? { type: "socks", tag: o.tag, server: "127.0.0.1", server_port: 1080 }
        : o
    );
    const stand = await loadConfig([{
      type: "text",
      name: "stand-in.json",
      text: JSON.stringify(parsed),
    }]);
    assert.deepEqual(stand.errors.map((e) => e.format()), []);
  });
}

const V2RAY_434 = fixtures.filter((n) => n.startsWith("v2ray") && n !== "v2ray_v5.json");

Deno.test({
  name: "the V2Ray import fixtures are configs V2Ray 4.34 itself accepts (`v2ray -test`)",
  ignore: V2RAY_434.length === 0 || !(await hasV2ray()),
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "tunbox-geo-" });
    try {
      await writeGeoData(dir);
      for (const name of V2RAY_434) {
        const out = await new Deno.Command("v2ray", {
          args: ["-test", "-config", DIR + name],
          cwd: dir,
          env: { V2RAY_LOCATION_ASSET: dir },
          stdout: "piped",
          stderr: "piped",
        }).output();
        const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
        assert.match(text, /Configuration OK/, `${name}:\n${text}`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

async function hasV2ray(): Promise<boolean> {
  try {
    const out = await new Deno.Command("v2ray", { args: ["-version"], stdout: "piped" }).output();
    return /V2Ray 4\./.test(new TextDecoder().decode(out.stdout));
  } catch {
    return false;
  }
}

Deno.test("`importText()` says what it could not read", () => {
  assert.throws(() => importText('{ "a": '), /not valid JSON: line 1, column 8/);
  assert.throws(() => importText("a: [1,\n"), /not valid YAML: line/);
  assert.throws(() => importText('{"log": {}}'), /not a config tunbox can import/);
  assert.throws(
    () => importText('{"inbounds": [], "route": {}}'),
    /looks like a sing-box config already/,
  );
  assert.throws(() => importText("foo: 1\n"), /not a Clash config/);
});
