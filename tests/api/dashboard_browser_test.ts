// The built-in dashboard in a real browser: Debian's chromium, headless, driven by
// playwright-core. tunbox runs (`tunbox run`, listener inbound only, no root) with a selector of
// two direct outbounds bound to different loopback addresses; the test holds a slow download
// through its SOCKS port. The dashboard must load with the secret, list the live connection with
// its rule and chain, switch the selector (new connections then leave from the other address),
// and close the connection (the client sees it end). Screenshots go to tests/artifacts/.

import assert from "node:assert/strict";
import { chromium, type Page } from "playwright-core";
import { RUN_PERMISSIONS } from "../../src/service/permissions.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = `${ROOT}tests/artifacts/dashboard`;
const SECRET = "browser-secret";

const hasChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** 127.0.0.2 and .3 are loopback on Linux; the far server tells which one a connection used. */
function farServer(): { port: number; close(): Promise<void> } {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req, info) => {
    const url = new URL(req.url);
    if (url.pathname === "/ip") return new Response((info.remoteAddr as Deno.NetAddr).hostname);
    // A slow endless download: 16 KiB every 100 ms.
    let timer: ReturnType<typeof setInterval> | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        timer = setInterval(() => c.enqueue(new Uint8Array(16384).fill(120)), 100);
      },
      cancel() {
        clearInterval(timer);
      },
    });
    return new Response(body);
  });
  return { port: server.addr.port, close: () => server.shutdown() };
}

/** A SOCKS5 CONNECT through tunbox's mixed inbound to 127.0.0.1:`port`. */
async function socksConnect(socksPort: number, port: number): Promise<Deno.TcpConn> {
  const c = await Deno.connect({ hostname: "127.0.0.1", port: socksPort });
  const buf = new Uint8Array(64);
  await c.write(new Uint8Array([5, 1, 0]));
  await c.read(buf);
  await c.write(new Uint8Array([5, 1, 0, 1, 127, 0, 0, 1, port >> 8, port & 0xff]));
  const n = await c.read(buf);
  assert.equal(buf[1], 0, `SOCKS reply ${buf.subarray(0, n ?? 0)}`);
  return c;
}

async function httpGet(socksPort: number, port: number, path: string): Promise<string> {
  const c = await socksConnect(socksPort, port);
  await c.write(new TextEncoder().encode(`GET ${path} HTTP/1.0\r\nHost: x\r\n\r\n`));
  let text = "";
  const buf = new Uint8Array(4096);
  for (;;) {
    const n = await c.read(buf);
    if (n === null) break;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  c.close();
  return text.slice(text.indexOf("\r\n\r\n") + 4);
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true });
}

