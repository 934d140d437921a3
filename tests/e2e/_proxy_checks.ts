/**
 * The acceptance checks every proxy-protocol outbound runs through a real TUN (issue 14):
 * a 20 MB download with sha256 (and its connection record counting the bytes), 100 parallel
 * fetches, DNS over UDP with dig, iperf3 for 10 s each way. The world is `_world.ts`'s seed
 * scenario with the final rule pointed at the outbound under test and its server in the far
 * namespace at {@linkcode FAR_PROXY}.
 */

import assert from "node:assert/strict";
import { payload, sha256Hex } from "./_payload.ts";
import { FAR, type Proc, SeedWorld, type Stack } from "./_world.ts";

/** The far namespace's veth address: proxy servers listen here. */
export const FAR_PROXY = "10.200.0.254";
const SIZE = 20 * 1024 * 1024;

/**
 * Starts the seed world with `outbounds` added, the final rule sent to the outbound tagged
 * `proxy`, `extraRules` before it, and the host's own dials bound to the default interface
 * (`auto_detect_interface`, as a user with a remote server configures it).
 */
export function startProxyWorld(
  outbounds: Record<string, unknown>[],
  extraRules: unknown[] = [],
  stack: Stack = "mixed",
  endpoints: Record<string, unknown>[] = [],
): Promise<SeedWorld> {
  return SeedWorld.start(stack, "danted", extraRules, (config) => {
    (config.outbounds as unknown[]).push(...outbounds);
    if (endpoints.length > 0) config.endpoints = endpoints;
    const route = config.route as {
      rules: Record<string, unknown>[];
      auto_detect_interface?: boolean;
    };
    route.auto_detect_interface = true;
    const final = route.rules[route.rules.length - 1]!;
    final.outbound = "proxy";
  });
}

/** Waits until `addr:port` accepts TCP connections from the host namespace. */
export async function waitForPort(w: SeedWorld, addr: string, port: number, proc: Proc) {
  const start = Date.now();
  while (Date.now() - start < 10_000) {
    const r = await w.far.exec(["bash", "-c", `exec 3<>/dev/tcp/${addr}/${port}`]);
    if (r.code === 0) return;
    if (!proc.running) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${proc.name} did not listen on ${addr}:${port}:\n${proc.stderr.slice(-2000)}`);
}

/** 20 MB through the TUN and the proxy, sha256 matching; returns the far side's view of us. */
export async function download20MB(w: SeedWorld, seed: number): Promise<string> {
  const out = `${w.dir}/download-${seed}.bin`;
  const r = await w.curl([
    "-o",
    out,
    "-w",
    "%{http_code}",
    `http://${FAR.web}/file?size=${SIZE}&seed=${seed}`,
  ], 120);
  assert.equal(r.code, 0, r.stderr + w.tunbox!.stderr.slice(-3000));
  assert.equal(r.stdout, "200");
  const got = await Deno.readFile(out);
  assert.equal(got.length, SIZE);
  assert.equal(await sha256Hex(got), await sha256Hex(payload(SIZE, seed)));
  await Deno.remove(out);
  await recordedDownload(w, SIZE);
  const ip = await w.curl([`http://${FAR.web}/ip`]);
  assert.equal(ip.code, 0, ip.stderr);
  return ip.stdout;
}

/**
 * Waits for the connection record of a download through the outbound tagged `proxy` to close
 * with at least `bytes` counted down (the records count every protocol's bytes the same way);
 * returns its byte counts.
 */
export async function recordedDownload(
  w: SeedWorld,
  bytes: number,
): Promise<{ type: string; up: number; down: number }> {
  const start = Date.now();
  for (;;) {
    const log = w.tunbox!.stdout + w.tunbox!.stderr;
    const via = new Map<string, string>();
    for (
      const m of log.matchAll(
        / (?:\S+\/)?conn: \[(\d+)\] outbound\/(\w+)\[proxy\]: outbound connection to 203\.0\.113\.10:80 /g,
      )
    ) {
      // Connection ids are unique across workers; a worker in the main isolate has no prefix.
      via.set(m[1]!, m[2]!);
    }
    for (
      const m of log.matchAll(
        / (?:\S+\/)?conn: \[(\d+)\] connection to 203\.0\.113\.10:80 closed: (\d+) B up, (\d+) B down/g,
      )
    ) {
      const type = via.get(m[1]!);
      const up = Number(m[2]), down = Number(m[3]);
      if (type && down >= bytes) {
        assert.ok(up > 0, `the record counts the request (${up} B up)`);
        return { type, up, down };
      }
    }
    if (Date.now() - start > 10_000) {
      assert.fail(`no record of a ${bytes}-byte download through "proxy":\n${log.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** 100 parallel fetches of 64 KiB, each answered in full. */
export async function parallelFetches(w: SeedWorld): Promise<void> {
  const urls = Array.from(
    { length: 100 },
    (_, i) => `http://${FAR.web}/file?size=65536&seed=${i + 1}`,
  );
  const r = await w.curl([
    "--parallel",
    "--parallel-max",
    "100",
    "-w",
    "%{http_code} %{size_download}\\n",
    ...urls.flatMap((u) => ["-o", "/dev/null", u]),
  ], 90);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.equal(lines.length, 100);
  for (const l of lines) assert.equal(l, "200 65536");
}

/** dig over UDP to the far DNS server through the proxy. */
export async function digUdp(w: SeedWorld, name: string): Promise<void> {
  const r = await w.exec(["dig", `@${FAR.dns}`, "+time=3", "+tries=3", "+short", name, "A"]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.stdout.trim(), FAR.web, r.stdout + r.stderr);
}

/** iperf3 for `seconds` each way against the far side; returns Gbit/s up and down. */
export async function iperf3Both(
  w: SeedWorld,
  seconds = 10,
): Promise<{ up: number; down: number }> {
  const run = async (reverse: boolean) => {
    const args = ["iperf3", "-c", FAR.web, "-t", String(seconds), "-J", ...(reverse ? ["-R"] : [])];
    const r = await w.exec(args);
    assert.equal(r.code, 0, r.stdout.slice(-2000) + r.stderr);
    const bps = JSON.parse(r.stdout).end.sum_received.bits_per_second as number;
    assert.ok(bps > 0, "iperf3 moved data");
    return bps / 1e9;
  };
  return { up: await run(false), down: await run(true) };
}

/** Starts iperf3's server in the far namespace. */
export async function startIperfServer(w: SeedWorld): Promise<Proc> {
  const p = w.spawnFar("iperf3", ["iperf3", "-s", "-B", FAR.web, "--forceflush"]);
  await p.waitFor(/Server listening/);
  return p;
}
