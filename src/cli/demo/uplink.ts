/**
 * `tunbox demo uplink` (internal): watches which uplink new direct connections leave from
 * while the demo moves the default route. Inside the client namespace it fetches
 * `http://<direct server>/ip` (the far side answers with the source address it saw; a rule
 * sends that server `direct`), prints `ready <source>` once, then keeps fetching with a fresh
 * connection every 50 ms until the source is `--expect` or `--limit-ms` passed, and prints one
 * JSON {@linkcode UplinkReport} line.
 *
 * @module
 */

import { httpGet } from "./http_get.ts";
import { TOPOLOGY } from "./topology.ts";

/** What the uplink watcher prints. */
export interface UplinkReport {
  /** The source address before the change. */
  before: string;
  /** The last source address seen (the expected one on success). */
  after: string;
  /** Epoch ms when `after` was first seen (0 when it never was). */
  at: number;
  /** Fetches that failed while watching. */
  failures: number;
}

async function source(): Promise<string> {
  const r = await httpGet(TOPOLOGY.directServer, 80, "/ip", { keepBody: true, timeoutMs: 1500 });
  return new TextDecoder().decode(r.body ?? new Uint8Array());
}

/** Runs the watcher (see the module doc). */
export async function uplinkCommand(args: string[]): Promise<number> {
  const arg = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const expect = arg("--expect") ?? TOPOLOGY.clientDirect2;
  const limitMs = Number(arg("--limit-ms") ?? "10000");
  const before = await source();
  console.log(`ready ${before}`);
  const report: UplinkReport = { before, after: before, at: 0, failures: 0 };
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    try {
      report.after = await source();
      if (report.after === expect) {
        report.at = Date.now();
        break;
      }
    } catch {
      report.failures++;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  console.log(JSON.stringify(report));
  return report.at > 0 ? 0 : 1;
}
