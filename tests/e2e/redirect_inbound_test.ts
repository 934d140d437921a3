/**
 * The `redirect` inbound end to end, as on a router: a client namespace routes through a
 * router namespace whose nftables NAT rule redirects the client's TCP to ports 80 and 81 to
 * tunbox's listener; tunbox reads each connection's original destination (`SO_ORIGINAL_DST`)
 * and dials it again, routed by the rules. Three throwaway namespaces, deleted even on failure.
 */

import assert from "node:assert/strict";
import { RUN_PERMISSIONS } from "../../src/service/permissions.ts";
import { Netns } from "../_helpers/netns.ts";
import { CAN_RUN_E2E, Proc } from "./_world.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
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
    const client = await Netns.create("rdc");
    const router = await Netns.create("rdr");
    const server = await Netns.create("rds");
    const dir = await Deno.makeTempDir({ prefix: "tunbox-redirect-" });
    const procs: Proc[] = [];
    try {
      await client.addVeth("c0", "c1", {
        peerNs: router,
        localAddr: ["10.72.0.2/24"],
        peerAddr: ["10.72.0.1/24"],
      });
      await router.addVeth("s1", "s0", {
        peerNs: server,
        localAddr: ["10.73.0.1/24"],
        peerAddr: ["10.73.0.2/24"],
      });
      await client.ip("route", "add", "default", "via", "10.72.0.1");
      await server.ip("route", "add", "default", "via", "10.73.0.1");
      await router.mustExec(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
      await router.mustExec(["sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1"]);
      await client.ip("-6", "addr", "add", "fd00:72::2/64", "dev", "c0", "nodad");
      await router.ip("-6", "addr", "add", "fd00:72::1/64", "dev", "c1", "nodad");
      await router.ip("-6", "addr", "add", "fd00:73::1/64", "dev", "s1", "nodad");
      await server.ip("-6", "addr", "add", "fd00:73::2/64", "dev", "s0", "nodad");
      await client.ip("-6", "route", "add", "default", "via", "fd00:72::1");
      await server.ip("-6", "route", "add", "default", "via", "fd00:73::1");
      const nft = await router.exec(["nft", "-f", "-"], { stdin: NFT_RULES });
      assert.equal(nft.code, 0, `nft: ${nft.stderr}`);

      const far = new Proc(
        "far",
        server.spawn([
          Deno.execPath(),
          "run",
          "-A",
          `${ROOT}tests/e2e/_far_server.ts`,
          "--http",
          "10.73.0.2:80",
          "--http",
          "10.73.0.2:81",
          "--http",
          "fd00:73::2:80",
        ]),
      );
      procs.push(far);
      await far.waitFor(/ready/);

      await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(CONFIG, null, 2));
      const tunbox = new Proc(
        "tunbox",
        router.spawn([
          Deno.execPath(),
          "run",
          ...RUN_PERMISSIONS,
          `${ROOT}main.ts`,
          "run",
          "-c",
          `${dir}/config.json`,
        ]),
      );
      procs.push(tunbox);
      await tunbox.waitFor(/tunbox started/);
      const curl = (url: string) =>
        client.exec(["curl", "-sS", "-m", "5", url]).then((r) => ({ ...r, out: r.stdout.trim() }));

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
          const r = await client.exec(["curl", "-sS", "-m", "5", `http://10.72.0.1:${PORT}/ip`]);
          assert.notEqual(r.code, 0);
          await tunbox.waitFor(/its destination 10\.72\.0\.1:7892 is this listener/, 5000);
        },
      );

      await t.step("tunbox keeps serving after the refusals", async () => {
        const r = await curl("http://10.73.0.2/ip");
        assert.equal(r.out, "10.73.0.1", r.stderr);
      });
    } finally {
      for (const p of procs.reverse()) await p.stop("SIGKILL", 5000).catch(() => {});
      for (const ns of [client, router, server]) await ns.delete().catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
