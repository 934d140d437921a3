/**
 * The `redirect` inbound end to end, as on a router: a client namespace routes through a
 * router namespace whose nftables NAT rule redirects the client's TCP to ports 80 and 81 to
 * tunbox's listener; tunbox reads each connection's original destination (`SO_ORIGINAL_DST`)
 * and dials it again, routed by the rules. Three throwaway namespaces, deleted even on failure.
 */

import assert from "node:assert/strict";
import { CAN_RUN_E2E } from "./_world.ts";
import { RouterWorld } from "./_router_world.ts";

const PORT = 7892;

const NFT_RULES = `
table inet tunbox_redirect_test {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "c1" meta l4proto tcp th dport { 80, 81 } redirect to :${PORT}
  }
}
`;

const CONFIG = {
  log: { level: "debug" },
  inbounds: [{ type: "redirect", tag: "rd-in", listen: "::", listen_port: PORT }],
  outbounds: [{ type: "direct", tag: "direct" }],
  route: {
    rules: [{ inbound: ["rd-in"], port: 81, action: "reject" }],
    final: "direct",
  },
};

Deno.test({
  name:
    "redirect inbound: NAT-redirected curl over IPv4 and IPv6 is dialed to its original destination",
  ignore: !CAN_RUN_E2E,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const w = await RouterWorld.create("rd", 72);
    try {
      await w.nft(NFT_RULES);
      await w.startFar([
        "--http",
        "10.73.0.2:80",
        "--http",
        "10.73.0.2:81",
        "--http",
        "fd00:73::2:80",
      ]);
      const tunbox = await w.startTunbox(CONFIG);
      const curl = (url: string) => w.curl(url);

      await t.step("IPv4: tunbox dials the original destination again", async () => {
        const r = await curl("http://10.73.0.2/ip");
        assert.equal(r.code, 0, r.stderr + tunbox.stderr.slice(-2000));
        assert.equal(r.out, "10.73.0.1", "the server sees tunbox's address, not the client's");
        assert.match(
          tunbox.stderr,
          /inbound\/redirect\[rd-in\]: inbound connection from \S+ to 10\.73\.0\.2:80/,
        );
      });

      await t.step("IPv6 on the same dual-stack listener", async () => {
        const r = await curl("http://[fd00:73::2]/ip");
        assert.equal(r.code, 0, r.stderr + tunbox.stderr.slice(-2000));
        assert.equal(r.out, "fd00:73::1");
      });

      await t.step("a rule on the original port rejects port 81", async () => {
        const r = await curl("http://10.73.0.2:81/ip");
        assert.notEqual(r.code, 0, `port 81 answered: ${r.out}`);
        assert.equal(r.out, "");
        await tunbox.waitFor(/port=81 => reject/, 5000);
      });

      await t.step(
        "a connection made to the listener itself is refused with a reason",
        async () => {
          const r = await curl(`http://10.72.0.1:${PORT}/ip`);
          assert.notEqual(r.code, 0);
          await tunbox.waitFor(/its destination 10\.72\.0\.1:7892 is this listener/, 5000);
        },
      );

      await t.step("tunbox keeps serving after the refusals", async () => {
        const r = await curl("http://10.73.0.2/ip");
        assert.equal(r.out, "10.73.0.1", r.stderr);
      });
    } finally {
      await w.close();
    }
  },
});
