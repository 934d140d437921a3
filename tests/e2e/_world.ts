/**
 * The seed scenario as a test world, built in two throwaway namespaces:
 *
 * ```
 *  host ns                                            far ns
 *  ┌────────────────────────────────────────┐        ┌──────────────────────────────┐
 *  │ curl/dig ─▶ TUN (tunbox, seed config)  │  veth  │ 203.0.113.10  HTTP, TLS rec. │
 *  │ SOCKS5 on 127.0.0.1:1080 (danted/v2ray)│◀──────▶│ 203.0.113.20  HTTP ("server")│
 *  │   egress bound to 10.200.0.2           │        │ 203.0.113.30  HTTP (rejected)│
 *  │ h0: 10.200.0.1/24 + 10.200.0.2/24      │        │ 203.0.113.53  DNS            │
 *  │ default via 10.200.0.254               │        │ f0: 10.200.0.254/24          │
 *  └────────────────────────────────────────┘        └──────────────────────────────┘
 * ```
 *
 * The far services are reached from the host only through its default route, which tunbox's
 * auto_route overrides (sing-tun's `suppress_prefixlength 0` rule), so unbound client sockets go
 * into the TUN. The SOCKS server binds its egress to 10.200.0.2, so its own traffic bypasses the
 * TUN (sockets bound to a non-TUN source use the main table) and the far side can tell which
 * path a connection took: 10.200.0.2 = through the SOCKS server, 10.200.0.1 = direct outbound
 * (bound to h0).
 *
 * Every process is started by this module and ended by PID in `close()`, which also deletes
 * both namespaces, even when a test fails.
 */

import { RUN_PERMISSIONS } from "../../src/service/permissions.ts";
import { type CommandResult, type Netns, type NetnsSnapshot } from "../_helpers/netns.ts";
import { Netns as NetnsClass } from "../_helpers/netns.ts";

export type Stack = "system" | "gvisor" | "mixed";
export type SocksKind = "danted" | "v2ray";

const ROOT = new URL("../../", import.meta.url).pathname;
export const FAR = {
  web: "203.0.113.10",
  server: "203.0.113.20",
  rejected: "203.0.113.30",
  dns: "203.0.113.53",
} as const;
/** IPv6 service address on the far side (reached, like FAR.web, only through the default route). */
export const FAR6 = "2001:db8::10";
export const HOST_DIRECT = "10.200.0.1";
export const HOST_SOCKS_EGRESS = "10.200.0.2";

/** True when end-to-end tests can run here (Linux, root). */
export const CAN_RUN_E2E = Deno.build.os === "linux" && Deno.uid?.() === 0;

/** A child process with its output collected. */
export class Proc {
  stdout = "";
  stderr = "";
  readonly status: Promise<Deno.CommandStatus>;
  #exited = false;

