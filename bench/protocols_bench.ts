/**
 * `deno run -A bench/protocols_bench.ts`: each proxy protocol's download throughput through
 * tunbox's TUN against the same server reached with the protocol's own client, in the same run
 * (issue 14). Runs in the e2e test world (`tests/e2e/_world.ts`: two throwaway namespaces; the
 * servers in the far one); needs root.
 *
 * For each protocol: the server starts in the far namespace; tunbox runs with the final rule
 * sent to the protocol's outbound and `curl` downloads `--size` MB through the TUN (`--runs`
 * times, median); then tunbox stops and the native client runs in the host namespace (ss-local
 * or V2Ray as a SOCKS5 front that `curl --socks5-hostname` uses; wireguard-go with a route for
 * WireGuard) for the same downloads, and stops. That is one round; `--rounds` of them alternate
 * (each side warmed up with one download first), and the ratio is the median of the rounds'
 * tunbox / native (aim: at least 1.0): on a 2-core VM one pair moves by ±0.15 from run to run.
 *
 * ```sh
 * deno run -A bench/protocols_bench.ts                       # all, 200 MB x 3
 * deno run -A bench/protocols_bench.ts --smoke               # 5 MB x 1, to check it works
 * deno run -A bench/protocols_bench.ts --only ss-aes,vmess --size 100 --runs 5
 * deno run -A bench/protocols_bench.ts --only direct,vmess  # direct: the TUN path's own CPU
 * deno run -A bench/protocols_bench.ts --workers 2         # TUNBOX_WORKERS (default: tunbox's choice)
 * deno run -A bench/protocols_bench.ts --rounds 5          # tunbox/native pairs (default 3)
 * ```
 *
 * Writes `bench/results/protocols-<date>.{md,json}` (not with `--smoke`). Figures are only
 * meaningful on a quiet machine; the load average at start is recorded.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { makePki } from "../tests/_helpers/tls_certs.ts";
import { FAR, type Proc, SeedWorld } from "../tests/e2e/_world.ts";
import { FAR_PROXY, waitForPort } from "../tests/e2e/_proxy_checks.ts";
import { workerCount } from "../src/worker/tun_inbound.ts";

const { values } = parseArgs({
  options: {
    size: { type: "string", default: "200" },
    runs: { type: "string", default: "3" },
    only: { type: "string" },
    smoke: { type: "boolean", default: false },
    /** Packet workers (`TUNBOX_WORKERS`); default: tunbox's own choice on this machine. */
    workers: { type: "string" },
    /** The TUN's `mtu`; default: tunbox's (sing-box's Linux default, 65535). */
    mtu: { type: "string" },
    /** The TUN's `stack` (`system`, `gvisor`, `mixed`); default: the seed config's `mixed`. */
    stack: { type: "string", default: "mixed" },
    /** Alternating tunbox/native rounds per protocol (the ratio is their median). */
    rounds: { type: "string", default: "3" },
    out: { type: "string", default: new URL("./results/", import.meta.url).pathname },
  },
});
const SIZE_MB = values.smoke ? 5 : Number(values.size);
const RUNS = values.smoke ? 1 : Number(values.runs);
const ROUNDS = values.smoke ? 1 : Number(values.rounds);
if (!(Number.isInteger(ROUNDS) && ROUNDS >= 1)) {
  throw new Error(`--rounds ${values.rounds}: expected a whole number of at least 1`);
}
const SIZE = SIZE_MB * 1024 * 1024;
/** tunbox runs as users run it here (one worker, in the main isolate, on up to 2 cores). */
const WORKERS = values.workers ? Number(values.workers) : workerCount();
const STACKS = ["system", "gvisor", "mixed"] as const;
const STACK = (() => {
  const stack = STACKS.find((s) => s === values.stack);
  if (!stack) throw new Error(`--stack ${values.stack}: expected one of ${STACKS.join(", ")}`);
  return stack;
})();
const UUID = "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d";
const PASSWORD = "bench password";
const SOCKS_PORT = 1090;

interface Ctx {
  w: SeedWorld;
  /** The native client's processes (their CPU time is measured). */
  nativePids: number[];
  /** The native client's processes of this round (stopped at its end). */
  nativeProcs: Proc[];
  cert: string;
  key: string;
  caPem: string;
  wg: { serverPriv: string; serverPub: string; clientPriv: string; clientPub: string };
}

