/**
 * Where an idle tunbox's memory goes: starts `tunbox run` (a TUN inbound, auto_route) in a
 * network namespace of its own for each variant (worker count, V8 flags), waits until it is
 * idle, and reads `/proc/<pid>/status` (VmRSS split into anonymous, file-backed and shared) and
 * the thread count. With `--isolates` a child process (no namespace) loads tunbox's main-thread
 * modules and starts Workers that load the packet worker's modules, reading VmRSS around each
 * and `Deno.memoryUsage()` inside each isolate after a full GC, so the V8 heap of each isolate is
 * separated from the rest; a last row loads the packet worker's graph into the main isolate too,
 * which is what one isolate instead of two would cost. With `--smaps` each variant also prints its
 * resident memory by mapping (`/proc/<pid>/smaps`: the executable's code and data, glibc's main
 * arena, anonymous mappings).
 *
 * ```sh
 * deno run -A bench/memory_breakdown.ts                           # 1 and 2 workers, default flags
 * deno run -A bench/memory_breakdown.ts --workers 1,2 --isolates
 * deno run -A bench/memory_breakdown.ts --flags= --flags=--max-semi-space-size=1
 * deno run -A bench/memory_breakdown.ts --workers 1 --smaps
 * ```
 *
 * Needs root (namespaces). Prints a markdown table.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Netns, run, tail } from "./e2e/netns.ts";
import { TUN_NAME, tunboxConfig } from "./e2e/tunbox.ts";
import { TUNBOX_DENO_FLAGS, TUNBOX_V8_FLAGS } from "../src/service/permissions.ts";

const repoRoot = new URL("../", import.meta.url).pathname.replace(/\/$/, "");

/** VmRSS and its parts, KiB, from `/proc/<pid>/status`. */
export interface StatusMemory {
  rss: number;
  anon: number;
  file: number;
  shmem: number;
  threads: number;
}

/** Reads the memory lines of a `/proc/<pid>/status` text. */
export function parseStatusMemory(text: string): StatusMemory {
  const kib = (key: string): number =>
    Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(text)?.[1]);
  return {
    rss: kib("VmRSS"),
    anon: kib("RssAnon"),
    file: kib("RssFile"),
    shmem: kib("RssShmem"),
    threads: kib("Threads"),
  };
}

/** Resident memory of the mappings with one name and permissions, KiB. */
export interface MappingGroup {
  /** The mapped file, `[heap]`, `[stack]`, or `[anon]` for a nameless mapping. */
  name: string;
  /** `r-xp`, `r--p`, `rw-p`, ... */
  perms: string;
  rss: number;
  anonymous: number;
  mappings: number;
}

/**
 * Sums a `/proc/<pid>/smaps` text by mapping name and permissions, largest `Rss` first.
 *
 * @example
 * ```ts
 * const groups = groupSmaps(Deno.readTextFileSync("/proc/self/smaps"));
 * console.log(groups[0]); // e.g. { name: "/usr/bin/deno", perms: "r-xp", rss: 29900, ... }
 * ```
 */
export function groupSmaps(text: string): MappingGroup[] {
  const groups = new Map<string, MappingGroup>();
  let cur: MappingGroup | undefined;
  for (const line of text.split("\n")) {
    const head = /^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const name = head[2] || "[anon]", perms = head[1]!;
      const key = `${name} ${perms}`;
      cur = groups.get(key);
      if (!cur) groups.set(key, cur = { name, perms, rss: 0, anonymous: 0, mappings: 0 });
      cur.mappings++;
      continue;
    }
    const field = /^(Rss|Anonymous):\s+(\d+) kB/.exec(line);
    if (!field || !cur) continue;
    if (field[1] === "Rss") cur.rss += Number(field[2]);
    else cur.anonymous += Number(field[2]);
  }
  return [...groups.values()].sort((a, b) => b.rss - a.rss);
}

/** One isolate's figures after a full GC, MiB; `rssDelta` is the process VmRSS it added. */
export interface IsolateMemory {
  what: string;
  rssDelta: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
}

const rssMiB = (): number =>
  parseStatusMemory(Deno.readTextFileSync("/proc/self/status")).rss / 1024;
