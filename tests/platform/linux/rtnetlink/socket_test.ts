// The rtnetlink client against the kernel, inside throwaway namespaces; iproute2 is the
// independent witness of what was added or removed.

import assert from "node:assert/strict";
import { NetlinkError, RtNetlink } from "../../../../src/platform/linux/rtnetlink/mod.ts";
import { formatRoute, formatRule } from "../../../../src/platform/linux/ip_text.ts";
import { parsePrefix } from "../../../../src/net/ip.ts";
import { runCommand, withNetns } from "../../../_helpers/netns.ts";

const p = (s: string) => parsePrefix(s)!;

Deno.test("`RtNetlink` lists links, finds one by name, sets MTU and up", async () => {
  await withNetns("nl-link", async (ns) => {
    await ns.ip("link", "add", "v0", "type", "veth", "peer", "name", "v0p");
    const { index, missing } = ns.run(() => {
      using nl = new RtNetlink();
      const links = nl.listLinks();
      assert.deepEqual(links.map((l) => l.name).sort(), ["lo", "v0", "v0p"]);
      const v0 = nl.getLink("v0")!;
      assert.equal(v0.kind, "veth");
      nl.setLinkMtu(v0.index, 1400, "v0");
      nl.setLinkUp(v0.index, true, "v0");
      return { index: v0.index, missing: nl.getLink("nope0") };
    });
    assert.equal(missing, null);
    const shown = await ns.ip("link", "show", "v0");
    assert.match(shown, new RegExp(`^${index}: v0@v0p: <[^>]*\\bUP\\b[^>]*> mtu 1400 `));
  });
});

Deno.test("`RtNetlink` adds, lists and deletes addresses; EEXIST names the address", async () => {
  await withNetns("nl-addr", async (ns) => {
    await ns.ip("link", "add", "v0", "type", "veth", "peer", "name", "v0p");
    const index = ns.run(() => {
      using nl = new RtNetlink();
      const i = nl.getLink("v0")!.index;
      nl.addAddress(i, p("10.20.30.1/24"), 0, "v0");
      nl.addAddress(i, p("fd00:20::1/64"), 0x02, "v0");
      assert.throws(
        () => nl.addAddress(i, p("10.20.30.1/24"), 0, "v0"),
        (e: unknown) =>
          e instanceof NetlinkError &&
          e.message.startsWith('add address 10.20.30.1/24 to "v0" failed: EEXIST (File exists)'),
      );
      const mine = nl.listAddresses().filter((a) => a.index === i).map((a) =>
        `${a.family} ${a.prefix.bits}`
      );
      assert.deepEqual(mine.sort(), ["4 24", "6 64"]);
      return i;
    });
    const shown = await ns.ip("addr", "show", "dev", "v0");
    assert.match(shown, /inet 10\.20\.30\.1\/24 brd 10\.20\.30\.255 scope global v0/);
    assert.match(shown, /inet6 fd00:20::1\/64 scope global nodad/);
    ns.run(() => {
      using nl = new RtNetlink();
      nl.deleteAddress(index, p("10.20.30.1/24"), "v0");
      nl.deleteAddress(index, p("fd00:20::1/64"), "v0");
    });
    const after = await ns.ip("addr", "show", "dev", "v0");
    assert.doesNotMatch(after, /10\.20\.30\.1|fd00:20::1/);
  });
});

Deno.test("`RtNetlink` routes: add, text matches `ip route`, EEXIST error, delete", async () => {
  await withNetns("nl-route", async (ns) => {
    await ns.addVeth("v0", "v0p", { localAddr: ["10.20.30.1/24", "fd00:20::1/64"] });
    const texts = ns.run(() => {
      using nl = new RtNetlink();
      const i = nl.getLink("v0")!.index;
      const specs = [
        { family: 4 as const, dst: p("0.0.0.0/0"), table: 2022, oif: i },
        {
          family: 4 as const,
          dst: p("10.9.9.9/32"),
          table: 2022,
          oif: i,
          gateway: Uint8Array.of(10, 20, 30, 2),
        },
        { family: 6 as const, dst: p("::/0"), table: 2022, oif: i },
        { family: 6 as const, dst: p("fd99::/16"), table: 2022, oif: i, priority: 7 },
      ];
      for (const s of specs) nl.addRoute(s, "v0");
      assert.throws(
        () => nl.addRoute(specs[0]!, "v0"),
        (e: unknown) =>
          e instanceof NetlinkError &&
          e.message === "add route 0.0.0.0/0 table 2022 dev v0 failed: EEXIST (File exists)",
      );
      const listed = nl.listRoutes(undefined, 2022);
      assert.equal(listed.length, 4);
      return {
        planned: specs.map((s) => formatRoute(s, "v0")),
        listed: listed.map((r) => formatRoute(r, "v0")),
      };
    });
    const shown = [
      ...await ns.lines("route", "show", "table", "2022"),
      ...await ns.lines("-6", "route", "show", "table", "2022"),
    ];
    assert.deepEqual(shown.sort(), [...texts.planned].sort());
    assert.deepEqual([...texts.listed].sort(), [...texts.planned].sort());
    ns.run(() => {
      using nl = new RtNetlink();
      for (const r of nl.listRoutes(undefined, 2022)) nl.deleteRoute(r, "v0");
      assert.throws(
        () => nl.deleteRoute({ family: 4, dst: p("0.0.0.0/0"), table: 2022 }),
        (e: unknown) => e instanceof NetlinkError && e.code === "ESRCH",
      );
    });
    assert.equal(await ns.ip("route", "show", "table", "2022"), "");
  });
});

