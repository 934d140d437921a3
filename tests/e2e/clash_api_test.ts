/**
 * The Clash API end to end, tunbox in a throwaway namespace with its TUN: during a long download
 * through the TUN, `/connections` lists it live with its rule, chain and growing counters;
 * `DELETE /connections/{id}` resets it (curl sees the reset); `PUT /proxies/{selector}` moves new
 * connections to the other member, seen at the far side as another source address; the
 * WebSocket stream of `/connections` needs the token. Run for the mixed (kernel TCP) and gvisor
 * (userspace TCP) stacks.
 */

import assert from "node:assert/strict";
import {
  CAN_RUN_E2E,
  FAR,
  HOST_DIRECT,
  HOST_SOCKS_EGRESS,
  Proc,
  SeedWorld,
  type Stack,
} from "./_world.ts";

const API = "127.0.0.1:9090";
const SECRET = "e2e-secret";

interface Conn {
  id: string;
  metadata: { destinationIP: string; destinationPort: string; type: string; network: string };
  upload: number;
  download: number;
  chains: string[];
  rule: string;
}

async function api(w: SeedWorld, method: string, path: string, body?: unknown) {
  const args = ["-X", method, "-H", `Authorization: Bearer ${SECRET}`, "-w", "\n%{http_code}"];
  if (body !== undefined) {
    args.push("-H", "content-type: application/json", "-d", JSON.stringify(body));
  }
  const r = await w.curl([...args, `http://${API}${path}`], 10);
  const nl = r.stdout.lastIndexOf("\n");
  return { status: Number(r.stdout.slice(nl + 1)), body: r.stdout.slice(0, nl), stderr: r.stderr };
}

/** Polls `/connections` until `pick` finds a live connection (20 s). */
async function waitForConn(w: SeedWorld, pick: (c: Conn) => boolean): Promise<Conn> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = await api(w, "GET", "/connections");
    assert.equal(r.status, 200, r.body + r.stderr);
    const found = (JSON.parse(r.body).connections as Conn[]).find(pick);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no such live connection in ${r.body}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