/** One protocol under test. */
interface Protocol {
  id: string;
  label: string;
  /** tunbox's outbound (tag "proxy") or endpoint. */
  outbound(c: Ctx): { outbound?: Record<string, unknown>; endpoint?: Record<string, unknown> };
  /** Starts the server in the far namespace. */
  server(c: Ctx): Promise<void>;
  /** Starts the native client in the host namespace; returns how curl reaches through it. */
  native(c: Ctx): Promise<string[]>;
}

function v2rayServerConfig(
  protocol: string,
  settings: unknown,
  stream?: Record<string, unknown>,
) {
  return {
    log: { loglevel: "warning" },
    inbounds: [{
      listen: FAR_PROXY,
      port: 8443,
      protocol,
      settings,
      ...(stream ? { streamSettings: stream } : {}),
    }],
    outbounds: [{ protocol: "freedom" }],
  };
}

/** Starts a native client's process in the host namespace, recording its pid. */
function spawnNative(c: Ctx, name: string, cmd: string[]) {
  const p = c.w.spawnHost(name, cmd);
  c.nativePids.push(p.pid);
  c.nativeProcs.push(p);
  return p;
}

/** CPU time (user + system, every thread) of `pids` in milliseconds. */
/** CPU milliseconds the processes used so far: in all, and in the kernel (stime). */
async function cpuMs(pids: number[]): Promise<{ total: number; kernel: number }> {
  let total = 0;
  let kernel = 0;
  for (const pid of pids) {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    total += (Number(f[11]) + Number(f[12])) * 10; // utime + stime, 100 Hz ticks
    kernel += Number(f[12]) * 10;
  }
  return { total, kernel };
}

async function startFarV2ray(c: Ctx, config: unknown): Promise<void> {
  await Deno.writeTextFile(`${c.w.dir}/v2ray-server.json`, JSON.stringify(config));
  const p = c.w.spawnFar("v2ray server", ["v2ray", "-config", `${c.w.dir}/v2ray-server.json`]);
  await waitForPort(c.w, FAR_PROXY, 8443, p);
}

/** V2Ray as the native client: a SOCKS5 inbound on the host, the protocol as its outbound. */
async function startHostV2ray(c: Ctx, outbound: unknown): Promise<string[]> {
  const config = {
    log: { loglevel: "warning" },
    inbounds: [{
      listen: "127.0.0.1",
      port: SOCKS_PORT,
      protocol: "socks",
      settings: { auth: "noauth", udp: false },
    }],
    outbounds: [outbound],
  };
  await Deno.writeTextFile(`${c.w.dir}/v2ray-client.json`, JSON.stringify(config));
  const p = spawnNative(c, "v2ray client", ["v2ray", "-config", `${c.w.dir}/v2ray-client.json`]);
  await waitForHostPort(c.w, SOCKS_PORT, p);
  return ["--socks5-hostname", `127.0.0.1:${SOCKS_PORT}`];
}

