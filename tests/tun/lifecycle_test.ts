// Acceptance: the TUN lifecycle as a process (tests/tun/_tun_harness.ts) inside throwaway
// namespaces. After start, `ip rule` / `ip -6 rule` / `ip route show table N` equal the lists
// sing-tun installs (written by hand); after SIGTERM / SIGINT, and after SIGKILL followed by a
// new start + stop, the namespace equals the snapshot taken before.

import { DEFAULT_V4, DEFAULT_V6 } from "./_tun_options.ts";
import assert from "node:assert/strict";
import { type Netns, type NetnsSnapshot, withNetns } from "../_helpers/netns.ts";
import { runHarness, startHarness } from "./_harness_client.ts";
import type { TunJson } from "./_tun_options.ts";

const DUAL = ["172.19.0.1/30", "fdfe:dcba:9876::1/126"];
const HEAD4 = ["0:\tfrom all lookup local"];
const TAIL4 = ["32766:\tfrom all lookup main", "32767:\tfrom all lookup default"];
const HEAD6 = ["0:\tfrom all lookup local"];
const TAIL6 = ["32766:\tfrom all lookup main"];

const GW4 = "default via 172.19.0.2 dev tun0";
const GW6 = "default via fdfe:dcba:9876::2 dev tun0 metric 1024 pref medium";

interface Expected {
  rules4: string[];
  rules6: string[];
  routes4: string[];
  routes6: string[];
  table?: number;
}

/** `ip [-6] route show table N` lines; an IPv6 table that was never created counts as empty. */
async function tableLines(ns: Netns, family: 4 | 6, table: string): Promise<string[]> {
  const r = await ns.exec(["ip", ...(family === 6 ? ["-6"] : []), "route", "show", "table", table]);
  if (r.code !== 0) {
    if (r.stderr.includes("FIB table does not exist")) return [];
    throw new Error(`ip route show table ${table} failed: ${r.stderr}`);
  }
  return r.stdout.split("\n").map((l) => l.trimEnd()).filter((l) => l !== "");
}

/** Starts the harness, compares the installed state, stops it with `signal`, compares the snapshot. */
async function startCompareStop(
  ns: Netns,
  config: TunJson,
  expected: Expected,
  signal: Deno.Signal = "SIGTERM",
  baseline?: NetnsSnapshot,
) {
  const before = baseline ?? await ns.snapshot();
  const h = startHarness(ns, config);
  try {
    const ready = await h.ready();
    assert.equal(ready.name, config.interface_name ?? "tun0");
    const table = String(expected.table ?? 2022);
    assert.deepEqual(await ns.lines("rule"), [...HEAD4, ...expected.rules4, ...TAIL4]);
    assert.deepEqual(await ns.lines("-6", "rule"), [...HEAD6, ...expected.rules6, ...TAIL6]);
    assert.deepEqual(await tableLines(ns, 4, table), expected.routes4);
    assert.deepEqual(await tableLines(ns, 6, table), expected.routes6);
  } finally {
    h.kill(signal);
  }
  const result = await h.done();
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, new RegExp(`^closed ${signal}$`, "m"));
  await ns.expectSnapshot(before);
}

Deno.test("lifecycle: default options (dual-stack) install sing-tun's rules; SIGTERM restores", async () => {
  await withNetns("life-def", async (ns) => {
    await startCompareStop(
      ns,
      { interface_name: "tun0", address: DUAL, auto_route: true },
      { rules4: DEFAULT_V4, rules6: DEFAULT_V6, routes4: [GW4], routes6: [GW6] },
    );
  });
});

Deno.test("lifecycle: SIGINT restores the snapshot too", async () => {
  await withNetns("life-int", async (ns) => {
    await startCompareStop(
      ns,
      { interface_name: "tun0", address: DUAL, auto_route: true },
      { rules4: DEFAULT_V4, rules6: DEFAULT_V6, routes4: [GW4], routes6: [GW6] },
      "SIGINT",
    );
  });
});

Deno.test("lifecycle: IPv4-only strict_route makes IPv6 unreachable", async () => {
  await withNetns("life-strict", async (ns) => {
    await startCompareStop(
      ns,
      { interface_name: "tun0", address: ["172.19.0.1/30"], auto_route: true, strict_route: true },
      { rules4: DEFAULT_V4, rules6: ["9000:\tfrom all unreachable"], routes4: [GW4], routes6: [] },
    );
  });
});

