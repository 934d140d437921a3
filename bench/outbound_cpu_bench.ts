/**
 * `deno run -A bench/outbound_cpu_bench.ts`: what each proxy protocol outbound costs per byte,
 * without the TUN: the outbound dials a real server on loopback (V2Ray 4.34, ss-server), which
 * connects to a byte source in another process; this process reads `--size` MB through the
 * outbound and reports its own CPU time per MB (every thread, so WebCrypto's pool counts) and
 * the throughput. The server's CPU per MB is shown for scale.
 *
 * CPU per MB is the figure to compare before/after a change on a loaded machine: throughput
 * depends on what else runs, CPU per byte much less.
 *
 * ```sh
 * deno run -A bench/outbound_cpu_bench.ts                        # every case, 200 MB x 3
 * deno run -A bench/outbound_cpu_bench.ts --only vmess-aes,ss-aes --size 100 --runs 5
 * deno run -A bench/outbound_cpu_bench.ts --only vmess-aes --profile 25   # top 25 functions
 * ```
 *
 * The `wireguard` case needs root: this process makes a throwaway namespace, starts wireguard-go
 * in it (a process, so its CPU counts as the server's), and runs itself again inside it with
 * `--inner-wg` (so the client's UDP socket and the byte source live in the namespace too).
 *
 * `--verify` checks every byte against the source's pattern (costs CPU: not for figures).
 * `--profile N` samples the measured runs with V8's profiler (`node:inspector`) and prints the N
 * functions with the most self time (main thread only; WebCrypto's pool is not sampled).
 *
 * @module
 */

import { Session } from "node:inspector";
import process from "node:process";
import { parseArgs } from "node:util";
import { readSome } from "../src/io/stream.ts";
import type { Reactor } from "../src/io/reactor.ts";
import { builtinOutbounds, createOutbounds } from "../src/outbound/mod.ts";
import type { Outbound } from "../src/outbound/types.ts";
import { LOOPBACK, type Peer, testContext, withReactor } from "../tests/outbound/_helpers.ts";
import { startSsServer, startV2rayServer } from "../tests/outbound/_peers.ts";
import { makePki, type Pki } from "../tests/_helpers/tls_certs.ts";
import { parsePrefix } from "../src/net/ip.ts";
import { mustRun, Netns, runCommand } from "../tests/_helpers/netns.ts";

const { values } = parseArgs({
  options: {
    size: { type: "string", default: "200" },
    runs: { type: "string", default: "3" },
    only: { type: "string" },
    profile: { type: "string" },
    verify: { type: "boolean", default: false },
    /** Internal: the wireguard case's settings, when this process runs inside its namespace. */
    "inner-wg": { type: "string" },
  },
});
const SIZE = Number(values.size) * 1024 * 1024;
const RUNS = Number(values.runs);
const UUID = "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d";
const PASSWORD = "bench password";

interface Case {
  id: string;
  server(r: Reactor, pki: Pki): Promise<{ peer: Peer; outbound: Record<string, unknown> }>;
}

async function tlsPair(pki: Pki) {
  const leaf = await pki.issue("proxy", ["proxy.test"], ["127.0.0.1"]);
  return {
    v2ray: {
      security: "tls",
      tlsSettings: { certificates: [{ certificateFile: leaf.certPath, keyFile: leaf.keyPath }] },
    },
    tunbox: { enabled: true, server_name: "proxy.test", certificate: [pki.caPem] },
  };
}

function ss(id: string, method: string): Case {
  return {
    id,
    async server(r) {
      const peer = await startSsServer(r, method, PASSWORD);
      return {
        peer,
        outbound: { type: "shadowsocks", server_port: peer.port, method, password: PASSWORD },
      };
    },
  };
}

