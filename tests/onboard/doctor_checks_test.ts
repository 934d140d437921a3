/**
 * Doctor's checks on constructed machine states: the macOS branches (tested here only, as the
 * CI has no Mac) and the Linux rule cases that need a running or crashed tunbox.
 */

import assert from "node:assert/strict";
import type { Options, TunInboundOptions } from "../../src/config/types.ts";
import { decodeConfigText } from "../../src/config/decode.ts";
import { parseIp, parsePrefix } from "../../src/net/ip.ts";
import {
  captureOf,
  checkDirectLoop,
  checkDns,
  checkIpv6,
  checkRules,
  checkServerLoop,
  type HostState,
} from "../../src/onboard/doctor_checks.ts";
import { planRoutes } from "../../src/platform/linux/auto_route.ts";
import type { RuleInfo } from "../../src/platform/linux/rtnetlink/mod.ts";
import { Router } from "../../src/route/router.ts";

function options(json: Record<string, unknown>): Options {
  const r = decodeConfigText(JSON.stringify(json), "test.json");
  if (!r.options) throw new Error(r.errors.map((e) => e.format()).join("\n"));
  return r.options;
}

function host(os: "linux" | "darwin", over: Partial<HostState> = {}): HostState {
  return {
    os,
    privileged: true,
    privilegeDetail: "",
    routes: [{ prefix: parsePrefix("192.168.1.0/24")!, dev: os === "darwin" ? "en0" : "eth0" }],
    ipv6Default: true,
    rules: [],
    tables: new Map(),
    links: [{ name: os === "darwin" ? "en0" : "eth0", kind: "", up: true }],
    resolvers: ["192.168.1.1"],
    resolvedUpstreams: null,
    ...over,
  };
}

const SEEDLIKE = {
  inbounds: [{ type: "tun", tag: "tun-in", address: "172.19.0.1/30", auto_route: true }],
  outbounds: [
    { type: "socks", tag: "proxy", server: "127.0.0.1", server_port: 1080 },
    { type: "direct", tag: "direct" },
  ],
  route: {
    rules: [
      { action: "sniff" },
      { protocol: "dns", action: "hijack-dns" },
      { ip_is_private: true, outbound: "direct" },
    ],
    final: "proxy",
    auto_detect_interface: true,
  },
};

function setup(json: Record<string, unknown> = SEEDLIKE) {
  const o = options(json);
  const tun = o.inbounds.find((i): i is TunInboundOptions => i.type === "tun")!;
  const router = new Router({
    rules: o.route.rules,
    outbounds: o.outbounds,
    final: o.route.final!,
  });
  return { o, tun, router };
}

Deno.test("`captureOf()`: macOS LAN routes beat the TUN's /1 routes; Linux sends DNS to the TUN anyway", () => {
  const { tun } = setup();
  const lan = parseIp("192.168.1.1")!;
  const mac = captureOf(tun, lan, 53, host("darwin"));
  assert.equal(mac.capture, "bypass");
  assert.match(
    mac.why,
    /192\.168\.1\.0\/24 dev en0 is more specific than the TUN's 128\.0\.0\.0\/1/,
  );
  assert.equal(captureOf(tun, lan, 53, host("linux")).capture, "tun");
  assert.equal(captureOf(tun, lan, 80, host("linux")).capture, "bypass");
  assert.equal(captureOf(tun, parseIp("8.8.8.8")!, 443, host("darwin")).capture, "tun");
  const v6 = captureOf(tun, parseIp("2001:db8::1")!, 443, host("linux"));
  assert.equal(v6.capture, "bypass");
  const strict = { ...tun, strict_route: true };
  assert.equal(captureOf(strict, parseIp("2001:db8::1")!, 443, host("linux")).capture, "blocked");
  assert.equal(captureOf(strict, parseIp("2001:db8::1")!, 443, host("darwin")).capture, "bypass");
  const excluded = { ...tun, route_exclude_address: [parsePrefix("203.0.113.7/32")!] };
  assert.match(
    captureOf(excluded, parseIp("203.0.113.7")!, 443, host("darwin")).why,
    /route_exclude_address 203\.0\.113\.7\/32 keeps it out/,
  );
  // With exclusions the Linux table holds split routes, which win over LAN routes.
  assert.equal(captureOf(excluded, lan, 80, host("linux")).capture, "tun");
});