const toMiB = (b: number): number => b / 1048576;

/**
 * Child process (run with `--v8-flags=--expose-gc,...`): loads what tunbox's main thread loads,
 * then starts an empty Worker and two Workers that load the packet worker's module graph
 * (`src/worker/entry.ts`), reading VmRSS around each and `Deno.memoryUsage()` inside each isolate
 * after a full GC. Prints one JSON line.
 */
async function isolateProbe(): Promise<void> {
  const gc = (globalThis as unknown as { gc: () => void }).gc;
  const out: IsolateMemory[] = [];
  const mu = (what: string, rssDelta: number, m: Deno.MemoryUsage) =>
    out.push({
      what,
      rssDelta,
      heapUsed: toMiB(m.heapUsed),
      heapTotal: toMiB(m.heapTotal),
      external: toMiB(m.external),
    });
  gc();
  const bare = rssMiB();
  mu("main isolate, runtime only", bare, Deno.memoryUsage());
  await import("../main.ts");
  await import("../src/box.ts");
  gc();
  mu("main isolate + tunbox's main-thread modules", rssMiB() - bare, Deno.memoryUsage());
  const body = `const load = ${
    JSON.stringify(new URL("../src/worker/entry.ts", import.meta.url).href)
  };
if (self.name !== "empty") await import(load);
setTimeout(() => { globalThis.gc(); self.postMessage({ probe: Deno.memoryUsage() }); }, 1500);`;
  const url = `data:application/javascript,${encodeURIComponent(body)}`;
  for (const name of ["empty", "packet worker", "packet worker"]) {
    const before = rssMiB();
    const w = new Worker(url, { type: "module", name });
    const m = await new Promise<Deno.MemoryUsage>((ok) => {
      w.onmessage = (e: MessageEvent) => {
        if (e.data?.probe) ok(e.data.probe);
      };
    });
    await new Promise((r) => setTimeout(r, 300));
    mu(
      name === "empty" ? "Worker, empty module" : "Worker + src/worker/entry.ts graph",
      rssMiB() - before,
      m,
    );
  }
  // The packet worker's graph in the main isolate too: one isolate instead of two.
  const before = rssMiB();
  await import("../src/worker/entry.ts");
  await import("../src/tun/engine.ts");
  gc();
  await new Promise((r) => setTimeout(r, 300));
  gc();
  mu("main isolate + src/worker/entry.ts graph too", rssMiB() - before, Deno.memoryUsage());
  console.log(JSON.stringify(out));
  Deno.exit(0);
}

interface Variant {
  workers: number;
  flags: string;
}

interface Reading {
  variant: Variant;
  mem?: StatusMemory;
  smaps?: MappingGroup[];
  error?: string;
}

