// Acceptance: bad input gets a clear error (exit 1, one `error:` line) and leaves the
// namespace exactly as it was.

import assert from "node:assert/strict";
import { type Netns, withNetns } from "../_helpers/netns.ts";
import { runHarness } from "./_harness_client.ts";
import type { TunJson } from "./_tun_options.ts";
import { LINUX_PRIVILEGE_MESSAGE } from "../../src/platform/linux/privileges.ts";

async function expectFailure(
  ns: Netns,
  config: TunJson,
  message: string | RegExp,
  prefix?: string[],
): Promise<void> {
  const before = await ns.snapshot();
  const result = await runHarness(ns, config, prefix ? { prefix } : {});
  assert.equal(result.code, 1, `expected failure, got:\n${result.stdout}\n${result.stderr}`);
  assert.doesNotMatch(result.stdout, /^ready/m);
  const line = /^error: (.*)$/m.exec(result.stderr)?.[1];
  assert.ok(line, `no error line in:\n${result.stderr}`);
  if (typeof message === "string") assert.equal(line, message);
  else assert.match(line, message);
  await ns.expectSnapshot(before);
}

const BASE = { address: ["172.19.0.1/30", "fdfe:dcba:9876::1/126"], auto_route: true };

Deno.test("bad input: an interface name over 15 bytes", async () => {
  await withNetns("bad-name", async (ns) => {
    await expectFailure(
      ns,
      { ...BASE, interface_name: "this-name-is-too-long" },
      'Invalid interface_name "this-name-is-too-long": it is 21 bytes long, the limit is 15',
    );
  });
});

Deno.test("bad input: an address without prefix length", async () => {
  await withNetns("bad-addr", async (ns) => {
    await expectFailure(
      ns,
      { ...BASE, interface_name: "tun0", address: ["172.19.0.1"] },
      'Invalid TUN address "172.19.0.1": missing or invalid prefix length (write it as 172.19.0.1/32 for a single address)',
    );
  });
});

Deno.test("bad input: no address at all", async () => {
  await withNetns("bad-noaddr", async (ns) => {
    await expectFailure(
      ns,
      { interface_name: "tun0", address: [], auto_route: true },
      'tun inbound "tun-in" has no address: set "address", e.g. ["172.19.0.1/30"]',
    );
  });
});

Deno.test("bad input: the device name is taken by a veth", async () => {
  await withNetns("bad-taken", async (ns) => {
    await ns.addVeth("tun0", "tun0p", { localAddr: ["10.80.0.1/24"] });
    // A stale rule in the range stays: nothing is swept before the device opened.
    await ns.ip("rule", "add", "priority", "9003", "lookup", "2022");
    await expectFailure(
      ns,
      { ...BASE, interface_name: "tun0" },
      'Cannot open TUN device "tun0": an interface of that name already exists and is a veth device',
    );
  });
});

Deno.test("bad input: missing CAP_NET_ADMIN", async () => {
  await withNetns("bad-cap", async (ns) => {
    // tunbox's stale rules from an earlier run must survive an unprivileged attempt too.
    await ns.ip("rule", "add", "priority", "9000", "lookup", "2022");
    await expectFailure(
      ns,
      { ...BASE, interface_name: "tun0" },
      LINUX_PRIVILEGE_MESSAGE,
      ["setpriv", "--bounding-set=-net_admin"],
    );
  });
});

Deno.test("bad input: an include_interface name the kernel would refuse", async () => {
  await withNetns("bad-iif", async (ns) => {
    await expectFailure(
      ns,
      { ...BASE, interface_name: "tun0", include_interface: ["averyveryverylongname"] },
      /^Invalid include_interface "averyveryverylongname": it is 21 bytes long/,
    );
  });
});

Deno.test("bad input: the system table as iproute2_table_index", async () => {
  await withNetns("bad-table", async (ns) => {
    await expectFailure(
      ns,
      { ...BASE, interface_name: "tun0", iproute2_table_index: 254 },
      /^Invalid iproute2_table_index 254: must be 1-4294967295 and not 253, 254 or 255/,
    );
  });
});

Deno.test("bad input: IPv6 disabled in the namespace fails at the address and undoes the device", async () => {
  await withNetns("bad-v6off", async (ns) => {
    await ns.mustExec(["sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1"]);
    await expectFailure(
      ns,
      { ...BASE, interface_name: "tun0" },
      /^add address fdfe:dcba:9876::1\/126 to "tun0" failed: /,
    );
  });
});