for (const stack of ["mixed", "gvisor"] as Stack[]) {
  Deno.test({
    name: `Clash API (${stack}, ${
      stack === "mixed" ? "one worker in process" : "two workers"
    }): a live download is listed, DELETE resets it, PUT on a selector moves new connections`,
    ignore: !CAN_RUN_E2E,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async (t) => {
      const w = await SeedWorld.start(
        stack,
        "danted",
        [{ ip_cidr: [`${FAR.web}/32`], port: [80], outbound: "sel" }],
        (config) => {
          (config.outbounds as unknown[]).push({
            type: "selector",
            tag: "sel",
            outbounds: ["direct", "v2rayu-proxy"],
            default: "direct",
          });
          config.dns = {
            servers: [{ tag: "far", type: "udp", server: FAR.dns, detour: "direct" }],
          };
          config.experimental = {
            clash_api: { external_controller: API, secret: SECRET },
          };
        },
        // The default stack runs its one worker in the main isolate, beside the API's server.
        stack === "mixed" ? { TUNBOX_WORKERS: "1" } : undefined,
      );
      let download: Proc | undefined;
      try {
        await t.step("the API answers with the secret and refuses without it", async () => {
          const r = await api(w, "GET", "/version");
          assert.equal(r.status, 200, r.body + r.stderr);
          const no = await w.curl([
            "-w",
            "%{http_code}",
            "-o",
            "/dev/null",
            `http://${API}/version`,
          ]);
          assert.equal(no.stdout, "401");
        });

        let id = "";
        await t.step(
          "a long download through the TUN is listed live with rule and outbound",
          async () => {
            download = new Proc(
              "download",
              w.host.spawn([
                "curl",
                "-sS",
                "-o",
                "/dev/null",
                "--limit-rate",
                "5M",
                `http://${FAR.web}/file?size=60000000`,
              ]),
            );
            const c = await waitForConn(
              w,
              (c) =>
                c.metadata.destinationIP === FAR.web && c.metadata.destinationPort === "80" &&
                c.download > 0,
            );
            id = c.id;
            assert.equal(c.metadata.network, "tcp");
            assert.equal(c.metadata.type, "tun/tun-in");
            assert.deepEqual(c.chains, ["direct", "sel"]);
            assert.equal(c.rule, `ip_cidr=${FAR.web}/32 port=80 => route(sel)`);
            // Kernel buffers absorb megabytes before the relay waits for the slow reader, so
            // the counter moves in steps: wait for the next one.
            const later = await waitForConn(w, (x) => x.id === id && x.download > c.download);
            assert.ok(later.download > c.download);
          },
        );

        await t.step("DELETE /connections/{id} resets the download at the client", async () => {
          const r = await api(w, "DELETE", `/connections/${id}`);
          assert.equal(r.status, 204);
          // The client first reads what its kernel had already received, then sees the reset.
          const status = await Promise.race([
            download!.child.status,
            new Promise<null>((res) => setTimeout(() => res(null), 20_000)),
          ]);
          assert.ok(status !== null, "curl ended within 20 s of the DELETE");
          assert.notEqual(status.code, 0);
          await new Promise((res) => setTimeout(res, 100));
          assert.match(download!.stderr, /reset|Recv failure/i, download!.stderr);
          const after = JSON.parse((await api(w, "GET", "/connections")).body);
          assert.ok(!after.connections.some((c: Conn) => c.id === id), "no longer live");
          const closed = after.closed.find((c: Conn & { error?: string }) => c.id === id);
          assert.equal(closed?.error, "closed from the Clash API");
        });

        await t.step("PUT /proxies/sel moves new connections to the other member", async () => {
          const before = await w.curl([`http://${FAR.web}/ip`]);
          assert.equal(before.stdout, HOST_DIRECT, before.stderr);
          const r = await api(w, "PUT", "/proxies/sel", { name: "v2rayu-proxy" });
          assert.equal(r.status, 204, r.body);
          const sel = JSON.parse((await api(w, "GET", "/proxies/sel")).body);
          assert.equal(sel.now, "v2rayu-proxy");
          const after = await w.curl([`http://${FAR.web}/ip`]);
          assert.equal(after.stdout, HOST_SOCKS_EGRESS, after.stderr);
          const bad = await api(w, "PUT", "/proxies/sel", { name: "nope" });
          assert.equal(bad.status, 400);
        });

        await t.step(
          "latency tests, /rules/explain and /dns/query run in the instance",
          async () => {
            const small = encodeURIComponent(`http://${FAR.server}/small`);
            const one = await api(w, "GET", `/proxies/direct/delay?url=${small}&timeout=3000`);
            assert.equal(one.status, 200, one.body);
            assert.ok(JSON.parse(one.body).delay > 0);
            const group = JSON.parse(
              (await api(w, "GET", `/group/sel/delay?url=${small}&timeout=3000`)).body,
            );
            assert.deepEqual(Object.keys(group).sort(), ["direct", "v2rayu-proxy"]);
            const proxies = JSON.parse((await api(w, "GET", "/proxies")).body).proxies;
            assert.equal(proxies.direct.history.length, 1, "the test joins the history");
            const ex = JSON.parse(
              (await api(w, "GET", `/rules/explain?destination=${FAR.rejected}:80`)).body,
            );
            assert.equal(ex.decision.action, "reject");
            const dns = JSON.parse(
              (await api(w, "GET", "/dns/query?name=example.com&type=A")).body,
            );
            assert.equal(dns.Status, 0);
            assert.deepEqual(dns.Answer.map((a: { data: string }) => a.data), [FAR.web]);
          },
        );
      } finally {
        await download?.stop("SIGKILL").catch(() => {});
        await w.close();
      }
    },
  });
}