Deno.test("`checkDns()` on macOS: a LAN resolver leaks past the TUN, with the macOS fix", async () => {
  const { o, tun, router } = setup();
  const [f] = await checkDns(o, tun, router, host("darwin"));
  assert.equal(f!.status, "fail");
  assert.match(f!.detail, /go straight to 192\.168\.1\.1, past the TUN/);
  assert.match(f!.fix!, /System Settings → Network → DNS/);
  const [linux] = await checkDns(o, tun, router, host("linux"));
  assert.equal(linux!.status, "ok");
  // systemd-resolved's stub: its upstream servers are what matters.
  const stub = await checkDns(
    o,
    tun,
    router,
    host("linux", { resolvers: ["127.0.0.53"], resolvedUpstreams: ["9.9.9.9"] }),
  );
  assert.deepEqual(stub.map((s) => [s.id, s.status]), [["dns:stub", "info"], [
    "dns:9.9.9.9",
    "ok",
  ]]);
});

Deno.test("`checkIpv6()`: macOS always leaks without an IPv6 TUN address", () => {
  const { tun } = setup();
  assert.equal(checkIpv6({ ...tun, strict_route: true }, host("darwin")).status, "fail");
  assert.equal(checkIpv6({ ...tun, strict_route: true }, host("linux")).status, "warn");
  assert.equal(checkIpv6(tun, host("linux", { ipv6Default: false })).status, "ok");
});

Deno.test("`checkDirectLoop()` names an unbound direct outbound and a missing interface", () => {
  const noAuto = setup({ ...SEEDLIKE, route: { ...SEEDLIKE.route, auto_detect_interface: false } });
  const [f] = checkDirectLoop(noAuto.o, host("linux"));
  assert.equal(f!.status, "fail");
  assert.match(f!.detail, /go back into the TUN and loop/);
  const en0 = setup({
    ...SEEDLIKE,
    outbounds: [SEEDLIKE.outbounds[0], { type: "direct", tag: "direct", bind_interface: "en0" }],
  });
  assert.match(
    checkDirectLoop(en0.o, host("linux"))[0]!.detail,
    /"en0", which this machine does not have/,
  );
  assert.equal(checkDirectLoop(en0.o, host("darwin"))[0]!.status, "ok");
});

Deno.test("`checkServerLoop()` on macOS: a server reached through the local proxy loops", async () => {
  const { o, tun, router } = setup();
  const [f] = await checkServerLoop(o, tun, router, host("darwin"), {
    host: "vmess.example.com",
    addrs: ["203.0.113.7"],
    port: 443,
    source: "V2rayU, ~/.V2rayU/config.json",
  });
  assert.equal(f!.status, "fail");
  assert.match(f!.detail, /this will loop/);
});

Deno.test("`checkRules()` tells a running tunbox, stale rules and a foreign tool apart", () => {
  const { tun } = setup();
  const ours = planRoutes(tun, "tun0").rules.map((r) =>
    ({ ...(r as unknown as { spec: RuleInfo }).spec, flags: 0 }) as RuleInfo
  );
  const running = checkRules(
    tun,
    host("linux", {
      rules: ours,
      tables: new Map([[2022, { count: 1, devs: ["tun0"] }]]),
      links: [{ name: "tun0", kind: "tun", up: true }],
    }),
  );
  assert.deepEqual(running.map((f) => [f.id, f.status]), [["rules:running", "info"]]);
  const stale = checkRules(tun, host("linux", { rules: ours }));
  assert.deepEqual(stale.map((f) => [f.id, f.status]), [["rules:stale", "warn"]]);
  assert.match(stale[0]!.fix!, /tunbox cleanup/);
  const tailscale = checkRules(
    tun,
    host("linux", {
      rules: [{ family: 4, priority: 5270, action: "lookup", table: 52, flags: 0 }],
      tables: new Map([[52, { count: 3, devs: ["tailscale0"] }]]),
      links: [{ name: "tailscale0", kind: "tun", up: true }],
    }),
  );
  assert.deepEqual(tailscale.map((f) => [f.id, f.status]), [
    ["rules:table-52", "warn"],
    ["link:tailscale0", "warn"],
  ]);
  assert.match(tailscale[0]!.title, /Tailscale/);
});