async function waitForHostPort(
  w: SeedWorld,
  port: number,
  p: { running: boolean; name: string; stderr: string },
) {
  for (let i = 0; i < 100; i++) {
    const r = await w.exec(["bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/${port}`]);
    if (r.code === 0) return;
    if (!p.running) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${p.name} did not listen on 127.0.0.1:${port}: ${p.stderr.slice(-1000)}`);
}

const tlsStream = (c: Ctx, extra: Record<string, unknown> = {}) => ({
  ...extra,
  security: "tls",
  tlsSettings: { certificates: [{ certificateFile: c.cert, keyFile: c.key }] },
});
const clientTls = (_c: Ctx, extra: Record<string, unknown> = {}) => ({
  ...extra,
  security: "tls",
  tlsSettings: { serverName: "proxy.test", allowInsecure: true },
});
const tunboxTls = (c: Ctx) => ({
  enabled: true,
  server_name: "proxy.test",
  certificate: [c.caPem],
});

function shadowsocks(id: string, method: string): Protocol {
  return {
    id,
    label: `shadowsocks ${method}`,
    outbound: () => ({
      outbound: {
        type: "shadowsocks",
        server: FAR_PROXY,
        server_port: 8443,
        method,
        password: PASSWORD,
      },
    }),
    async server(c) {
      const p = c.w.spawnFar("ss-server", [
        "ss-server",
        "-s",
        FAR_PROXY,
        "-p",
        "8443",
        "-m",
        method,
        "-k",
        PASSWORD,
        "--no-delay",
      ]);
      await waitForPort(c.w, FAR_PROXY, 8443, p);
    },
    async native(c) {
      const p = spawnNative(c, "ss-local", [
        "ss-local",
        "-s",
        FAR_PROXY,
        "-p",
        "8443",
        "-l",
        String(SOCKS_PORT),
        "-b",
        "127.0.0.1",
        "-m",
        method,
        "-k",
        PASSWORD,
        "--no-delay",
      ]);
      await waitForHostPort(c.w, SOCKS_PORT, p);
      return ["--socks5-hostname", `127.0.0.1:${SOCKS_PORT}`];
    },
  };
}

const PROTOCOLS: Protocol[] = [
  {
    // No protocol: what the TUN path and the relay cost alone (tunbox's CPU per MB); the
    // "native" side is curl without any proxy, so its ratio is the ceiling, not an aim.
    id: "direct",
    label: "direct (TUN path only; native: no proxy)",
    outbound: () => ({ outbound: { type: "direct" } }),
    server: () => Promise.resolve(),
    native: () => Promise.resolve([]),
  },
  shadowsocks("ss-aes", "aes-128-gcm"),
  shadowsocks("ss-chacha", "chacha20-ietf-poly1305"),
  {
    id: "vmess",
    label: "vmess (aes-128-gcm, TCP)",
    outbound: () => ({
      outbound: {
        type: "vmess",
        server: FAR_PROXY,
        server_port: 8443,
        uuid: UUID,
        security: "aes-128-gcm",
      },
    }),
    server: (c) => startFarV2ray(c, v2rayServerConfig("vmess", { clients: [{ id: UUID }] })),
    native: (c) =>
      startHostV2ray(c, {
        protocol: "vmess",
        settings: {
          vnext: [{
            address: FAR_PROXY,
            port: 8443,
            users: [{ id: UUID, alterId: 0, security: "aes-128-gcm" }],
          }],
        },
      }),
  },
  {
    id: "vmess-ws",
    label: "vmess (chacha20-poly1305, ws)",
    outbound: () => ({
      outbound: {
        type: "vmess",
        server: FAR_PROXY,
        server_port: 8443,
        uuid: UUID,
        security: "chacha20-poly1305",
        transport: { type: "ws", path: "/ws" },
      },
    }),
    server: (c) =>
      startFarV2ray(
        c,
        v2rayServerConfig("vmess", { clients: [{ id: UUID }] }, {
          network: "ws",
          wsSettings: { path: "/ws" },
        }),
      ),
    native: (c) =>
      startHostV2ray(c, {
        protocol: "vmess",
        settings: {
          vnext: [{
            address: FAR_PROXY,
            port: 8443,
            users: [{ id: UUID, alterId: 0, security: "chacha20-poly1305" }],
          }],
        },
        streamSettings: { network: "ws", wsSettings: { path: "/ws" } },
      }),
  },
  {
    id: "vless",
    label: "vless (TLS)",
    outbound: (c) => ({
      outbound: {
        type: "vless",
        server: FAR_PROXY,
        server_port: 8443,
        uuid: UUID,
        tls: tunboxTls(c),
      },
    }),
    server: (c) =>
      startFarV2ray(
        c,
        v2rayServerConfig("vless", { clients: [{ id: UUID }], decryption: "none" }, tlsStream(c)),
      ),
    native: (c) =>
      startHostV2ray(c, {
        protocol: "vless",
        settings: {
          vnext: [{ address: FAR_PROXY, port: 8443, users: [{ id: UUID, encryption: "none" }] }],
        },
        streamSettings: clientTls(c),
      }),
  },
  {
    id: "vless-h2",
    label: "vless (TLS + http, HTTP/2)",
    outbound: (c) => ({
      outbound: {
        type: "vless",
        server: FAR_PROXY,
        server_port: 8443,
        uuid: UUID,
        tls: tunboxTls(c),
        transport: { type: "http", host: ["h2.test"], path: "/h2" },
      },
    }),
    server: (c) =>
      startFarV2ray(
        c,
        v2rayServerConfig(
          "vless",
          { clients: [{ id: UUID }], decryption: "none" },
          tlsStream(c, { network: "http", httpSettings: { host: ["h2.test"], path: "/h2" } }),
        ),
      ),
    native: (c) =>
      startHostV2ray(c, {
        protocol: "vless",
        settings: {
          vnext: [{ address: FAR_PROXY, port: 8443, users: [{ id: UUID, encryption: "none" }] }],
        },
        streamSettings: clientTls(c, {
          network: "http",
          httpSettings: { host: ["h2.test"], path: "/h2" },
        }),
      }),
  },
  {
    id: "trojan",
    label: "trojan (TLS)",
    outbound: (c) => ({
      outbound: {
        type: "trojan",
        server: FAR_PROXY,
        server_port: 8443,
        password: PASSWORD,
        tls: tunboxTls(c),
      },
    }),
    server: (c) =>
      startFarV2ray(
        c,
        v2rayServerConfig("trojan", { clients: [{ password: PASSWORD }] }, tlsStream(c)),
      ),
    native: (c) =>
      startHostV2ray(c, {
        protocol: "trojan",
        settings: { servers: [{ address: FAR_PROXY, port: 8443, password: PASSWORD }] },
        streamSettings: clientTls(c),
      }),
  },
  {
    id: "wireguard",
    label: "wireguard",
    outbound: (c) => ({
      endpoint: {
        type: "wireguard",
        address: ["10.99.0.2/32"],
        private_key: c.wg.clientPriv,
        peers: [{
          address: FAR_PROXY,
          port: 51820,
          public_key: c.wg.serverPub,
          allowed_ips: ["0.0.0.0/0"],
        }],
      },
    }),
    async server(c) {
      await Deno.writeTextFile(`${c.w.dir}/wg-server.key`, c.wg.serverPriv + "\n");
      c.w.spawnFar("wireguard-go server", ["wireguard-go", "-f", "wgs"]);
      await waitLink(c.w.far.exec.bind(c.w.far), "wgs");
      await mustRun(c.w.far.exec.bind(c.w.far), [
        "wg",
        "set",
        "wgs",
        "private-key",
        `${c.w.dir}/wg-server.key`,
        "listen-port",
        "51820",
        "peer",
        c.wg.clientPub,
        "allowed-ips",
        "10.99.0.2/32",
      ]);
      await c.w.far.ip("addr", "add", "10.99.0.1/24", "dev", "wgs");
      await c.w.far.ip("link", "set", "wgs", "up");
    },
    async native(c) {
      // The peer's own client: wireguard-go with an interface and a route in the host namespace.
      await Deno.writeTextFile(`${c.w.dir}/wg-client.key`, c.wg.clientPriv + "\n");
      spawnNative(c, "wireguard-go client", ["wireguard-go", "-f", "wgc"]);
      await waitLink(c.w.exec.bind(c.w), "wgc");
      await mustRun(c.w.exec.bind(c.w), [
        "wg",
        "set",
        "wgc",
        "private-key",
        `${c.w.dir}/wg-client.key`,
        "peer",
        c.wg.serverPub,
        "endpoint",
        `${FAR_PROXY}:51820`,
        "allowed-ips",
        "0.0.0.0/0",
      ]);
      await c.w.host.ip("addr", "add", "10.99.0.2/32", "dev", "wgc");
      await c.w.host.ip("link", "set", "wgc", "mtu", "1408", "up");
      await c.w.host.ip("route", "add", `${FAR.web}/32`, "dev", "wgc");
      return [];
    },
  },
];

type Exec = (cmd: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;

async function mustRun(exec: Exec, cmd: string[]): Promise<string> {
  const r = await exec(cmd);
  if (r.code !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
}

async function waitLink(exec: Exec, name: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    if ((await exec(["ip", "link", "show", name])).code === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`interface ${name} did not appear`);
}

async function local(cmd: string[], stdin?: string): Promise<string> {
  const p = new Deno.Command(cmd[0]!, {
    args: cmd.slice(1),
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const wr = p.stdin.getWriter();
    await wr.write(new TextEncoder().encode(stdin));
    await wr.close();
  }
  return new TextDecoder().decode((await p.output()).stdout).trim();
}

/**
 * Downloads `SIZE` bytes `RUNS` times; returns each run's Mbit/s and the CPU milliseconds (in
 * all, and in the kernel) that `pids` used over all runs.
 */
async function downloads(
  w: SeedWorld,
  via: string[],
  seed: number,
  pids: number[],
): Promise<{ mbps: number[]; cpuMs: number; kernelMs: number }> {
  const out: number[] = [];
  const cpu0 = await cpuMs(pids);
  for (let i = 0; i < RUNS; i++) {
    const r = await w.curl([
      ...via,
      "-o",
      "/dev/null",
      "-w",
      "%{size_download} %{speed_download}",
      `http://${FAR.web}/file?size=${SIZE}&seed=${seed}`,
    ], 600);
    const [bytes, speed] = r.stdout.split(" ").map(Number);
    if (r.code !== 0 || bytes !== SIZE) {
      throw new Error(`curl ${via.join(" ")}: exit ${r.code}, ${bytes} bytes: ${r.stderr}`);
    }
    out.push((speed! * 8) / 1e6);
  }
  const cpu1 = await cpuMs(pids);
  return { mbps: out, cpuMs: cpu1.total - cpu0.total, kernelMs: cpu1.kernel - cpu0.kernel };
}