Deno.test("`RtNetlink` dumps span several datagrams (3000 routes)", async () => {
  await withNetns("nl-dump", async (ns) => {
    await ns.addVeth("v0", "v0p", { localAddr: ["10.20.30.1/24"] });
    const batch = Array.from(
      { length: 3000 },
      (_, i) => `route add 10.${100 + (i >> 8)}.${i & 255}.0/24 dev v0 table 77`,
    ).join("\n") + "\n";
    const r = await runCommand(["ip", "-n", ns.name, "-batch", "-"], { stdin: batch });
    assert.equal(r.code, 0, r.stderr);
    const count = ns.run(() => {
      using nl = new RtNetlink();
      return nl.listRoutes(4, 77).length;
    });
    assert.equal(count, 3000);
  });
});

Deno.test("`RtNetlink` rules: add, text matches `ip rule`, kernel message on refusal, delete", async () => {
  await withNetns("nl-rule", async (ns) => {
    await ns.addVeth("v0", "v0p");
    const specs = [
      {
        family: 4 as const,
        priority: 9000,
        action: "lookup" as const,
        table: 2022,
        dst: p("172.19.0.0/30"),
      },
      {
        family: 4 as const,
        priority: 9001,
        action: "lookup" as const,
        table: 254,
        invert: true,
        dport: { start: 53, end: 53 },
        suppressPrefixlen: 0,
      },
      {
        family: 4 as const,
        priority: 9002,
        action: "lookup" as const,
        table: 100,
        src: p("10.0.0.0/8"),
        dst: p("10.9.9.9/32"),
        fwmark: 0x2024,
        fwmask: 0xff00,
        iif: "lo",
        oif: "v0",
        uidRange: { start: 1, end: 2 },
        ipProto: 17,
        sport: { start: 1000, end: 2000 },
        dport: { start: 53, end: 54 },
      },
      { family: 4 as const, priority: 9003, action: "goto" as const, goto: 9010, iif: "v0" },
      { family: 4 as const, priority: 9010, action: "nop" as const },
      { family: 6 as const, priority: 9000, action: "unreachable" as const },
      {
        family: 6 as const,
        priority: 9001,
        action: "goto" as const,
        goto: 9010,
        iif: "lo",
        src: p("8000::/1"),
      },
      { family: 6 as const, priority: 9010, action: "nop" as const },
    ];
    const message = ns.run(() => {
      using nl = new RtNetlink();
      for (const s of specs) nl.addRule(s);
      try {
        nl.addRule({ family: 4, priority: 9010, action: "goto", goto: 9000 }, '"backward"');
      } catch (e) {
        return (e as Error).message;
      }
      return "no error";
    });
    assert.match(message, /^add rule "backward" failed: EINVAL \(Invalid argument\): .+/);
    const expected4 = specs.filter((s) => s.family === 4).map((s) => formatRule(s));
    const expected6 = specs.filter((s) => s.family === 6).map((s) => formatRule(s));
    assert.deepEqual((await ns.lines("rule")).slice(1, -2), expected4);
    assert.deepEqual((await ns.lines("-6", "rule")).slice(1, -1), expected6);

    ns.run(() => {
      using nl = new RtNetlink();
      const listed = nl.listRules().filter((r) => r.priority >= 9000 && r.priority <= 9010);
      assert.deepEqual(listed.map((r) => formatRule(r, r.flags)), [...expected4, ...expected6]);
      for (const s of [...specs].reverse()) nl.deleteRule(s);
      assert.throws(
        () => nl.deleteRuleAt(4, 9000),
        (e: unknown) => e instanceof NetlinkError && e.code === "ENOENT",
      );
    });
    assert.deepEqual(await ns.lines("rule"), [
      "0:\tfrom all lookup local",
      "32766:\tfrom all lookup main",
      "32767:\tfrom all lookup default",
    ]);
  });
});