async function measure(v: Variant, settleMs: number, smaps: boolean): Promise<Reading> {
  const ns = new Netns(`tb-mem-${crypto.randomUUID().slice(0, 6)}`);
  const dir = await Deno.makeTempDir({ prefix: "tb-mem-" });
  try {
    await ns.create();
    const conf = `${dir}/tunbox.json`;
    await Deno.writeTextFile(
      conf,
      JSON.stringify(tunboxConfig({ stack: "mixed", mtu: 65535, socksPort: 1080 })),
    );
    const argv = [
      "env",
      `TUNBOX_WORKERS=${v.workers}`,
      "deno",
      "run",
      "-A",
      ...TUNBOX_DENO_FLAGS,
      ...(v.flags ? [`--v8-flags=${v.flags}`] : []),
      "main.ts",
      "run",
      "-c",
      conf,
    ];
    const proc = ns.spawn("tunbox", argv, { cwd: repoRoot });
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (proc.exited) throw new Error(`tunbox exited: ${tail(proc.stderr)}`);
      if (Date.now() > deadline) throw new Error(`no ${TUN_NAME} after 60 s`);
      const link = await ns.exec(["ip", "link", "show", TUN_NAME], { allowFail: true });
      if (link.code === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, settleMs));
    const r: Reading = { variant: v };
    r.mem = parseStatusMemory(await Deno.readTextFile(`/proc/${proc.pid}/status`));
    if (smaps) r.smaps = groupSmaps(await Deno.readTextFile(`/proc/${proc.pid}/smaps`));
    await proc.stop(10_000);
    return r;
  } catch (e) {
    return { variant: v, error: e instanceof Error ? e.message : String(e) };
  } finally {
    await ns.destroy();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

const mib = (kib: number | undefined) => kib === undefined ? "–" : (kib / 1024).toFixed(1);

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      workers: { type: "string", default: "1,2" },
      flags: { type: "string", multiple: true },
      settle: { type: "string", default: "5" },
      isolates: { type: "boolean", default: false },
      smaps: { type: "boolean", default: false },
      "isolate-probe": { type: "boolean", default: false },
    },
  });
  if (values["isolate-probe"]) {
    await isolateProbe();
    return 0;
  }
  if (Deno.uid() !== 0) {
    console.error("memory_breakdown creates network namespaces and must run as root");
    return 2;
  }
  const flagSets = values.flags ?? [TUNBOX_V8_FLAGS.join(",")];
  const workers = values.workers.split(",").map(Number);
  const load = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
  const bare = await run([
    "sh",
    "-c",
    `deno eval 'setTimeout(()=>{}, 1); console.log(Deno.readTextFileSync("/proc/self/status"))'`,
  ]);
  const bareMem = parseStatusMemory(bare.stdout);
  console.log(`load average ${load}; Deno ${Deno.version.deno}`);
  console.log(
    `bare \`deno eval\`: VmRSS ${mib(bareMem.rss)} MiB (anon ${mib(bareMem.anon)}, file ${
      mib(bareMem.file)
    }), ${bareMem.threads} threads\n`,
  );
  const byMapping: { label: string; groups: MappingGroup[] }[] = [];
  console.log("| workers | V8 flags | VmRSS MiB | anon | file | shmem | threads |");
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
  for (const flags of flagSets) {
    for (const w of workers) {
      const r = await measure({ workers: w, flags }, Number(values.settle) * 1000, values.smaps);
      if (r.smaps) {
        byMapping.push({ label: `${w} worker(s), ${flags || "(none)"}`, groups: r.smaps });
      }
      const m = r.mem;
      console.log(
        `| ${w} | ${flags || "(none)"} | ${mib(m?.rss)} | ${mib(m?.anon)} | ${mib(m?.file)} | ${
          mib(m?.shmem)
        } | ${m?.threads ?? "–"} |${r.error ? ` ${r.error}` : ""}`,
      );
    }
  }
  for (const { label, groups } of byMapping) {
    console.log(`\nResident memory by mapping, ${label} (largest 10)\n`);
    console.log("| mapping | permissions | RSS MiB | anonymous MiB | mappings |");
    console.log("| --- | --- | --- | --- | --- |");
    for (const g of groups.slice(0, 10)) {
      console.log(
        `| ${g.name} | ${g.perms} | ${mib(g.rss)} | ${mib(g.anonymous)} | ${g.mappings} |`,
      );
    }
  }
  if (values.isolates) {
    for (const flags of flagSets) {
      const out = await run([
        "deno",
        "run",
        "-A",
        "--config",
        `${repoRoot}/deno.json`,
        `--v8-flags=${["--expose-gc", ...(flags ? [flags] : [])].join(",")}`,
        `${repoRoot}/bench/memory_breakdown.ts`,
        "--isolate-probe",
      ], { allowFail: true });
      console.log(`\nPer isolate, after a full GC; V8 flags ${flags || "(none)"}\n`);
      if (out.code !== 0) {
        console.log(`probe failed: ${tail(out.stderr)}`);
        continue;
      }
      const rows = JSON.parse(out.stdout.trim().split("\n").pop()!) as IsolateMemory[];
      console.log("| isolate | VmRSS added MiB | heap used | heap total | external |");
      console.log("| --- | --- | --- | --- | --- |");
      for (const i of rows) {
        console.log(
          `| ${i.what} | ${i.rssDelta.toFixed(1)} | ${i.heapUsed.toFixed(1)} | ${
            i.heapTotal.toFixed(1)
          } | ${i.external.toFixed(1)} |`,
        );
      }
    }
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());