const pct = (x: number) => `${Math.round(x * 100)}%`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Row {
  id: string;
  label: string;
  tunboxMbps: number[];
  nativeMbps: number[];
  /** Each round's tunbox / native (medians of its runs). */
  ratios: number[];
  /** The median of `ratios`. */
  ratio: number;
  /** CPU milliseconds per MB downloaded: tunbox's process, the native client's. */
  tunboxCpuMsPerMb: number;
  nativeCpuMsPerMb: number;
  /** The kernel's part (stime) of tunbox's and of the native client's CPU. */
  tunboxKernelShare: number;
  nativeKernelShare: number;
}

async function measure(p: Protocol, pki: Awaited<ReturnType<typeof makePki>>): Promise<Row> {
  const leaf = await pki.issue("proxy", ["proxy.test"], [FAR_PROXY]);
  const wg = await (async () => {
    const serverPriv = await local(["wg", "genkey"]);
    const clientPriv = await local(["wg", "genkey"]);
    return {
      serverPriv,
      clientPriv,
      serverPub: await local(["wg", "pubkey"], serverPriv + "\n"),
      clientPub: await local(["wg", "pubkey"], clientPriv + "\n"),
    };
  })();
  let ctx: Ctx | null = null;
  const partial = { cert: leaf.certPath, key: leaf.keyPath, caPem: pki.caPem, wg };
  const shape = p.outbound({
    w: undefined as unknown as SeedWorld,
    nativePids: [],
    nativeProcs: [],
    ...partial,
  });
  const w = await SeedWorld.start(STACK, "danted", [], (config) => {
    const route = config.route as {
      rules: Record<string, unknown>[];
      auto_detect_interface?: boolean;
    };
    route.auto_detect_interface = true;
    route.rules[route.rules.length - 1]!.outbound = "proxy";
    (config.log as Record<string, unknown>).level = "info";
    if (values.mtu) (config.inbounds as Record<string, unknown>[])[0]!.mtu = Number(values.mtu);
    if (shape.outbound) (config.outbounds as unknown[]).push({ tag: "proxy", ...shape.outbound });
    if (shape.endpoint) config.endpoints = [{ tag: "proxy", ...shape.endpoint }];
  }, { TUNBOX_WORKERS: String(WORKERS) });
  try {
    ctx = { w, nativePids: [], nativeProcs: [], ...partial };
    await p.server(ctx);
    const tunbox: number[] = [], native: number[] = [], ratios: number[] = [];
    const cpu = { tunbox: 0, tunboxKernel: 0, native: 0, nativeKernel: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      if (round > 0) await w.startTunbox();
      // Warm up (first connection, handshakes, the JIT), then measure through the TUN.
      await downloads(w, [], 1, []).catch(() => {});
      const t = await downloads(w, [], 2, [w.tunbox!.pid]);
      await w.stopTunbox();
      ctx.nativePids = [];
      ctx.nativeProcs = [];
      const via = await p.native(ctx);
      await downloads(w, via, 1, []).catch(() => {});
      const n = await downloads(w, via, 2, ctx.nativePids);
      // The next round's tunbox must not find the native client (WireGuard's route) in place.
      for (const proc of ctx.nativeProcs) await proc.stop("SIGTERM", 5000).catch(() => {});
      tunbox.push(...t.mbps);
      native.push(...n.mbps);
      ratios.push(median(t.mbps) / median(n.mbps));
      cpu.tunbox += t.cpuMs;
      cpu.tunboxKernel += t.kernelMs;
      cpu.native += n.cpuMs;
      cpu.nativeKernel += n.kernelMs;
    }
    const mb = SIZE_MB * RUNS * ROUNDS;
    return {
      id: p.id,
      label: p.label,
      tunboxMbps: tunbox,
      nativeMbps: native,
      ratios,
      ratio: median(ratios),
      tunboxCpuMsPerMb: cpu.tunbox / mb,
      nativeCpuMsPerMb: cpu.native / mb,
      tunboxKernelShare: cpu.tunbox > 0 ? cpu.tunboxKernel / cpu.tunbox : 0,
      nativeKernelShare: cpu.native > 0 ? cpu.nativeKernel / cpu.native : 0,
    };
  } finally {
    await w.close();
  }
}

