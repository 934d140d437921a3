/**
 * `tunbox run` with a `mixed` listener inbound (sing-box's local proxy inbound), on loopback:
 * curl through SOCKS5 and HTTP CONNECT reaches a local server; a reject rule refuses.
 */

import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function curl(args: string[]): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command("curl", { args: ["-sS", "-m", "10", ...args] }).output();
  return { code: r.code, out: new TextDecoder().decode(r.stdout) };
}

Deno.test({
  name: "tunbox run serves a mixed inbound routed by the rules",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const proxyPort = freePort();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      () => new Response("hello"),
    );
    const webPort = server.addr.port;
    const dir = await Deno.makeTempDir();
    const cfg = `${dir}/config.json`;
    await Deno.writeTextFile(
      cfg,
      JSON.stringify({
        log: { level: "info" },
        inbounds: [{ type: "mixed", tag: "mixed-in", listen: "127.0.0.1", listen_port: proxyPort }],
        outbounds: [
          { type: "direct", tag: "direct" },
          { type: "direct", tag: "en0-direct", bind_interface: "tbnosuch0" },
        ],
        route: { rules: [{ ip_cidr: ["127.0.0.2/32"], action: "reject" }] },
      }),
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${ROOT}main.ts`, "run", "-c", cfg],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    try {
      // Wait until the inbound accepts connections.
      for (let i = 0; i < 100; i++) {
        try {
          (await Deno.connect({ hostname: "127.0.0.1", port: proxyPort })).close();
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      const socks = await curl([
        "--socks5",
        `127.0.0.1:${proxyPort}`,
        `http://127.0.0.1:${webPort}/`,
      ]);
      assert.deepEqual(socks, { code: 0, out: "hello" });
      const http = await curl([
        "-x",
        `http://127.0.0.1:${proxyPort}`,
        `http://127.0.0.1:${webPort}/`,
      ]);
      assert.deepEqual(http, { code: 0, out: "hello" });
      const rejected = await curl([
        "--socks5",
        `127.0.0.1:${proxyPort}`,
        `http://127.0.0.2:${webPort}/`,
      ]);
      assert.equal(rejected.code, 97, "curl: the SOCKS5 server refused the connection");
    } finally {
      child.kill("SIGTERM");
      const status = await child.status;
      const stderr = new TextDecoder().decode(await new Response(child.stderr).arrayBuffer());
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
      assert.equal(status.code, 0, stderr);
      assert.match(stderr, /ip_cidr=127\.0\.0\.2\/32 => reject/);
      assert.match(
        stderr,
        /outbound "en0-direct" binds to interface tbnosuch0, which does not exist on this machine/,
      );
    }
  },
});
