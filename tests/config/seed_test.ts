import assert from "node:assert/strict";
import { decodeConfigText } from "../../src/config/decode.ts";
import { loadConfig } from "../../src/config/load.ts";
import { formatJsonc } from "../../src/config/format.ts";
import { formatPrefix } from "../../src/net/ip.ts";
import { at } from "./_helpers.ts";

const SEED = new URL("../fixtures/config/seed.jsonc", import.meta.url);
const SEED_REAL = new URL("../fixtures/config/seed_real_ip.jsonc", import.meta.url);
const seedText = Deno.readTextFileSync(SEED);
const realText = Deno.readTextFileSync(SEED_REAL);
/** SHA-256 of the config as printed in shared/seeds/000_812cf2e7461603fa.txt (lines 85-163). */
const SEED_SHA256 = "0398eefd00ddc8d348cbc8fa37a6945bb838d10e2fe1367d9285f9ef75a43387";

/** The warnings sing-box's behaviour implies for the seed (reference §0), on `os`. */
function expectedWarnings(file: string, text: string, os = "linux"): string[] {
  const legacy = (server: string) =>
    `legacy DNS server address is deprecated in sing-box 1.12.0 and removed in 1.14.0, use the typed form {"type": "udp", "server": "${server}", "detour": "v2rayu-proxy"} instead; tunbox upgrades it (sing-box 1.13 refuses it unless ENABLE_DEPRECATED_LEGACY_DNS_SERVERS=true)`;
  return [
    `${file}:${at(text, '"udp://8.8.8.8"')}: dns.servers[0].address: ${legacy("8.8.8.8")}`,
    `${file}:${at(text, '"udp://1.1.1.1"')}: dns.servers[1].address: ${legacy("1.1.1.1")}`,
    ...(os === "darwin"
      ? [
        `${file}:${
          at(text, '"198.18.0.1/16"')
        }: inbounds[0].address: the TUN has no IPv6 address, so no IPv6 routes are added: IPv6 traffic bypasses the TUN (add one such as "fdfe:dcba:9876::1/126" to capture it)`,
        `${file}:${
          at(text, "true", 3)
        }: inbounds[0].strict_route: "strict_route" has no effect on macOS: there is no policy routing to block traffic that bypasses the TUN (sing-box behaves the same)`,
      ]
      : []),
    `${file}:${
      at(text, '"sniff"')
    }: inbounds[0].sniff: legacy inbound field "sniff" is deprecated in sing-box 1.11.0 and ignored since 1.13.1; false is the default, so it does nothing here: remove it`,
    `${file}:${
      at(text, '[\n                    "localhost"')
    }: route.rules[1].domain: "domain" can never match here: TUN connections carry only IP addresses, no "sniff" action runs before this rule and dns.reverse_mapping is off (sing-box behaves the same); add a rule {"action": "sniff"} before it`,
    `${file}:${
      at(text, '"tcp,udp"')
    }: route.rules[4].network: "tcp,udp" is one value to sing-box, which then matches no connection; tunbox reads it as ["tcp","udp"], write it as that list`,
  ];
}

Deno.test("seed fixture is the seed's config exactly as printed, ## lines included", async () => {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(seedText)),
  );
  const hex = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
  assert.equal(hex, SEED_SHA256);
  assert.ok(seedText.includes("\t\t        ## Define inbound as Tun mode\n"));
  assert.ok(seedText.includes("\t          ## localhost and the proxy server"));
  // Where the shared seed is checked out next to the project, compare with it directly.
  let seed: string | undefined;
  try {
    seed = Deno.readTextFileSync(
      new URL("../../../shared/seeds/000_812cf2e7461603fa.txt", import.meta.url),
    );
  } catch {
    seed = undefined;
  }
  if (seed !== undefined) {
    assert.ok(seed.includes(seedText), "fixture must be a verbatim excerpt of the seed");
  }
});

