// The demo's report from collected data: setup (device, rules, routes as iproute2 prints
// them), checks and connections (with the outbound each check must take), cleanup.

import assert from "node:assert/strict";
import {
  EXPECTED_OUTBOUND,
  formatBytes,
  formatCleanup,
  formatSetup,
  formatTraffic,
} from "../../../src/cli/demo/report.ts";
import type { ClientReport, DemoCheck } from "../../../src/cli/demo/client.ts";
import type { NamespaceState } from "../../../src/cli/demo/namespaces.ts";
import { toClashConnection } from "../../../src/api/clash_api.ts";
import { connRecord } from "../../_helpers/conn_record.ts";
import { parsePrefix } from "../../../src/net/ip.ts";

const p = (s: string) => parsePrefix(s)!;

function state(withTunbox: boolean): NamespaceState {
  const s: NamespaceState = {
    links: [
      { index: 1, name: "lo", flags: 9, mtu: 65536, type: 772 },
      { index: 2, name: "to-far", flags: 0x1003, mtu: 1500, type: 1, kind: "veth" },
    ],
    addresses: [],
    rules: [
      { family: 4, priority: 0, action: "lookup", table: 255, flags: 0 },
      { family: 4, priority: 32766, action: "lookup", table: 254, flags: 0 },
      { family: 4, priority: 32767, action: "lookup", table: 253, flags: 0 },
    ],
    routes: [
      { family: 4, dst: p("0.0.0.0/0"), table: 254, type: 1, protocol: 3, scope: 0, flags: 0 },
    ],
  };
  if (withTunbox) {
    s.links.push({ index: 3, name: "tun0", flags: 0x11, mtu: 65535, type: 0xfffe, kind: "tun" });
    s.addresses.push({ family: 4, index: 3, prefix: p("198.18.0.1/30"), flags: 0, scope: 0 });
    s.rules.splice(1, 0, {
      family: 4,
      priority: 9000,
      action: "lookup",
      table: 2022,
      dst: p("198.18.0.0/30"),
      flags: 0,
    }, { family: 6, priority: 9000, action: "unreachable", flags: 0 });
    s.routes.push({
      family: 4,
      dst: p("0.0.0.0/0"),
      table: 2022,
      oif: 3,
      gateway: Uint8Array.of(198, 18, 0, 2),
      type: 1,
      protocol: 3,
      scope: 0,
      flags: 0,
    });
  }
  return s;
}

Deno.test("`formatBytes()` uses binary units with one decimal", () => {
  assert.deepEqual(
    [0, 1023, 1024, 4 * 1024 * 1024, 3 * 1024 ** 3].map(formatBytes),
    ["0 B", "1023 B", "1.0 KiB", "4.0 MiB", "3.0 GiB"],
  );
});

Deno.test("`formatSetup()` shows only what tunbox added, as iproute2 prints it", () => {
  const r = formatSetup(state(true));
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.lines, [
    "TUN device: tun0  198.18.0.1/30  mtu 65535",
    "Policy rules tunbox installed (ip rule):",
    "  9000: from all to 198.18.0.0/30 lookup 2022",
    "Policy rules tunbox installed (ip -6 rule):",
    "  9000: from all unreachable",
    "Routes tunbox installed (ip route show table 2022):",
    "  default via 198.18.0.2 dev tun0",
  ]);
});

Deno.test("`formatSetup()` reports a missing device, rules and routes as problems", () => {
  const r = formatSetup(state(false));
  assert.deepEqual(r.lines, []);
  assert.equal(r.problems.length, 3);
  assert.match(r.problems[0]!, /no TUN device/);
});

function check(id: DemoCheck["id"], ok: boolean, port: number, net: "tcp" | "udp" = "tcp") {
  return {
    id,
    title: `check ${id}`,
    ok,
    detail: ok ? "fine" : "broken",
    network: net,
    localPort: port,
  };
}

function client(over: Partial<ClientReport> = {}): ClientReport {
  const conn = (port: number, outbound: string, net: "tcp" | "udp" = "tcp") =>
    toClashConnection(connRecord({
      id: port,
      network: net,
      sourcePort: port,
      ruleIndex: outbound === "direct" ? 1 : -1,
      rule: outbound === "direct" ? "ip_cidr=x => route(direct)" : "final",
      outbound,
      chain: [outbound],
      upload: 10,
      download: 2048,
      start: 0,
    }));
  return {
    checks: [check("dns", true, 1, "udp"), check("http", true, 2), check("direct", true, 3)],
    apiVersion: "tunbox 0.1.0",
    connections: [conn(1, "proxy", "udp"), conn(2, "proxy"), conn(3, "direct")],
    uploadTotal: 30,
    downloadTotal: 6144,
    ...over,
  };
}

Deno.test("`formatTraffic()` lists checks and connections, tying each to its check", () => {
  const r = formatTraffic(client());
  assert.deepEqual(r.problems, []);
  assert.equal(r.lines[0], "Checks:");
  assert.equal(r.lines[1], "  ok    check dns: fine");
  assert.equal(r.lines[4], "Connections (from tunbox's Clash API, tunbox 0.1.0):");
  assert.match(r.lines[5]!, /^ {2}net +source +destination +rule +outbound +up +down +check$/);
  assert.match(
    r.lines[6]!,
    /^ {2}udp +198\.18\.0\.1:1 +203\.0\.113\.10:80 +final +proxy +10 B +2\.0 KiB +dns$/,
  );
  assert.match(r.lines[8]!, /ip_cidr=x => route\(direct\) +direct .* direct$/);
  assert.equal(r.lines.at(-1), "  totals: 30 B up, 6.0 KiB down");
});

Deno.test("`formatTraffic()` fails a check, a missing connection and a wrong outbound", () => {
  const base = client();
  const r = formatTraffic({
    ...base,
    checks: [check("dns", false, 1, "udp"), check("http", true, 9), check("direct", true, 2)],
  });
  assert.deepEqual(r.problems, [
    "check dns: broken",
    'tunbox reported no connection for "check http" (port 9)',
    `"check direct" went to outbound "proxy", expected "${EXPECTED_OUTBOUND.direct}"`,
  ]);
  assert.ok(r.lines.includes("  FAIL  check dns: broken"));
  const noApi = formatTraffic({ ...base, apiError: "Clash API at x: refused" });
  assert.deepEqual(noApi.problems, ["Clash API at x: refused"]);
});

Deno.test("`formatCleanup()` confirms or lists what was left", () => {
  assert.deepEqual(formatCleanup({ processes: 4, namespaces: 2, rootLinks: 3, problems: [] }), [
    "cleanup: 4 processes ended, 2 namespaces released, root namespace unchanged (3 interfaces)",
  ]);
  assert.deepEqual(
    formatCleanup({ processes: 4, namespaces: 2, rootLinks: 3, problems: ["pid 7 lives"] }),
    ["cleanup FAILED:", "  - pid 7 lives"],
  );
});
