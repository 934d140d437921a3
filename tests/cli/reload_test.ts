/**
 * SIGHUP reload, end to end: `tunbox run` with a TUN config in a throwaway network namespace,
 * started the way the systemd unit starts it (explicit Deno permissions, capabilities bounded
 * to CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE with `setpriv`).
 *
 * 1. a good new config (another device name, address and rule): the instance restarts with it;
 *    the log and `ip rule` show the change;
 * 2. a config with errors: the errors are logged, the old instance keeps running and keeps its
 *    device, routes and rules (snapshot equal before and after);
 * 3. SIGTERM: exit 0 and the namespace equals the snapshot taken before the first start.
 */

import assert from "node:assert/strict";
import { type Netns, withNetns } from "../_helpers/netns.ts";
import { RUN_PERMISSIONS } from "../../src/service/permissions.ts";
import { SERVICE_CAPABILITIES } from "../../src/service/systemd.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const CAN_RUN = Deno.build.os === "linux" && Deno.uid?.() === 0;

function tunConfig(name: string, address: string, rejectCidr: string): string {
  return JSON.stringify(
    {
      log: { level: "info" },
      inbounds: [{
        type: "tun",
        tag: "tun-in",
        interface_name: name,
        address: [address],
        auto_route: true,
        stack: "system",
      }],
      outbounds: [{ type: "direct", tag: "direct" }],
      route: { rules: [{ ip_cidr: [rejectCidr], action: "reject" }] },
    },
    null,
    2,
  );
}

const BAD_CONFIG = `{
  "log": { "level": "info" },
  "inbounds": [{ "type": "tun", "tag": "tun-in", "interface_name": "tun9", "address": ["172.21.0.1/30"], "mtu": "big" }],
  "outbounds": [{ "type": "direct", "tag": "direct" }]
}
`;

/** tunbox as a child process with its output collected. */
class Tunbox {
  output = "";
  readonly status: Promise<Deno.CommandStatus>;
  #exited = false;

  constructor(readonly child: Deno.ChildProcess) {
    const collect = async (stream: ReadableStream<Uint8Array>) => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) this.output += decoder.decode(chunk, { stream: true });
    };
    const done = Promise.all([collect(child.stdout), collect(child.stderr)]);
    this.status = child.status.then(async (s) => {
      this.#exited = true;
      await done.catch(() => {});
      return s;
    });
  }

  get running(): boolean {
    return !this.#exited;
  }

  count(pattern: RegExp): number {
    return [...this.output.matchAll(new RegExp(pattern, "g"))].length;
  }

  /** Waits until `pattern` has appeared `times` times in the output. */
  async waitFor(pattern: RegExp, times = 1, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.count(pattern) >= times) return;
      if (!this.running) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(
      `tunbox ${this.running ? "timed out" : "exited"} waiting for ${pattern} (x${times}):\n` +
        this.output.slice(-4000),
    );
  }

  signal(signal: Deno.Signal): void {
    this.child.kill(signal);
  }

  /** Ends the process by PID if it still runs (SIGKILL after a grace period). */
  async end(): Promise<void> {
    if (!this.running) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 12_000);
    await this.status;
    clearTimeout(timer);
  }
}

function start(ns: Netns, config: string): Tunbox {
  const bounding = SERVICE_CAPABILITIES.split(" ")
    .map((c) => `+${c.replace(/^CAP_/, "").toLowerCase()}`).join(",");
  return new Tunbox(ns.spawn([
    "setpriv",
    `--bounding-set=-all,${bounding}`,
    "--",
    Deno.execPath(),
    "run",
    ...RUN_PERMISSIONS,
    "--quiet",
    "--config",
    `${ROOT}deno.json`,
    `${ROOT}main.ts`,
    "run",
    "-c",
    config,
  ], { env: { ...Deno.env.toObject(), NO_COLOR: "1" } }));
}

/** Asserts the policy rules of a TUN on `device` with address `prefix`; returns every rule. */
async function expectRulesFor(ns: Netns, prefix: string, device: string): Promise<string[]> {
  const rules = await ns.lines("rule");
  assert.ok(rules.includes(`9000:\tfrom all to ${prefix} lookup 2022`), rules.join("\n"));
  assert.ok(rules.some((l) => l.includes(`iif ${device}`)), rules.join("\n"));
  return rules;
}

async function links(ns: Netns): Promise<string[]> {
  const out = await ns.ip("-o", "link", "show");
  return out.split("\n").filter((l) => l !== "").map((l) => l.split(": ")[1]!.split("@")[0]!);
}

