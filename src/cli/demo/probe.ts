/**
 * `tunbox demo probe` (internal): prints, as one JSON line, what this process sees of its
 * network namespace: the main thread's and a new Worker's namespace inodes, the interface
 * names (rtnetlink dump), and whether a TCP listener could bind each `--listen` address.
 * Tests use it to check that `--netns` puts a process (and its Workers) in a namespace.
 *
 * @module
 */

import { RtNetlink } from "../../platform/linux/rtnetlink/mod.ts";
import { threadNetnsInode } from "../../platform/linux/netns.ts";

/** What the probe prints. */
export interface ProbeReport {
  mainInode: number;
  workerInode: number;
  links: string[];
  /** Address → "ok" or the error message. */
  listen: Record<string, string>;
}

async function workerInode(): Promise<number> {
  const worker = new Worker(new URL("./probe_worker.ts", import.meta.url), { type: "module" });
  try {
    return await new Promise<number>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<number>) => resolve(e.data);
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(e.message));
      };
    });
  } finally {
    worker.terminate();
  }
}

/** Runs the probe and prints its report. */
export async function probeCommand(args: string[]): Promise<number> {
  const listen: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    if (args[i] !== "--listen" || args[i + 1] === undefined) continue;
    const addr = args[++i]!;
    try {
      const l = Deno.listen({ hostname: addr, port: 0 });
      l.close();
      listen[addr] = "ok";
    } catch (e) {
      listen[addr] = e instanceof Error ? e.message : String(e);
    }
  }
  const nl = new RtNetlink();
  let links: string[];
  try {
    links = nl.listLinks().map((l) => l.name).sort();
  } finally {
    nl.close();
  }
  const report: ProbeReport = {
    mainInode: threadNetnsInode(),
    workerInode: await workerInode(),
    links,
    listen,
  };
  console.log(JSON.stringify(report));
  return 0;
}