function vmess(id: string, security: string, network?: "ws"): Case {
  return {
    id,
    async server(r) {
      const stream = network === "ws"
        ? { stream: { network: "ws", wsSettings: { path: "/vm" } } }
        : {};
      const peer = await startV2rayServer(r, {
        protocol: "vmess",
        secret: UUID,
        loglevel: "warning",
        ...stream,
      });
      return {
        peer,
        outbound: {
          type: "vmess",
          server_port: peer.port,
          uuid: UUID,
          security,
          ...(network === "ws" ? { transport: { type: "ws", path: "/vm", headers: {} } } : {}),
        },
      };
    },
  };
}

function overTls(id: string, protocol: "vless" | "trojan", network?: "http"): Case {
  return {
    id,
    async server(r, pki) {
      const tls = await tlsPair(pki);
      const peer = await startV2rayServer(r, {
        protocol,
        secret: protocol === "vless" ? UUID : PASSWORD,
        loglevel: "warning",
        stream: {
          ...tls.v2ray,
          ...(network === "http"
            ? { network: "http", httpSettings: { host: ["h2.test"], path: "/h2" } }
            : {}),
        },
      });
      return {
        peer,
        outbound: {
          type: protocol,
          server_port: peer.port,
          ...(protocol === "vless" ? { uuid: UUID } : { password: PASSWORD }),
          tls: tls.tunbox,
          ...(network === "http"
            ? { transport: { type: "http", host: ["h2.test"], path: "/h2", headers: {} } }
            : {}),
        },
      };
    },
  };
}

/** What the inner wireguard run needs from the outer one. */
interface InnerWg {
  serverPub: string;
  clientPriv: string;
  serverPid: number;
}
const INNER_WG: InnerWg | null = values["inner-wg"] ? JSON.parse(values["inner-wg"]) : null;
const WG_SERVER_ADDR = "10.99.0.1";
const WG_PORT = 51820;
/** The byte source listens where the case's server forwards to. */
const SOURCE_HOST = INNER_WG ? WG_SERVER_ADDR : "127.0.0.1";

/** The wireguard case, run inside the namespace the outer process made ({@linkcode runWireGuard}). */
const wireguardCase: Case = {
  id: "wireguard",
  server() {
    if (!INNER_WG) throw new Error("the wireguard case runs only inside its namespace");
    const wg = INNER_WG;
    return Promise.resolve({
      peer: { port: WG_PORT, pid: wg.serverPid, stop: () => Promise.resolve(), output: () => "" },
      outbound: {
        type: "wireguard",
        address: [parsePrefix("10.99.0.2/32")],
        private_key: wg.clientPriv,
        peers: [{
          address: "127.0.0.1",
          port: WG_PORT,
          public_key: wg.serverPub,
          allowed_ips: [parsePrefix("10.99.0.0/24")],
        }],
      },
    });
  },
};

/** Runs `cmd` (with `stdin`); its stdout, trimmed. */
async function must(cmd: string[], stdin?: string): Promise<string> {
  return (await mustRun(cmd, stdin === undefined ? {} : { stdin })).trim();
}

/**
 * Makes a namespace with wireguard-go on its loopback (interface 10.99.0.1/24, the client
 * 10.99.0.2/32) and runs this bench again inside it for the wireguard case.
 */