Deno.test("lifecycle: IPv4-only without strict_route leaves IPv6 alone", async () => {
  await withNetns("life-v4", async (ns) => {
    await startCompareStop(
      ns,
      { interface_name: "tun0", address: ["172.19.0.1/30"], auto_route: true },
      { rules4: DEFAULT_V4, rules6: [], routes4: [GW4], routes6: [] },
    );
  });
});

Deno.test("lifecycle: route_address + route_exclude_address", async () => {
  await withNetns("life-ranges", async (ns) => {
    await startCompareStop(
      ns,
      {
        interface_name: "tun0",
        address: DUAL,
        auto_route: true,
        route_address: ["10.0.0.0/8", "fd00::/16"],
        route_exclude_address: ["10.128.0.0/9", "10.0.0.0/10", "fd00:8000::/17"],
      },
      {
        rules4: DEFAULT_V4,
        rules6: DEFAULT_V6,
        routes4: ["10.64.0.0/10 via 172.19.0.2 dev tun0"],
        routes6: ["fd00::/17 via fdfe:dcba:9876::2 dev tun0 metric 1024 pref medium"],
      },
    );
  });
});

Deno.test("lifecycle: exclude_uid goes first", async () => {
  await withNetns("life-uid", async (ns) => {
    await startCompareStop(
      ns,
      {
        interface_name: "tun0",
        address: ["172.19.0.1/30"],
        auto_route: true,
        exclude_uid: [1000],
        exclude_uid_range: ["2000:2999"],
      },
      {
        rules4: [
          "9000:\tfrom all uidrange 1000-1000 goto 9010",
          "9000:\tfrom all uidrange 2000-2999 goto 9010",
          "9001:\tfrom all to 172.19.0.0/30 lookup 2022",
          "9002:\tfrom all lookup 2022 suppress_prefixlength 0",
          "9003:\tnot from all dport 53 lookup main suppress_prefixlength 0",
          "9003:\tfrom all iif tun0 goto 9010",
          "9004:\tnot from all iif lo lookup 2022",
          "9004:\tfrom 0.0.0.0 iif lo lookup 2022",
          "9004:\tfrom 172.19.0.0/30 iif lo lookup 2022",
          "9010:\tfrom all nop",
        ],
        rules6: [],
        routes4: [GW4],
        routes6: [],
      },
    );
  });
});

Deno.test("lifecycle: custom table and rule index, custom name", async () => {
  await withNetns("life-idx", async (ns) => {
    await startCompareStop(
      ns,
      {
        interface_name: "tb-tun7",
        address: DUAL,
        auto_route: true,
        iproute2_table_index: 100,
        iproute2_rule_index: 500,
      },
      {
        table: 100,
        rules4: [
          "500:\tfrom all to 172.19.0.0/30 lookup 100",
          "501:\tfrom all lookup 100 suppress_prefixlength 0",
          "502:\tnot from all dport 53 lookup main suppress_prefixlength 0",
          "502:\tfrom all iif tb-tun7 goto 510",
          "503:\tnot from all iif lo lookup 100",
          "503:\tfrom 0.0.0.0 iif lo lookup 100",
          "503:\tfrom 172.19.0.0/30 iif lo lookup 100",
          "510:\tfrom all nop",
        ],
        rules6: [
          "500:\tfrom all lookup 100 suppress_prefixlength 0",
          "501:\tnot from all dport 53 lookup main suppress_prefixlength 0",
          "501:\tfrom all iif tb-tun7 goto 510",
          "501:\tfrom ::/1 iif lo goto 510",
          "501:\tfrom 8000::/1 iif lo goto 510",
          "502:\tfrom fdfe:dcba:9876::/126 iif lo lookup 100",
          "503:\tfrom all lookup 100",
          "510:\tfrom all nop",
        ],
        routes4: ["default via 172.19.0.2 dev tb-tun7"],
        routes6: ["default via fdfe:dcba:9876::2 dev tb-tun7 metric 1024 pref medium"],
      },
    );
  });
});