Deno.test({
  name: "dashboard in chromium: live connection, selector switch, close button, charts and logs",
  ignore: !hasChromium || Deno.build.os !== "linux",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    const dir = await Deno.makeTempDir({ prefix: "tunbox-dashboard-" });
    const far = farServer();
    const apiPort = freePort();
    const socksPort = freePort();
    const config = {
      log: { level: "info" },
      inbounds: [{ type: "mixed", tag: "mixed-in", listen: "127.0.0.1", listen_port: socksPort }],
      outbounds: [
        { type: "selector", tag: "proxy", outbounds: ["a", "b"], default: "a" },
        { type: "direct", tag: "a", inet4_bind_address: "127.0.0.2" },
        { type: "direct", tag: "b", inet4_bind_address: "127.0.0.3" },
      ],
      route: { rules: [{ port: [9], action: "reject" }], final: "proxy" },
      experimental: {
        clash_api: { external_controller: `127.0.0.1:${apiPort}`, secret: SECRET },
      },
    };
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
    const tunbox = new Deno.Command(Deno.execPath(), {
      args: ["run", ...RUN_PERMISSIONS, `${ROOT}main.ts`, "run", "-c", `${dir}/config.json`],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let stderr = "";
    const started = (async () => {
      const reader = tunbox.stderr.pipeThrough(new TextDecoderStream()).getReader();
      let resolved = false;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        stderr += value;
        if (!resolved && stderr.includes("tunbox started")) resolved = true;
      }
    })();
    const profile = await Deno.makeTempDir({ prefix: "tunbox-chromium-" });
    let browser: Awaited<ReturnType<typeof chromium.launchPersistentContext>> | undefined;
    let download: Deno.TcpConn | undefined;
    try {
      for (let i = 0; !stderr.includes("tunbox started"); i++) {
        if (i > 300) throw new Error(`tunbox did not start:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      // A slow download held open through the selector's first member.
      download = await socksConnect(socksPort, far.port);
      await download.write(new TextEncoder().encode("GET /slow HTTP/1.0\r\nHost: x\r\n\r\n"));
      const reading = (async () => {
        const buf = new Uint8Array(65536);
        let total = 0;
        try {
          for (;;) {
            const n = await download!.read(buf);
            if (n === null) return { total, end: "eof" };
            total += n;
          }
        } catch (e) {
          return { total, end: e instanceof Error ? e.name : String(e) };
        }
      })();

      browser = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        viewport: { width: 1280, height: 800 },
        args: [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-quic",
          "--no-first-run",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
        ],
      });
      const page = browser.pages()[0] ?? await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.addInitScript((s) => localStorage.setItem("tunbox.secret", s), SECRET);
      const base = `http://127.0.0.1:${apiPort}`;

      // Overview: traffic arrives, charts draw, the version shows.
      await page.goto(`${base}/ui/`);
      await page.waitForFunction(`document.querySelector("#version")?.textContent !== ""`);
      assert.match(await page.textContent("#version") ?? "", /^tunbox /);
      await page.waitForFunction(
        `!/^0 B\\/s$/.test(document.querySelector("#down-speed")?.textContent ?? "0 B/s")`,
        undefined,
        { timeout: 15_000 },
      );
      await page.waitForSelector("#modes button[data-mode='Rule'][aria-checked='true']");
      await shot(page, "1-overview");

      // Connections: the live download with its rule and chain.
      await page.click("[data-testid=tab-connections]");
      const row = page.locator("tbody#conn-rows tr", { hasText: `127.0.0.1:${far.port}` });
      await row.first().waitFor({ timeout: 15_000 });
      const id = await row.first().getAttribute("data-id");
      assert.ok(id, "the row names its connection id");
      assert.equal(await row.first().locator(".rule").textContent(), "final");
      assert.equal(await row.first().locator(".chain").textContent(), "proxy → a");
      await shot(page, "2-connections");

      // Proxies: switch the selector to b; new connections leave from 127.0.0.3.
      assert.equal(await httpGet(socksPort, far.port, "/ip"), "127.0.0.2");
      await page.click("[data-testid=tab-proxies]");
      await page.waitForSelector("[data-testid=group-proxy]");
      await page.waitForSelector("[data-testid=member-proxy-a][aria-pressed=true]");
      await page.click("[data-testid=member-proxy-b]");
      await page.waitForSelector("[data-testid=member-proxy-b][aria-pressed=true]");
      assert.equal(await httpGet(socksPort, far.port, "/ip"), "127.0.0.3");
      await shot(page, "3-proxies");

      // Close the download from its row: the client's connection ends.
      await page.click("[data-testid=tab-connections]");
      await page.click(`[data-testid=close-${id}]`);
      const outcome = await Promise.race([
        reading,
        new Promise<null>((r) => setTimeout(() => r(null), 10_000)),
      ]);
      assert.ok(outcome !== null, "the client's download ended after the close button");
      assert.ok(outcome.total > 0);
      assert.notEqual(outcome.end, "eof", "a reset, not a clean end");
      await page.waitForSelector(`[data-testid=conn-${id}]`, {
        state: "detached",
        timeout: 10_000,
      });
      await shot(page, "4-closed");

      // Logs stream while the tab is open (the workers start forwarding when the stream opens:
      // make connections until one is logged).
      await page.click("[data-testid=tab-logs]");
      // The tap may turn on between a connection's inbound and outbound lines: wait for an
      // inbound line, not just any line.
      for (let i = 0; !/inbound connection/.test(await page.textContent("#log-lines") ?? ""); i++) {
        if (i > 20) throw new Error("no inbound connection log line reached the dashboard");
        await httpGet(socksPort, far.port, "/ip");
        await new Promise((r) => setTimeout(r, 500));
      }
      assert.match(await page.textContent("#log-lines") ?? "", /inbound connection/);
      await shot(page, "5-logs");

      // A phone's viewport: connection rows become cards.
      const again = await socksConnect(socksPort, far.port);
      await again.write(new TextEncoder().encode("GET /slow HTTP/1.0\r\nHost: x\r\n\r\n"));
      await page.setViewportSize({ width: 390, height: 844 });
      await page.click("[data-testid=tab-connections]");
      await page.locator("tbody#conn-rows tr").first().waitFor({ timeout: 10_000 });
      const display = await page.evaluate(
        `getComputedStyle(document.querySelector("table.conns thead")).display`,
      );
      assert.equal(display, "none", "no table header on a phone");
      await shot(page, "6-phone");
      again.close();
      assert.deepEqual(errors, [], "no script errors in the page");
    } finally {
      try {
        download?.close();
      } catch { /* reset already */ }
      await browser?.close();
      try {
        tunbox.kill("SIGTERM");
      } catch { /* exited */ }
      await tunbox.status;
      await started;
      await far.close();
      await Deno.remove(profile, { recursive: true }).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});