if (import.meta.main) {
  if (Deno.uid?.() !== 0) {
    console.error("protocols_bench: needs root (it builds network namespaces)");
    Deno.exit(2);
  }
  const only = values.only ? new Set(values.only.split(",")) : null;
  // `direct` is a diagnostic (the TUN path's own cost): only when asked for by name.
  const selected = PROTOCOLS.filter((p) => only ? only.has(p.id) : p.id !== "direct");
  const load = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
  console.log(`» ${selected.length} protocols, ${SIZE_MB} MB x ${RUNS}, load average ${load}`);
  const pki = await makePki();
  const rows: Row[] = [];
  try {
    for (const p of selected) {
      console.log(`» ${p.label}`);
      try {
        rows.push(await measure(p, pki));
        const r = rows[rows.length - 1]!;
        console.log(
          `  tunbox ${median(r.tunboxMbps).toFixed(0)} Mbit/s, native ${
            median(r.nativeMbps).toFixed(0)
          } Mbit/s, ratio ${r.ratio.toFixed(2)} (rounds ${
            r.ratios.map((x) => x.toFixed(2)).join(", ")
          }); CPU ms/MB tunbox ${r.tunboxCpuMsPerMb.toFixed(2)} (${
            pct(r.tunboxKernelShare)
          } kernel), native client ${r.nativeCpuMsPerMb.toFixed(2)} (${
            pct(r.nativeKernelShare)
          } kernel)`,
        );
      } catch (error) {
        console.log(`  failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  } finally {
    await pki.remove();
  }
  const md = [
    `# Proxy protocols: tunbox through the TUN vs the protocol's own client`,
    "",
    `${SIZE_MB} MB downloads with curl, ${ROUNDS} round(s) of ${RUNS} through tunbox then ${RUNS} through the native client; Mbit/s: median of all runs; ratio: median of the rounds' ratios; tunbox with ${WORKERS} packet worker(s), stack ${STACK}, TUN MTU ${
      values.mtu ?? "default"
    }; load average at start ${load}.`,
    "",
    "| protocol | tunbox (Mbit/s) | native client (Mbit/s) | tunbox / native | rounds | tunbox CPU ms/MB (kernel) | native CPU ms/MB (kernel) |",
    "| --- | ---: | ---: | ---: | --- | ---: | ---: |",
    ...rows.map((r) =>
      `| ${r.label} | ${median(r.tunboxMbps).toFixed(0)} | ${median(r.nativeMbps).toFixed(0)} | ${
        r.ratio.toFixed(2)
      } | ${r.ratios.map((x) => x.toFixed(2)).join(", ")} | ${r.tunboxCpuMsPerMb.toFixed(2)} (${
        pct(r.tunboxKernelShare)
      }) | ${r.nativeCpuMsPerMb.toFixed(2)} (${pct(r.nativeKernelShare)}) |`
    ),
    "",
  ].join("\n");
  console.log("\n" + md);
  if (!values.smoke) {
    const stamp = new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
    await Deno.mkdir(values.out!, { recursive: true });
    const base = `${values.out}protocols-${stamp}`;
    await Deno.writeTextFile(`${base}.md`, md);
    await Deno.writeTextFile(
      `${base}.json`,
      JSON.stringify(
        { sizeMb: SIZE_MB, runs: RUNS, rounds: ROUNDS, stack: STACK, load, rows },
        null,
        2,
      ) +
        "\n",
    );
    // Laid out as `deno task check` wants results in the tree (aligned table columns).
    await new Deno.Command(Deno.execPath(), { args: ["fmt", "-q", `${base}.md`, `${base}.json`] })
      .output();
  }
  if (rows.length < selected.length) Deno.exit(1);
}
