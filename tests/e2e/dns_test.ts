/**
 * DNS through tunbox end to end: queries to any resolver, over UDP or TCP, are hijacked into the
 * DNS module (`{protocol: dns, action: hijack-dns}` after a sniff), which answers from the far DNS server
 * over the direct outbound, or with FakeIP addresses that tunbox maps back to their domain.
 */

import assert from "node:assert/strict";
import { CAN_RUN_E2E, FAR, HOST_DIRECT, SeedWorld } from "./_world.ts";

/** A resolver address the host "uses": nothing answers there; tunbox hijacks the queries. */
const SYSTEM_RESOLVER = "192.0.2.53";

Deno.test({
  name: "hijack-dns answers through the DNS module, and FakeIP domains route by name",
  ignore: !CAN_RUN_E2E,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const w = await SeedWorld.start(
      "gvisor",
      "danted",
      [
        { protocol: "dns", action: "hijack-dns" },
        { domain_suffix: ["fake.example"], outbound: "direct" },
      ],
      (config) => {
        config.dns = {
          servers: [
            { tag: "far", type: "udp", server: FAR.dns, detour: "direct" },
            { tag: "fake", type: "fakeip", inet4_range: "198.19.0.0/16" },
          ],
          rules: [{ domain_suffix: ["fake.example"], server: "fake" }],
          final: "far",
        };
      },
    );
    /** `dig +short` for an A record at the system resolver, with `extra` options. */
    const dig = (name: string, ...extra: string[]) =>
      w.exec(["dig", ...extra, `@${SYSTEM_RESOLVER}`, "+time=3", "+tries=1", "+short", name, "A"]);
    try {
      await t.step("a query to any resolver is answered by the DNS module", async () => {
        const r = await dig("real.example");
        assert.equal(r.stdout.trim(), FAR.web, r.stdout + r.stderr);
      });

      await t.step("a query over TCP is answered by the DNS module (DNS framing)", async () => {
        const r = await dig("real.example", "+tcp");
        assert.equal(r.stdout.trim(), FAR.web, r.stdout + r.stderr);
      });

      let fake = "";
      await t.step("a FakeIP domain gets an address from the fake range", async () => {
        const r = await dig("web.fake.example");
        fake = r.stdout.trim();
        assert.match(fake, /^198\.19\.\d+\.\d+$/, r.stdout + r.stderr);
        const again = await dig("web.fake.example");
        assert.equal(again.stdout.trim(), fake, "the same domain keeps its address");
      });

      await t.step(
        "a connection to the fake address dials the domain (resolved by tunbox)",
        async () => {
          const r = await w.curl([
            "--resolve",
            `web.fake.example:80:${fake}`,
            "http://web.fake.example/ip",
          ]);
          assert.equal(r.code, 0, r.stderr + w.tunbox!.stderr.slice(-1500));
          assert.equal(r.stdout, HOST_DIRECT);
        },
      );

      await t.step("an address in the fake range without a record is refused", async () => {
        const r = await w.curl(["http://198.19.200.200/ip"], 10);
        assert.notEqual(r.code, 0);
        assert.match(w.tunbox!.stderr, /fakeip/i);
      });
    } finally {
      await w.close();
    }
  },
});
