/**
 * Process rules through a real TUN (Linux): `process_name`, `process_path_regex` and `user`
 * items route connections by the local program and user that opened them, for TCP and UDP,
 * and `route.find_process` logs the process of every connection. The seed's world: the final
 * rule goes through danted (the far side sees HOST_SOCKS_EGRESS), `direct` shows HOST_DIRECT.
 */

import assert from "node:assert/strict";
import {
  CAN_RUN_E2E,
  FAR,
  HOST_DIRECT,
  HOST_SOCKS_EGRESS,
  SeedWorld,
  type Stack,
} from "./_world.ts";

const RULES = [
  { process_name: ["wget"], outbound: "direct" },
  { user: ["nobody"], action: "reject" },
  { process_name: ["dig"], network: "udp", action: "reject" },
  { process_path_regex: ["/nslookup$"], network: "udp", outbound: "direct" },
];

for (const stack of ["system", "gvisor"] as Stack[]) {
  Deno.test({
    name: `${stack} stack: process rules route by the program and user that connect`,
    ignore: !CAN_RUN_E2E,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async (t) => {
      const w = await SeedWorld.start(stack, "danted", RULES, (config) => {
        (config.route as Record<string, unknown>).find_process = true;
      });
      try {
        await t.step("curl matches no process rule and goes through the proxy", async () => {
          const r = await w.curl([`http://${FAR.web}/ip`]);
          assert.equal(r.code, 0, r.stderr);
          assert.equal(r.stdout, HOST_SOCKS_EGRESS);
        });

        await t.step("wget matches process_name and goes direct", async () => {
          const r = await w.exec(["wget", "-q", "-T", "20", "-O", "-", `http://${FAR.web}/ip`]);
          assert.equal(r.code, 0, r.stderr);
          assert.equal(r.stdout, HOST_DIRECT);
        });

        await t.step("curl run as nobody matches user and is refused", async () => {
          const r = await w.exec([
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "curl",
            "-sS",
            "-m",
            "10",
            `http://${FAR.web}/ip`,
          ]);
          // The seed's rules sniff first, so the reject comes after the handshake: a reset
          // (curl exit 56) and no answer.
          assert.equal(r.code, 56, r.stdout + r.stderr);
          assert.equal(r.stdout, "");
          assert.match(w.tunbox!.stdout + w.tunbox!.stderr, /user=nobody => reject/);
        });

        await t.step(
          "dig's UDP query matches process_name with network udp and is dropped",
          async () => {
            const r = await w.exec([
              "dig",
              `@${FAR.dns}`,
              "+time=2",
              "+tries=1",
              "+short",
              "example.test",
              "A",
            ]);
            assert.notEqual(r.code, 0, `dig got an answer: ${r.stdout}`);
          },
        );

        await t.step("nslookup matches process_path_regex and its query is answered", async () => {
          const r = await w.exec(["nslookup", "-timeout=3", "example.test", FAR.dns]);
          assert.equal(r.code, 0, r.stdout + r.stderr);
          assert.match(r.stdout, new RegExp(`Address: ${FAR.web.replaceAll(".", "\\.")}`));
        });

        await t.step("find_process logs each connection's program", () => {
          const log = w.tunbox!.stdout + w.tunbox!.stderr;
          for (const exe of ["curl", "wget", "dig", "nslookup"]) {
            assert.match(log, new RegExp(`found process path: \\S*/${exe}\\b`), exe);
          }
        });
      } finally {
        await w.close();
      }
    },
  });
}
