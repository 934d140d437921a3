// A tun's `route_address_set` / `route_exclude_address_set` follow their rule-sets: `tunbox run`
// in a throwaway namespace with local source sets; editing a set's file changes the routes in
// table 2022 in place (new ones added, gone ones deleted), and stop leaves the namespace as it was.

import assert from "node:assert/strict";
import { type Netns, withNetns } from "../_helpers/netns.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const CAN_RUN = Deno.build.os === "linux" && Deno.uid?.() === 0;

function sourceSet(cidrs: string[]): string {
  return JSON.stringify({ version: 3, rules: [{ ip_cidr: cidrs }] });
}

async function table(ns: Netns): Promise<string[]> {
  const r = await ns.exec(["ip", "route", "show", "table", "2022"]);
  if (r.code !== 0) return [];
  return r.stdout.split("\n").map((l) => l.trim()).filter((l) => l !== "").sort();
}

async function waitFor(
  what: string,
  probe: () => Promise<string[]>,
  want: string[],
  log: () => string,
): Promise<void> {
  const deadline = Date.now() + 20_000;
  let last: string[] = [];
  while (Date.now() < deadline) {
    last = await probe();
    if (JSON.stringify(last) === JSON.stringify(want)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(
    `${what}: table 2022 is ${JSON.stringify(last)}, want ${JSON.stringify(want)}\n${log()}`,
  );
}

Deno.test({
  name: "`route_address_set`: a changed rule-set file changes the tun's routes in place",
  ignore: !CAN_RUN,
  fn: () =>
    withNetns("addrsets", async (ns) => {
      const dir = await Deno.makeTempDir({ prefix: "tunbox-addrsets-" });
      try {
        await Deno.writeTextFile(`${dir}/near.json`, sourceSet(["198.51.100.0/24"]));
        await Deno.writeTextFile(`${dir}/far.json`, sourceSet(["198.51.100.128/25"]));
        const config = {
          log: { level: "info" },
          inbounds: [{
            type: "tun",
            tag: "tun-in",
            interface_name: "tun0",
            address: ["172.19.0.1/30"],
            auto_route: true,
            stack: "gvisor",
            route_address_set: ["near"],
            route_exclude_address_set: ["far"],
          }],
          outbounds: [{ type: "direct", tag: "direct" }],
          route: {
            rule_set: [
              { type: "local", tag: "near", format: "source", path: `${dir}/near.json` },
              { type: "local", tag: "far", format: "source", path: `${dir}/far.json` },
            ],
          },
        };
        await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
        const before = await ns.snapshot();
        const child = ns.spawn([
          Deno.execPath(),
          "run",
          "-A",
          MAIN,
          "run",
          "-c",
          `${dir}/config.json`,
        ]);
        let stderr = "";
        const decoder = new TextDecoder();
        const drain = (async () => {
          for await (const chunk of child.stderr) stderr += decoder.decode(chunk);
        })();
        const drainOut = child.stdout.pipeTo(new WritableStream());
        try {
          // near minus far: 198.51.100.0/25 only.
          await waitFor(
            "at start",
            () => table(ns),
            ["198.51.100.0/25 via 172.19.0.2 dev tun0"],
            () => stderr,
          );
          // The near set grows by a network; the far set no longer excludes anything of it.
          await Deno.writeTextFile(
            `${dir}/near.json`,
            sourceSet(["198.51.100.0/24", "203.0.113.0/24"]),
          );
          await Deno.writeTextFile(`${dir}/far.json`, sourceSet(["192.0.2.0/24"]));
          await waitFor(
            "after the edits",
            () => table(ns),
            ["198.51.100.0/24 via 172.19.0.2 dev tun0", "203.0.113.0/24 via 172.19.0.2 dev tun0"],
            () => stderr,
          );
          assert.match(stderr, /rule-set (near|far) changed: \d+ route\(s\) added, \d+ removed/);
          // A broken edit keeps the last good set and its routes.
          await Deno.writeTextFile(`${dir}/near.json`, "{ not json");
          await new Promise((r) => setTimeout(r, 1500));
          assert.deepEqual(await table(ns), [
            "198.51.100.0/24 via 172.19.0.2 dev tun0",
            "203.0.113.0/24 via 172.19.0.2 dev tun0",
          ]);
        } finally {
          child.kill("SIGTERM");
          await child.status;
          await drain;
          await drainOut;
        }
        await ns.expectSnapshot(before);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    }),
});
