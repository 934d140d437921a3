/**
 * `deno task demo` end to end (issue 7): it must pass, print its report, and leave nothing
 * behind: no namespace (named, mounted or held by a process), no interface in this
 * namespace, no process. A second run is interrupted with SIGINT and must clean up too.
 *
 * Other test files may run at the same time and make their own `tb-*` namespaces (named,
 * with processes in them), so those are left out of the before/after comparisons; the
 * namespaces the demo's children were seen in during the run are checked one by one.
 */

import assert from "node:assert/strict";
import { CAN_RUN_E2E } from "./_world.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const decoder = new TextDecoder();
/** This test's own network namespace. */
const HERE = CAN_RUN_E2E ? Deno.statSync("/proc/thread-self/ns/net").ino! : 0;

/** Inodes of the test helpers' named namespaces (`/run/netns/tb-*`). */
function testNamespaceInodes(): Set<number> {
  const out = new Set<number>();
  try {
    for (const e of Deno.readDirSync("/run/netns")) {
      if (!e.name.startsWith("tb-")) continue;
      try {
        out.add(Deno.statSync(`/run/netns/${e.name}`).ino!);
      } catch { /* deleted meanwhile */ }
    }
  } catch { /* no /run/netns */ }
  return out;
}

function readText(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return null;
  }
}

/**
 * Whether a process still runs. An exited child whose parent was killed may stay a zombie
 * where PID 1 does not reap (some containers and VMs): it holds no namespace and no fd.
 */
function alive(pid: string): boolean {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === null) return false;
  return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
}

function pids(): string[] {
  return [...Deno.readDirSync("/proc")].map((e) => e.name).filter((n) => /^\d+$/.test(n));
}

function parentOf(pid: string): string | null {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === null) return null;
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1] ?? null;
}

/** Adds every live descendant of `root` to `into` (processes this test started). */
function addDescendants(root: string, into: Set<string>): void {
  into.add(root);
  const parents = new Map<string, string>();
  for (const pid of pids()) {
    const pp = parentOf(pid);
    if (pp !== null) parents.set(pid, pp);
  }
  for (const pid of parents.keys()) {
    for (let p: string | undefined = pid; p !== undefined && p !== "0"; p = parents.get(p)) {
      if (p === root) {
        into.add(pid);
        break;
      }
    }
  }
}

/**
 * The demo's children (tunbox started with `--parent <pid> --netns /proc/<pid>/fd/<n>`; other
 * tests' `--netns` probes have no `--parent`): pid → namespace inode.
 */
function demoChildren(ours: ReadonlySet<string>, evenUnswitched = false): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of pids()) {
    const args = readText(`/proc/${pid}/cmdline`)?.split("\0") ?? [];
    const parent = args[args.indexOf("--parent") + 1];
    const ns = args[args.indexOf("--netns") + 1];
    if (!args.includes("--parent") || !ns?.startsWith(`/proc/${parent}/fd/`)) continue;
    // Only this test's demo: other tests (or sessions) may run a demo at the same time.
    if (parent === undefined || !ours.has(parent)) continue;
    try {
      const ino = Deno.statSync(`/proc/${pid}/ns/net`).ino!;
      // A child that has not switched yet is still here; it is recorded once it has.
      if (ino !== HERE || evenUnswitched) out.set(pid, ino);
    } catch { /* exited */ }
  }
  return out;
}

interface World {
  named: string[];
  nsfsMounts: string[];
  inodes: Set<number>;
  links: string[];
}

async function ip(...args: string[]): Promise<string> {
  const out = await new Deno.Command("ip", { args, stdout: "piped", stderr: "null" }).output();
  return decoder.decode(out.stdout);
}

async function world(): Promise<World> {
  const mine = testNamespaceInodes();
  const inodes = new Set<number>();
  for (const pid of pids()) {
    try {
      const ino = Deno.statSync(`/proc/${pid}/ns/net`).ino!;
      if (!mine.has(ino)) inodes.add(ino);
    } catch { /* exited */ }
  }
  const named = (await ip("netns", "list")).split("\n").map((l) => l.split(" ")[0]!)
    .filter((n) => n !== "" && !n.startsWith("tb-")).sort();
  const nsfsMounts = (readText("/proc/self/mountinfo") ?? "").split("\n")
    .filter((l) => / - nsfs /.test(l) && !/\/tb-/.test(l)).sort();
  const links = (await ip("-o", "link", "show")).split("\n").filter((l) => l !== "")
    .map((l) => l.split(":").slice(0, 2).join(":").trim()).sort();
  return { named, nsfsMounts, inodes, links };
}