  constructor(readonly name: string, readonly child: Deno.ChildProcess) {
    const collect = async (stream: ReadableStream<Uint8Array>, into: "stdout" | "stderr") => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) this[into] += decoder.decode(chunk, { stream: true });
    };
    // Output is collected in the background. Exit does not wait for EOF: a process's own
    // children (danted forks helpers) may hold the pipes open after it has exited.
    collect(child.stdout, "stdout").catch(() => {});
    collect(child.stderr, "stderr").catch(() => {});
    this.status = child.status.then((s) => {
      this.#exited = true;
      return s;
    });
  }

  get pid(): number {
    return this.child.pid;
  }

  get running(): boolean {
    return !this.#exited;
  }

  /** Waits until `pattern` appears in stdout or stderr; throws with the output on timeout or exit. */
  async waitFor(pattern: RegExp, timeoutMs = 15_000): Promise<void> {
    const start = Date.now();
    while (Date.now() - start < timeoutMs) {
      if (pattern.test(this.stdout) || pattern.test(this.stderr)) return;
      if (!this.running) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(
      `${this.name}: ${this.running ? "timed out" : "exited"} waiting for ${pattern}\n` +
        `stdout:\n${this.stdout.slice(-3000)}\nstderr:\n${this.stderr.slice(-3000)}`,
    );
  }

  /** Sends `signal` to this process (by PID) and waits for it to exit. */
  async stop(signal: Deno.Signal = "SIGTERM", timeoutMs = 12_000): Promise<Deno.CommandStatus> {
    if (this.running) {
      try {
        this.child.kill(signal);
      } catch { /* already gone */ }
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((
      r,
    ) => (timer = setTimeout(() => r("timeout"), timeoutMs)));
    const r = await Promise.race([this.status, timeout]);
    clearTimeout(timer);
    if (r === "timeout") {
      try {
        this.child.kill("SIGKILL");
      } catch { /* gone */ }
      return await this.status;
    }
    return r;
  }
}

/** The command line of `tunbox run -c <config>` from source, as `deno task run` runs it. */
export function tunboxRunArgv(configPath: string): string[] {
  // Exactly the permissions of `deno task run` (not -A), as users run it.
  return [Deno.execPath(), "run", ...RUN_PERMISSIONS, `${ROOT}main.ts`, "run", "-c", configPath];
}

/** The seed's config shape (`/work/shared/seeds/000_…`), on Linux, with rules the tests probe. */
export function seedConfig(stack: Stack, extraRules: unknown[] = []): Record<string, unknown> {
  return {
    log: { level: "debug", timestamp: true },
    dns: {
      servers: [{ tag: "google-dns", address: "udp://8.8.8.8" }, {
        tag: "cf-dns",
        address: "udp://1.1.1.1",
      }],
      strategy: "ipv4_only",
    },
    inbounds: [{
      type: "tun",
      tag: "tun-in",
      interface_name: "utun8",
      address: "198.18.0.1/16",
      auto_route: true,
      strict_route: true,
      stack,
    }],
    outbounds: [
      { type: "socks", tag: "v2rayu-proxy", server: "127.0.0.1", server_port: 1080 },
      { type: "direct", tag: "direct", bind_interface: "h0" },
    ],
    route: {
      rules: [
        { ip_is_private: true, outbound: "direct" },
        { domain: ["localhost"], outbound: "direct" },
        { ip_cidr: ["127.0.0.1/32"], outbound: "direct" },
        { ip_cidr: [`${FAR.server}/32`], outbound: "direct" },
        { ip_cidr: [`${FAR.rejected}/32`], action: "reject" },
        { action: "sniff" },
        { domain_suffix: ["direct.example"], outbound: "direct" },
        { domain: ["blocked.example"], action: "reject" },
        ...extraRules,
        { network: ["tcp", "udp"], outbound: "v2rayu-proxy" },
      ],
    },
  };
}

const DANTE_CONF = `logoutput: stderr
internal: 127.0.0.1 port = 1080
external: ${HOST_SOCKS_EGRESS}
socksmethod: none
clientmethod: none
user.privileged: root
user.unprivileged: nobody
client pass { from: 0.0.0.0/0 to: 0.0.0.0/0 }
socks pass { from: 0.0.0.0/0 to: 0.0.0.0/0 command: bind connect udpassociate bindreply udpreply }
`;

const V2RAY_CONF = JSON.stringify({
  log: { loglevel: "warning" },
  inbounds: [{
    listen: "127.0.0.1",
    port: 1080,
    protocol: "socks",
    settings: { auth: "noauth", udp: true, ip: "127.0.0.1" },
  }],
  outbounds: [{ protocol: "freedom", sendThrough: HOST_SOCKS_EGRESS }],
});

/** Everything one scenario test uses. */
export class SeedWorld {
  tunbox: Proc | undefined;
  socks: Proc | undefined;
  farServer: Proc | undefined;
  before: NetnsSnapshot | undefined;
  #procs: Proc[] = [];

  private constructor(
    readonly host: Netns,
    readonly far: Netns,
    readonly dir: string,
  ) {}

  /** Builds the namespaces and far services, starts the SOCKS server and tunbox. */
  static async start(
    stack: Stack,
    socks: SocksKind = "danted",
    extraRules: unknown[] = [],
    /** Changes the generated config before tunbox starts (e.g. a `dns` section). */
    tweak?: (config: Record<string, unknown>) => void,
    /** Extra environment for the tunbox process. */
    env?: Record<string, string>,
    /**
     * `tunbox-first`: tunbox is spawned before any SOCKS server runs and `start` returns without
     * waiting for it to finish starting (the test starts the SOCKS server itself).
     */
    order: "socks-first" | "tunbox-first" = "socks-first",
    /** Runs after the far services and the SOCKS server are up, before tunbox starts. */
    beforeTunbox?: (world: SeedWorld) => Promise<void>,
  ): Promise<SeedWorld> {
    const host = await NetnsClass.create("e2eh");
    let far: Netns | undefined;
    const dir = await Deno.makeTempDir({ prefix: "tunbox-e2e-" });
    try {
      far = await NetnsClass.create("e2ef");
      const w = new SeedWorld(host, far, dir);
      try {
        await w.#build(stack, socks, extraRules, tweak, env, order, beforeTunbox);
      } catch (e) {
        await w.close();
        throw e;
      }
      return w;
    } catch (e) {
      if (!far) {
        await host.delete();
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
      throw e;
    }
  }

  async #build(
    stack: Stack,
    socks: SocksKind,
    extraRules: unknown[],
    tweak?: (config: Record<string, unknown>) => void,
    env?: Record<string, string>,
    order: "socks-first" | "tunbox-first" = "socks-first",
    beforeTunbox?: (world: SeedWorld) => Promise<void>,
  ): Promise<void> {
    const { host, far } = this;
    await host.ip("link", "set", "lo", "up");
    await far.ip("link", "set", "lo", "up");
    await host.addVeth("h0", "f0", {
      peerNs: far,
      localAddr: [`${HOST_DIRECT}/24`, `${HOST_SOCKS_EGRESS}/24`],
      peerAddr: ["10.200.0.254/24"],
    });
    for (const a of Object.values(FAR)) await far.ip("addr", "add", `${a}/32`, "dev", "lo");
    await host.ip("route", "add", "default", "via", "10.200.0.254");
    // IPv6 on the same path (nodad: usable at once).
    await host.ip("-6", "addr", "add", "fd00:200::1/64", "dev", "h0", "nodad");
    await far.ip("-6", "addr", "add", "fd00:200::254/64", "dev", "f0", "nodad");
    await far.ip("-6", "addr", "add", `${FAR6}/128`, "dev", "lo", "nodad");
    await host.ip("-6", "route", "add", "default", "via", "fd00:200::254");

    this.farServer = this.#track(
      "far server",
      far.spawn([
        Deno.execPath(),
        "run",
        "-A",
        `${ROOT}tests/e2e/_far_server.ts`,
        ...[FAR.web, FAR.server, FAR.rejected, FAR6].flatMap((a) => ["--http", `${a}:80`]),
        "--tls",
        `${FAR.web}:443`,
        "--dns",
        `${FAR.dns}:53`,
      ]),
    );
    await this.farServer.waitFor(/ready/);
    if (order === "socks-first") await this.startSocks(socks);

    this.before = await host.snapshot();
    const config = seedConfig(stack, extraRules);
    tweak?.(config);
    await Deno.writeTextFile(this.configPath, JSON.stringify(config, null, 2));
    this.#env = env;
    await beforeTunbox?.(this);
    await this.startTunbox(order === "socks-first");
  }

  #env: Record<string, string> | undefined;

  /** The config file tunbox runs with. */
  get configPath(): string {
    return `${this.dir}/config.json`;
  }

  /** Starts (or restarts) tunbox with the world's config and (by default) waits until it runs. */
  async startTunbox(wait = true): Promise<void> {
    // Two packet workers unless a test says otherwise, so the end-to-end tests keep exercising
    // what crosses workers (NAT port slices, per-worker state) whatever the machine's default.
    const env = { TUNBOX_WORKERS: "2", ...this.#env };
    this.tunbox = this.#track(
      "tunbox",
      this.host.spawn(
        tunboxRunArgv(this.configPath),
        { env: { ...Deno.env.toObject(), ...env } },
      ),
    );
    if (wait) await this.tunbox.waitFor(/tunbox started/);
  }

  #track(name: string, child: Deno.ChildProcess): Proc {
    const p = new Proc(name, child);
    this.#procs.push(p);
    return p;
  }

  /** Starts a process in the far namespace; it is ended by PID in `close()`. */
  spawnFar(name: string, cmd: string[]): Proc {
    return this.#track(name, this.far.spawn(cmd));
  }

  /** Starts a process in the host namespace; it is ended by PID in `close()`. */
  spawnHost(name: string, cmd: string[]): Proc {
    return this.#track(name, this.host.spawn(cmd));
  }

  /** Starts a SOCKS5 server on the host's 127.0.0.1:1080. */
  async startSocks(kind: SocksKind | "garbage"): Promise<void> {
    let cmd: string[];
    if (kind === "danted") {
      await Deno.writeTextFile(`${this.dir}/danted.conf`, DANTE_CONF);
      cmd = ["danted", "-f", `${this.dir}/danted.conf`, "-p", `${this.dir}/danted.pid`];
    } else if (kind === "v2ray") {
      await Deno.writeTextFile(`${this.dir}/v2ray.json`, V2RAY_CONF);
      cmd = ["v2ray", "-config", `${this.dir}/v2ray.json`];
    } else {
      cmd = [Deno.execPath(), "run", "-A", `${ROOT}tests/e2e/_garbage_socks.ts`];
    }
    this.socks = this.#track(kind, this.host.spawn(cmd));
    // Ready when the port accepts connections.
    const start = Date.now();
    while (Date.now() - start < 10_000) {
      const r = await this.host.exec(["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/1080"]);
      if (r.code === 0) return;
      if (!this.socks.running) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${kind} did not listen on 127.0.0.1:1080:\n${this.socks.stderr.slice(-2000)}`);
  }

  async stopSocks(): Promise<void> {
    await this.socks?.stop("SIGTERM");
    this.socks = undefined;
  }

  /** Runs curl in the host namespace; returns its result and the wall time in ms. */
  async curl(args: string[], timeoutS = 30): Promise<CommandResult & { ms: number }> {
    const start = performance.now();
    const r = await this.host.exec(["curl", "-sS", "-m", String(timeoutS), ...args]);
    return { ...r, ms: performance.now() - start };
  }

  /** Runs a command in the host namespace. */
  exec(cmd: string[]): Promise<CommandResult> {
    return this.host.exec(cmd);
  }

  /** Connections the far side's TLS recorder saw (source addresses). */
  async tlsLog(): Promise<{ local: string; from: string }[]> {
    const r = await this.far.exec(["curl", "-sS", "-m", "5", `http://${FAR.web}/tls-log`]);
    return JSON.parse(r.stdout);
  }

  /** Stops tunbox with `signal`; returns its exit status. */
  async stopTunbox(signal: Deno.Signal = "SIGTERM"): Promise<Deno.CommandStatus> {
    const status = await this.tunbox!.stop(signal);
    return status;
  }

  /** Ends every process by PID and deletes both namespaces. */
  async close(): Promise<void> {
    for (const p of this.#procs.reverse()) await p.stop("SIGKILL", 5000).catch(() => {});
    await this.host.delete().catch(() => {});
    await this.far.delete().catch(() => {});
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

export type { NetnsSnapshot };