async function runWireGuard(): Promise<void> {
  const serverPriv = await must(["wg", "genkey"]);
  const clientPriv = await must(["wg", "genkey"]);
  const serverPub = await must(["wg", "pubkey"], serverPriv + "\n");
  const clientPub = await must(["wg", "pubkey"], clientPriv + "\n");
  const ifName = `wgb${Deno.pid % 100000}`;
  const ns = await Netns.create("wgbench");
  const dir = await Deno.makeTempDir({ prefix: "tunbox-wgbench-" });
  let server: Deno.ChildProcess | null = null;
  try {
    await Deno.writeTextFile(`${dir}/server.key`, serverPriv + "\n");
    server = new Deno.Command("ip", {
      args: ["netns", "exec", ns.name, "wireguard-go", "-f", ifName],
      stdout: "null",
      stderr: "null",
    }).spawn();
    for (let i = 0; i < 100; i++) {
      const link = await runCommand(["ip", "-n", ns.name, "link", "show", ifName]);
      const sock = await Deno.stat(`/var/run/wireguard/${ifName}.sock`).catch(() => null);
      if (link.code === 0 && sock) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const inNs = ["ip", "netns", "exec", ns.name];
    await must([
      ...inNs,
      ...["wg", "set", ifName, "private-key", `${dir}/server.key`, "listen-port", `${WG_PORT}`],
      ...["peer", clientPub, "allowed-ips", "10.99.0.2/32"],
    ]);
    await must(["ip", "-n", ns.name, "addr", "add", `${WG_SERVER_ADDR}/24`, "dev", ifName]);
    await must(["ip", "-n", ns.name, "link", "set", ifName, "mtu", "1420", "up"]);
    const inner: InnerWg = { serverPub, clientPriv, serverPid: server.pid };
    const args = [
      ...[
        "netns",
        "exec",
        ns.name,
        Deno.execPath(),
        "run",
        "-A",
        new URL(import.meta.url).pathname,
      ],
      ...["--only", "wireguard", "--size", values.size!, "--runs", values.runs!],
      ...(values.profile ? ["--profile", values.profile] : []),
      ...(values.verify ? ["--verify"] : []),
      "--inner-wg",
      JSON.stringify(inner),
    ];
    const child = new Deno.Command("ip", { args, stdout: "piped", stderr: "inherit" }).spawn();
    const out = await child.output();
    // Skip the inner run's two header lines (this process printed its own).
    const lines = new TextDecoder().decode(out.stdout).split("\n").slice(2).join("\n");
    console.log(lines.trimEnd());
    if (!out.success) throw new Error("the wireguard run failed");
  } finally {
    if (server) {
      try {
        server.kill("SIGTERM");
      } catch { /* already gone */ }
      await server.status;
    }
    await ns.delete();
    await Deno.remove(dir, { recursive: true });
  }
}

const CASES: Case[] = [
  ss("ss-aes", "aes-128-gcm"),
  ss("ss-chacha", "chacha20-ietf-poly1305"),
  vmess("vmess-aes", "aes-128-gcm"),
  vmess("vmess-chacha", "chacha20-poly1305"),
  vmess("vmess-ws", "chacha20-poly1305", "ws"),
  overTls("vless", "vless"),
  overTls("vless-h2", "vless", "http"),
  overTls("trojan", "trojan"),
  wireguardCase,
];

/** A byte source in its own process: each connection gets `SIZE` bytes, then FIN. */
async function startSource(): Promise<{ port: number; child: Deno.ChildProcess }> {
  const code = `
    const l = Deno.listen({ hostname: "${SOURCE_HOST}", port: 0 });
    console.log(l.addr.port);
    const chunk = new Uint8Array(1 << 20).map((_, i) => (i * 7) & 0xff);
    for await (const c of l) {
      (async () => {
        let sent = 0;
        try {
          while (sent < ${SIZE}) {
            const at = sent % chunk.length;
            sent += await c.write(chunk.subarray(at, Math.min(chunk.length, at + ${SIZE} - sent)));
          }
        } catch { /* reader went away */ }
        c.close();
      })();
    }`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  return { port: Number(new TextDecoder().decode(value).trim()), child };
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function procCpuMs(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) * 10; // utime + stime, in 100 Hz ticks
}

const SOURCE_ADDR = INNER_WG ? new Uint8Array([10, 99, 0, 1]) : LOOPBACK;

async function download(out: Outbound, port: number): Promise<void> {
  const s = await out.dialTcp({ addr: SOURCE_ADDR, port }, { id: 1 });
  const buf = new Uint8Array(256 * 1024);
  let got = 0;
  while (got < SIZE) {
    const n = await readSome(s, buf, "bench read");
    if (n === 0) break;
    if (values.verify) {
      for (let i = 0; i < n; i++) {
        if (buf[i] !== (((got + i) % (1 << 20)) * 7 & 0xff)) {
          throw new Error(`byte ${got + i} differs from the source's`);
        }
      }
    }
    got += n;
  }
  s.close();
  if (got !== SIZE) throw new Error(`got ${got} of ${SIZE} bytes`);
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** Starts V8's sampling profiler; the returned function stops it and prints the top `n`. */
async function startProfile(n: number): Promise<() => Promise<void>> {
  const session = new Session();
  session.connect();
  const post = (method: string, params: object = {}) =>
    new Promise<unknown>((resolve, reject) =>
      session.post(method, params, (e: unknown, r: unknown) => e ? reject(e) : resolve(r))
    );
  await post("Profiler.enable");
  await post("Profiler.setSamplingInterval", { interval: 100 });
  await post("Profiler.start");
  return async () => {
    const { profile } = await post("Profiler.stop") as {
      profile: { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
    };
    session.disconnect();
    const byId = new Map(profile.nodes.map((node) => [node.id, node]));
    const parent = new Map<number, number>();
    for (const node of profile.nodes) for (const c of node.children ?? []) parent.set(c, node.id);
    const where = (f: ProfileNode["callFrame"]) =>
      `${f.url.replace(/^.*\/(src|bench|tests|ffi)\//, "$1/")}:${f.lineNumber + 1}`;
    const self = new Map<string, number>();
    let total = 0;
    profile.samples.forEach((id, i) => {
      const f = byId.get(id)!.callFrame;
      let key = `${f.functionName || "(anonymous)"} ${f.url ? where(f) : ""}`;
      if (!f.url && !f.functionName) {
        // Native code (an FFI call, a builtin): name the script function that called it.
        let p = parent.get(id);
        while (p !== undefined && !byId.get(p)!.callFrame.url) p = parent.get(p);
        if (p !== undefined) {
          const c = byId.get(p)!.callFrame;
          key = `(native) in ${c.functionName || "(anonymous)"} ${where(c)}`;
        }
      }
      const dt = profile.timeDeltas[i] ?? 0;
      self.set(key, (self.get(key) ?? 0) + dt);
      total += dt;
    });
    for (const [key, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, n)) {
      console.log(`  ${(100 * us / total).toFixed(1).padStart(5)}%  ${key}`);
    }
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

if (import.meta.main) {
  const only = values.only ? new Set(values.only.split(",")) : null;
  const load = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
  console.log(`${SIZE / 1048576} MB x ${RUNS}, load average ${load}`);
  console.log("case          Mbit/s   tunbox CPU ms/MB   server CPU ms/MB");
  const source = await startSource();
  const pki = await makePki();
  try {
    for (const c of CASES.filter((c) => !only || only.has(c.id))) {
      if (c === wireguardCase && !INNER_WG) {
        await runWireGuard();
        continue;
      }
      await withReactor(async (r) => {
        const { peer, outbound } = await c.server(r, pki);
        try {
          const out = createOutbounds(
            [{ tag: "p", server: "127.0.0.1", ...outbound } as never],
            testContext(r),
            {},
            builtinOutbounds(),
          ).get("p")!;
          await download(out, source.port); // warm up
          const mbps: number[] = [], ours: number[] = [], theirs: number[] = [];
          const stopProfile = values.profile ? await startProfile(Number(values.profile)) : null;
          for (let i = 0; i < RUNS; i++) {
            const c0 = cpuMs(), s0 = await procCpuMs(peer.pid), t0 = performance.now();
            await download(out, source.port);
            const dt = performance.now() - t0;
            const mb = SIZE / 1048576;
            ours.push((cpuMs() - c0) / mb);
            theirs.push((await procCpuMs(peer.pid) - s0) / mb);
            mbps.push(SIZE * 8 / 1e6 / (dt / 1000));
          }
          await stopProfile?.();
          console.log(
            `${c.id.padEnd(12)} ${median(mbps).toFixed(0).padStart(7)} ${
              median(ours).toFixed(2).padStart(18)
            } ${median(theirs).toFixed(2).padStart(18)}`,
          );
        } finally {
          await peer.stop();
        }
      });
    }
  } finally {
    await pki.remove();
    source.child.kill("SIGTERM");
    await source.child.status;
  }
}
