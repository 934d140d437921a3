/**
 * The WireGuard endpoint through a real TUN (issue 14): tunbox's userspace WireGuard and its
 * own TCP/IP stack against wireguard-go in the far namespace (this VM's kernel has no
 * WireGuard module; wireguard-go speaks the same protocol and `wg` configures both). 20 MB with
 * sha256, 100 parallel fetches, dig over UDP, iperf3 10 s each way; the far side sees the
 * tunnel address and `wg show` counts the bytes; an endpoint with a key the peer does not know
 * gets no answer, and tunbox says so once.
 */

import assert from "node:assert/strict";
import { mustRun } from "../_helpers/netns.ts";
import { CAN_RUN_E2E, FAR } from "./_world.ts";
import {
  digUdp,
  download20MB,
  FAR_PROXY,
  iperf3Both,
  parallelFetches,
  startIperfServer,
  startProxyWorld,
} from "./_proxy_checks.ts";

/** Runs `cmd` (with `stdin`); its stdout, trimmed. */
async function run(cmd: string[], stdin?: string): Promise<string> {
  return (await mustRun(cmd, stdin === undefined ? {} : { stdin })).trim();
}

async function keyPair(): Promise<{ priv: string; pub: string }> {
  const priv = await run(["wg", "genkey"]);
  return { priv, pub: await run(["wg", "pubkey"], priv + "\n") };
}

/** The wireguard-go interface: unique per test process (its UAPI socket path is shared by all namespaces). */
const WG_IF = `wgt${Deno.pid % 100000}`;
const TUNNEL_CLIENT = "10.99.0.2";

Deno.test({
  name: "wireguard endpoint through the TUN to wireguard-go",
  ignore: !CAN_RUN_E2E,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const server = await keyPair();
    const client = await keyPair();
    const stranger = await keyPair();
    const endpoint = (tag: string, priv: string) => ({
      type: "wireguard",
      tag,
      address: [`${TUNNEL_CLIENT}/32`],
      private_key: priv,
      peers: [{
        address: FAR_PROXY,
        port: 51820,
        public_key: server.pub,
        allowed_ips: ["0.0.0.0/0"],
      }],
    });
    const w = await startProxyWorld([], [{ port: [81], outbound: "wrong" }], "mixed", [
      endpoint("proxy", client.priv),
      endpoint("wrong", stranger.priv),
    ]);
    try {
      await Deno.writeTextFile(`${w.dir}/server.key`, server.priv + "\n");
      const wg = w.spawnFar("wireguard-go", ["wireguard-go", "-f", WG_IF]);
      // `wg` talks to wireguard-go through /var/run/wireguard/<name>.sock, which the namespaces
      // share: the name is this process's, and the socket (not only the link) must exist.
      for (let i = 0; i < 100; i++) {
        const link = await w.far.exec(["ip", "link", "show", WG_IF]);
        const sock = await Deno.stat(`/var/run/wireguard/${WG_IF}.sock`).catch(() => null);
        if (link.code === 0 && sock) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const set = await w.far.exec([
        "wg",
        "set",
        WG_IF,
        "private-key",
        `${w.dir}/server.key`,
        "listen-port",
        "51820",
        "peer",
        client.pub,
        "allowed-ips",
        `${TUNNEL_CLIENT}/32`,
      ]);
      assert.equal(set.code, 0, set.stderr + wg.stderr);
      await w.far.ip("addr", "add", "10.99.0.1/24", "dev", WG_IF);
      await w.far.ip("link", "set", WG_IF, "up");
      await startIperfServer(w);

      await t.step("20 MB through the tunnel, sha256 matching", async () => {
        const seenAs = await download20MB(w, 51);
        assert.equal(seenAs, TUNNEL_CLIENT, "the far side sees the tunnel address");
        const transfer = await w.far.exec(["wg", "show", WG_IF, "transfer"]);
        const [, rx, tx] = transfer.stdout.trim().split(/\s+/);
        assert.ok(Number(tx) > 20_000_000, `wg counts ${tx} bytes sent`);
        assert.ok(Number(rx) > 0, `wg counts ${rx} bytes received`);
      });
      await t.step("100 parallel fetches", () => parallelFetches(w));
      await t.step("dig over UDP through the tunnel", () => digUdp(w, "wireguard.test"));
      await t.step("iperf3 10 s each way", async () => {
        const { up, down } = await iperf3Both(w, 10);
        console.log(
          `      wireguard: iperf3 up ${up.toFixed(2)} Gbit/s, down ${down.toFixed(2)} Gbit/s`,
        );
      });
      await t.step("an unknown key gets no answer; tunbox says so once", async () => {
        const r1 = await w.curl([`http://${FAR.web}:81/`], 8);
        const r2 = await w.curl([`http://${FAR.web}:81/`], 8);
        assert.notEqual(r1.code, 0);
        assert.notEqual(r2.code, 0);
        const lines = (w.tunbox!.stdout + w.tunbox!.stderr).split("\n").filter((l) =>
          l.includes('wireguard endpoint "wrong": peer') &&
          l.includes("did not answer the handshake")
        );
        assert.equal(lines.length, 1, w.tunbox!.stderr.slice(-3000));
        assert.ok(w.tunbox!.running);
        assert.equal((await w.curl([`http://${FAR.web}/small`])).stdout, "ok");
      });
    } finally {
      await w.close();
    }
  },
});