/** Every namespace inode some process is in or holds an fd to. */
function heldInodes(): Set<number> {
  const out = new Set<number>();
  for (const pid of pids()) {
    try {
      out.add(Deno.statSync(`/proc/${pid}/ns/net`).ino!);
    } catch { /* exited */ }
    try {
      for (const fd of Deno.readDirSync(`/proc/${pid}/fd`)) {
        const m = /^net:\[(\d+)\]$/.exec(readLink(`/proc/${pid}/fd/${fd.name}`));
        if (m) out.add(Number(m[1]));
      }
    } catch { /* exited */ }
  }
  return out;
}

function readLink(path: string): string {
  try {
    return Deno.readLinkSync(path);
  } catch {
    return "";
  }
}

/** Runs `cmd`, watching for the demo's children while it runs. */
async function runWatched(
  cmd: string[],
  onOutput?: (stdout: string, child: Deno.ChildProcess) => void,
) {
  const child = new Deno.Command(cmd[0]!, {
    args: cmd.slice(1),
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stdout = "";
  let stderr = "";
  const seen = new Map<string, number>();
  const ours = new Set<string>();
  const look = () => {
    addDescendants(String(child.pid), ours);
    for (const [pid, ino] of demoChildren(ours)) seen.set(pid, ino);
  };
  const read = async (s: ReadableStream<Uint8Array>, into: "out" | "err") => {
    const d = new TextDecoder();
    for await (const c of s) {
      if (into === "out") {
        stdout += d.decode(c, { stream: true });
        // The callback may kill the demo: children that started since the last look count too.
        if (onOutput) look();
        onOutput?.(stdout, child);
      } else stderr += d.decode(c, { stream: true });
    }
  };
  const reading = Promise.all([read(child.stdout, "out"), read(child.stderr, "err")]);
  let done = false;
  const status = child.status.finally(() => done = true);
  while (!done) {
    look();
    await new Promise((r) => setTimeout(r, 100));
  }
  await reading;
  return { status: await status, stdout, stderr, seen, ours };
}

async function assertNothingLeft(
  before: World,
  seen: Map<string, number>,
  ours: ReadonlySet<string>,
): Promise<void> {
  const after = await world();
  assert.deepEqual(after.named, before.named, "ip netns list");
  assert.deepEqual(after.nsfsMounts, before.nsfsMounts, "nsfs mounts");
  assert.deepEqual(after.links, before.links, "interfaces in this namespace");
  const added = [...after.inodes].filter((i) => !before.inodes.has(i));
  const demoInodes = new Set(seen.values());
  assert.deepEqual(added.filter((i) => demoInodes.has(i)), [], "namespaces the demo used");
  const held = heldInodes();
  for (const ino of demoInodes) assert.ok(!held.has(ino), `namespace ${ino} is still held`);
  for (const pid of seen.keys()) assert.ok(!alive(pid), `process ${pid} still runs`);
  const left = [...demoChildren(ours, true).keys()].filter(alive);
  assert.deepEqual(left, [], "no demo child left");
}

Deno.test({
  name: "`deno task demo` passes, reports, and leaves no namespace, device or process",
  ignore: !CAN_RUN_E2E,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const before = await world();
    const started = performance.now();
    const r = await runWatched([Deno.execPath(), "task", "demo"]);
    const seconds = (performance.now() - started) / 1000;
    const out = r.stdout;
    assert.equal(r.status.code, 0, `${out}\n${r.stderr}`);
    // How long it took is reported, not asserted: a timed test fails on a busy machine.
    console.log(`      the demo took ${seconds.toFixed(1)} s`);
    assert.match(out, /^TUN device: tun\d+ {2}198\.18\.0\.1\/30 {2}mtu \d+$/m);
    assert.match(
      out,
      /^Policy rules tunbox installed \(ip rule\):\n {2}9000: from all to 198\.18\.0\.0\/30 lookup 2022$/m,
    );
    assert.match(
      out,
      /^Routes tunbox installed \(ip route show table 2022\):\n {2}default .*dev tun\d+$/m,
    );
    assert.match(
      out,
      /^ {2}ok {4}DNS over UDP: demo\.tunbox\.test A @203\.0\.113\.53: answer 203\.0\.113\.10 /m,
    );
    assert.match(
      out,
      /^ {2}ok {4}HTTP fetch of 4 MiB from 203\.0\.113\.10: SHA-256 [0-9a-f]{16}… matches/m,
    );
    assert.match(out, /^ {2}ok {4}Direct rule: .*saw 10\.200\.0\.1 /m);
    assert.match(out, /^ {2}ok {4}Throughput: 3 s download .*: [\d.]+ Mbit\/s$/m);
    assert.doesNotMatch(out, /FAIL/);
    // One connection per check, with the rule and outbound tunbox chose.
    assert.match(out, /^ {2}udp +198\.18\.0\.1:\d+ +203\.0\.113\.53:53 +final +proxy .* dns$/m);
    assert.match(
      out,
      /^ {2}tcp +198\.18\.0\.1:\d+ +203\.0\.113\.10:80 +final +proxy .*MiB +http$/m,
    );
    assert.match(
      out,
      /^ {2}tcp +198\.18\.0\.1:\d+ +203\.0\.113\.20:80 +ip_cidr=203\.0\.113\.20\/32 => route\(direct\) +direct .* direct$/m,
    );
    assert.match(
      out,
      /^ {2}tcp +198\.18\.0\.1:\d+ +203\.0\.113\.10:80 +final +proxy .* throughput$/m,
    );
    // The default route moves to the second uplink; new direct connections follow within 2 s.
    assert.match(
      out,
      /^Network change \(as a Wi-Fi switch does\): default route moved from to-far to to-far-2\n {2}ok {4}tunbox logged "network changed: default interface to-far -> to-far-2"\n {2}ok {4}new direct connections leave from 10\.201\.0\.1 \(to-far-2\) \d+ ms after the move \(before: 10\.200\.0\.1\)$/m,
    );
    assert.match(out, /^demo passed \([\d.]+ s\)$/m);
    assert.match(
      out,
      /^cleanup: 5 processes ended, 2 namespaces released, root namespace unchanged \(\d+ interfaces\)$/m,
    );
    // Five children, in two namespaces, none of them this one.
    assert.equal(r.seen.size, 5, `children seen: ${[...r.seen.keys()]}`);
    assert.equal(new Set(r.seen.values()).size, 2);
    await assertNothingLeft(before, r.seen, r.ours);
  },
});

Deno.test({
  name: "the demo interrupted with SIGINT removes everything and exits 130",
  ignore: !CAN_RUN_E2E,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const before = await world();
    let sent = false;
    const r = await runWatched(
      [Deno.execPath(), "run", "-A", `${ROOT}main.ts`, "demo"],
      (stdout, child) => {
        // Interrupt while tunbox runs and the traffic is under way.
        if (!sent && stdout.includes("Routes tunbox installed")) {
          sent = true;
          setTimeout(() => child.kill("SIGINT"), 300);
        }
      },
    );
    assert.ok(sent, r.stdout);
    assert.equal(r.status.code, 130, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^interrupted: removing everything the demo made$/m);
    assert.match(r.stdout, /^cleanup: 4 processes ended, 2 namespaces released/m);
    assert.match(r.stdout, /^demo interrupted$/m);
    assert.doesNotMatch(r.stdout, /^demo passed/m);
    await assertNothingLeft(before, r.seen, r.ours);
  },
});

Deno.test({
  name: "the demo killed with SIGKILL takes its children and namespaces with it",
  ignore: !CAN_RUN_E2E,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const before = await world();
    let sent = false;
    const r = await runWatched(
      [Deno.execPath(), "run", "-A", `${ROOT}main.ts`, "demo"],
      (stdout, child) => {
        if (!sent && stdout.includes("Routes tunbox installed")) {
          sent = true;
          child.kill("SIGKILL");
        }
      },
    );
    assert.ok(sent, r.stdout);
    assert.equal(r.status.signal, "SIGKILL");
    // far services, SOCKS server and tunbox were running (the client may not have started).
    assert.ok(r.seen.size >= 3, `children seen: ${[...r.seen.keys()]}`);
    // The kernel sends each child SIGTERM (PR_SET_PDEATHSIG); tunbox stops within seconds on an
    // idle machine. 60 s only bounds a hang (it took over 15 s at load 20).
    const deadline = Date.now() + 60_000;
    while ([...demoChildren(r.ours, true).keys()].some(alive) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    await assertNothingLeft(before, r.seen, r.ours);
  },
});