/** Runs `fn` in a throwaway namespace with a config path in a fresh directory; removes both. */
async function withConfigInNetns(
  purpose: string,
  fn: (ns: Netns, config: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tunbox-reload-" });
  try {
    await withNetns(purpose, (ns) => fn(ns, `${dir}/config.json`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "tunbox run reloads on SIGHUP: a good config restarts, a bad one keeps the old instance",
  ignore: !CAN_RUN,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withConfigInNetns("reload", async (ns, config) => {
      const before = await ns.snapshot();
      await Deno.writeTextFile(config, tunConfig("tun0", "172.19.0.1/30", "10.1.0.0/16"));
      const tunbox = start(ns, config);
      try {
        await tunbox.waitFor(/tunbox started/);
        assert.match(tunbox.output, /started on tun0/);
        await expectRulesFor(ns, "172.19.0.0/30", "tun0");
        assert.ok((await links(ns)).includes("tun0"));

        // 1. A good new config: the old instance closes, the new one starts with it.
        await Deno.writeTextFile(config, tunConfig("tun1", "172.20.0.1/30", "10.2.0.0/16"));
        tunbox.signal("SIGHUP");
        await tunbox.waitFor(/reloading configuration \(SIGHUP\)/);
        await tunbox.waitFor(/tunbox started/, 2);
        assert.match(tunbox.output, /started on tun1/);
        const second = await expectRulesFor(ns, "172.20.0.0/30", "tun1");
        assert.ok(!second.some((l) => l.includes("172.19.0.0/30") || l.includes("tun0")));
        const devices = await links(ns);
        assert.ok(devices.includes("tun1") && !devices.includes("tun0"), devices.join(" "));
        const reloaded = await ns.snapshot();

        // 2. A config with errors: reported; the running instance and its state stay.
        await Deno.writeTextFile(config, BAD_CONFIG);
        tunbox.signal("SIGHUP");
        await tunbox.waitFor(/reload failed; the running configuration is kept/);
        assert.match(
          tunbox.output,
          /reload service: \S*config\.json:3:\d+: inbounds\[0\]\.mtu: /,
        );
        await new Promise((r) => setTimeout(r, 500));
        assert.ok(tunbox.running, "the old instance keeps running");
        assert.equal(tunbox.count(/tunbox started/g), 2, "no restart on a bad config");
        assert.ok(!/tun9/.test(await ns.ip("link")));
        await ns.expectSnapshot(reloaded);

        // 3. SIGTERM: clean exit, the namespace as before the first start.
        tunbox.signal("SIGTERM");
        const status = await tunbox.status;
        assert.equal(status.code, 0, tunbox.output.slice(-3000));
        await ns.expectSnapshot(before);
      } finally {
        await tunbox.end();
      }
    });
  },
});

/** A config with only a mixed listener on `port` (its worker then runs in the main isolate). */
function listenerConfig(port: number): string {
  return JSON.stringify({
    log: { level: "debug" },
    inbounds: [{ type: "mixed", tag: "m", listen: "127.0.0.1", listen_port: port }],
    outbounds: [{ type: "direct", tag: "direct" }],
  });
}

/** The SOCKS5 method reply of `port` in `ns` ("0500"), or the connection error's name. */
async function socksGreeting(ns: Netns, port: number): Promise<string> {
  const r = await ns.exec([
    "python3",
    "-c",
    "import socket,sys\ntry:\n s=socket.create_connection(('127.0.0.1',int(sys.argv[1])),2)\n" +
    " s.sendall(b'\\x05\\x01\\x00'); print(s.recv(2).hex())\nexcept OSError as e: print(type(e).__name__)",
    String(port),
  ]);
  return r.stdout.trim();
}

Deno.test({
  name:
    "tunbox run restarts an in-process listener worker on SIGHUP: the new port answers, the old one is closed",
  ignore: !CAN_RUN,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withConfigInNetns("relisten", async (ns, config) => {
      await ns.ip("link", "set", "lo", "up");
      await Deno.writeTextFile(config, listenerConfig(17801));
      const tunbox = start(ns, config);
      try {
        await tunbox.waitFor(/tunbox started/);
        assert.match(tunbox.output, /listener inbounds: started in the main isolate/);
        assert.equal(await socksGreeting(ns, 17801), "0500");

        await Deno.writeTextFile(config, listenerConfig(17802));
        tunbox.signal("SIGHUP");
        await tunbox.waitFor(/listener inbounds: started in the main isolate/, 2);
        assert.equal(await socksGreeting(ns, 17802), "0500");
        assert.equal(await socksGreeting(ns, 17801), "ConnectionRefusedError");

        tunbox.signal("SIGTERM");
        const status = await tunbox.status;
        assert.equal(status.code, 0, tunbox.output.slice(-3000));
      } finally {
        await tunbox.end();
      }
    });
  },
});