Deno.test("lifecycle: an unnamed TUN becomes tun0 with 2 queues", async () => {
  await withNetns("life-auto", async (ns) => {
    const before = await ns.snapshot();
    const h = startHarness(ns, { address: ["172.19.0.1/30"], auto_route: true }, { queues: 2 });
    try {
      const ready = await h.ready();
      assert.deepEqual({ name: ready.name, fds: ready.fds }, { name: "tun0", fds: 2 });
      assert.match(await ns.ip("-d", "link", "show", "tun0"), /multi_queue numqueues 2/);
    } finally {
      h.kill("SIGTERM");
    }
    assert.equal((await h.done()).code, 0);
    await ns.expectSnapshot(before);
  });
});

Deno.test("lifecycle: after SIGKILL, stale rules remain; the next start removes them and stop restores", async () => {
  await withNetns("life-kill", async (ns) => {
    const config = { interface_name: "tun0", address: DUAL, auto_route: true };
    const before = await ns.snapshot();
    const first = startHarness(ns, config);
    await first.ready();
    first.kill("SIGKILL");
    const killed = await first.done();
    assert.notEqual(killed.code, 0);
    // The device (and its routes) died with the process; the rules did not.
    assert.deepEqual(
      (await ns.lines("rule")).slice(1, -2),
      DEFAULT_V4.map((l) => l.replace("iif tun0 goto", "iif tun0 [detached] goto")),
    );
    assert.equal((await ns.exec(["ip", "link", "show", "tun0"])).code, 1);

    await startCompareStop(
      ns,
      config,
      { rules4: DEFAULT_V4, rules6: DEFAULT_V6, routes4: [GW4], routes6: [GW6] },
      "SIGTERM",
      before,
    );
  });
});

Deno.test("lifecycle: a foreign rule inside the rule range is removed (as sing-tun does) and logged", async () => {
  await withNetns("life-clash", async (ns) => {
    const before = await ns.snapshot();
    await ns.ip("rule", "add", "priority", "9005", "from", "10.0.0.0/8", "lookup", "100");
    const h = startHarness(ns, {
      interface_name: "tun0",
      address: ["172.19.0.1/30"],
      auto_route: true,
    });
    try {
      await h.ready();
      assert.match(
        h.stderr,
        /Removed stale '?IPv4 rule "9005: from 10\.0\.0\.0\/8 lookup 100"/,
      );
      assert.deepEqual((await ns.lines("rule")).slice(1, -2), DEFAULT_V4);
    } finally {
      h.kill("SIGTERM");
    }
    assert.equal((await h.done()).code, 0);
    await ns.expectSnapshot(before);
  });
});

Deno.test("cleanup: removes stale rules, routes and a leftover TUN device, and nothing else", async () => {
  await withNetns("cleanup", async (ns) => {
    await ns.addVeth("keep0", "keep0p", { localAddr: ["10.70.0.1/24"] });
    await ns.ip("rule", "add", "priority", "8999", "lookup", "main");
    await ns.ip("route", "add", "10.71.0.0/16", "dev", "keep0", "table", "2023");
    const before = await ns.snapshot();
    // Leftovers of a crash: rules in the range, routes in the table, a persistent TUN device.
    await ns.ip("tuntap", "add", "dev", "tun0", "mode", "tun");
    await ns.ip("link", "set", "tun0", "up");
    await ns.ip("rule", "add", "priority", "9000", "to", "172.19.0.0/30", "lookup", "2022");
    await ns.ip("-6", "rule", "add", "priority", "9010", "nop");
    await ns.ip("route", "add", "10.72.0.0/16", "dev", "keep0", "table", "2022");
    const result = await runHarness(
      ns,
      { interface_name: "tun0", address: ["172.19.0.1/30"], auto_route: true },
      { cleanup: true },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.stdout.trim().split("\n"), [
      'removed IPv4 rule "9000: from all to 172.19.0.0/30 lookup 2022"',
      'removed IPv6 rule "9010: from all nop"',
      'removed IPv4 route "10.72.0.0/16 dev keep0 scope link table 2022"',
      'removed TUN device "tun0"',
      "done",
    ]);
    await ns.expectSnapshot(before);
  });
});

Deno.test("cleanup: never deletes a non-TUN interface of the configured name", async () => {
  await withNetns("cleanup-veth", async (ns) => {
    await ns.addVeth("tun0", "tun0p");
    const before = await ns.snapshot();
    const result = await runHarness(ns, { interface_name: "tun0", address: ["172.19.0.1/30"] }, {
      cleanup: true,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), "done");
    await ns.expectSnapshot(before);
  });
});