Deno.test("seed config reports exactly the placeholder prefix as an error", () => {
  const r = decodeConfigText(seedText, "seed.jsonc", { os: "darwin" });
  assert.equal(at(seedText, '"3.xxx.xx.82/32"'), "69:21");
  assert.deepEqual(r.errors.map((e) => e.format()), [
    'seed.jsonc:69:21: route.rules[3].ip_cidr[0]: invalid prefix "3.xxx.xx.82/32": it looks like a redacted placeholder (letters x or * in place of digits); put the real address here',
  ]);
  assert.equal(r.options, undefined);
});

Deno.test("seed config with a real address loads with exactly the expected warnings (Linux and macOS)", () => {
  for (const os of ["linux", "darwin"]) {
    const r = decodeConfigText(realText, "seed_real_ip.jsonc", { os });
    assert.deepEqual(r.errors.map((e) => e.format()), [], os);
    assert.deepEqual(
      r.warnings.map((w) => w.format()),
      expectedWarnings("seed_real_ip.jsonc", realText, os),
      os,
    );
  }
});

Deno.test("seed config with the placeholder prints the same warnings as the fixed one", () => {
  const r = decodeConfigText(seedText, "seed.jsonc", { os: "linux" });
  assert.deepEqual(r.warnings.map((w) => w.format()), expectedWarnings("seed.jsonc", seedText));
});

Deno.test("seed config decodes to the options sing-box would use", async () => {
  const r = await loadConfig([{ type: "file", path: SEED_REAL.pathname }], { os: "darwin" });
  const o = r.options!;
  assert.ok(o);
  assert.deepEqual(o.log, { level: "info", timestamp: true });
  assert.deepEqual(o.dns.servers.map((s) => [s.tag, s.type, s.server, s.legacy]), [
    ["google-dns", "udp", "8.8.8.8", true],
    ["cf-dns", "udp", "1.1.1.1", true],
  ]);
  assert.equal(o.dns.strategy, "ipv4_only");
  const tun = o.inbounds[0]!;
  assert.ok(tun.type === "tun");
  assert.equal(tun.interface_name, "utun8");
  assert.deepEqual(tun.address.map(formatPrefix), ["198.18.0.1/16"]);
  assert.equal(tun.auto_route, true);
  assert.equal(tun.strict_route, true);
  assert.equal(tun.sniff, false);
  assert.deepEqual(o.outbounds.map((x) => [x.tag, x.type]), [["v2rayu-proxy", "socks"], [
    "direct",
    "direct",
  ]]);
  const direct = o.outbounds[1]!;
  assert.ok(direct.type === "direct");
  assert.equal(direct.bind_interface, "en0");
  assert.deepEqual(o.route.rules.map((r) => r.action), [
    { action: "route", outbound: "direct" },
    { action: "route", outbound: "direct" },
    { action: "route", outbound: "direct" },
    { action: "route", outbound: "direct" },
    { action: "route", outbound: "v2rayu-proxy" },
  ]);
  const last = o.route.rules[4]!;
  assert.ok(last.type === "default");
  assert.deepEqual(last.network, ["tcp", "udp"]);
  assert.deepEqual(last.source, {
    file: SEED_REAL.pathname,
    line: 73,
    column: 13,
    path: "route.rules[4]",
  });
  assert.equal(o.route.final, undefined);
});

Deno.test("formatting the seed keeps its ## comments and is stable", () => {
  const out = formatJsonc(seedText);
  assert.ok(out.includes('    {\n      ## Define inbound as Tun mode\n      "type": "tun",'));
  assert.ok(out.includes("      ## Proxy server's IP\n"));
  assert.equal(formatJsonc(out), out);
  // Still the same config after formatting.
  const a = decodeConfigText(realText, "a", { os: "linux" });
  const b = decodeConfigText(formatJsonc(realText), "a", { os: "linux" });
  assert.equal(a.warnings.length, b.warnings.length);
  assert.deepEqual(b.errors, []);
});
