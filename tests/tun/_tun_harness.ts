/**
 * Test harness: runs the TUN lifecycle as a process, the way `tunbox run` will.
 *
 *   deno run -A tests/tun/_tun_harness.ts '<tun inbound JSON>' [--queues N]
 *     calls setupTun(); prints `ready {"name":…,"index":…,"fds":N}` on stdout and waits;
 *     on SIGINT/SIGTERM calls close(), prints `closed` and exits 0.
 *   deno run -A tests/tun/_tun_harness.ts --cleanup '<tun inbound JSON>'
 *     runs the `cleanup` command's function and prints one `removed …` line per removal.
 *
 * On failure prints `error: <message>` on stderr and exits 1. Logs (logtape, level debug) go to
 * stderr. Run it inside a test namespace: `ip netns exec <ns> deno run -A …`.
 */

import { configure, defaultTextFormatter, type LogRecord } from "@logtape/logtape";
import { cleanup, setupTun } from "../../src/tun/setup.ts";
import { loadPlatform } from "../../src/platform/mod.ts";
import type { Options } from "../../src/config/types.ts";
import { type TunJson, tunOptionsFromJson } from "./_tun_options.ts";

const encoder = new TextEncoder();
const out = (s: string) => Deno.stdout.writeSync(encoder.encode(s + "\n"));
const err = (s: string) => Deno.stderr.writeSync(encoder.encode(s + "\n"));

await configure({
  sinks: {
    stderr: (r: LogRecord) => Deno.stderr.writeSync(encoder.encode(defaultTextFormatter(r))),
  },
  loggers: [
    { category: ["tunbox"], lowestLevel: "debug", sinks: ["stderr"] },
    { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
  ],
});

const args = [...Deno.args];
const cleanupMode = args[0] === "--cleanup";
if (cleanupMode) args.shift();
const queuesAt = args.indexOf("--queues");
const queues = queuesAt >= 0 ? Number(args.splice(queuesAt, 2)[1]) : 1;

try {
  const options = tunOptionsFromJson(JSON.parse(args[0] ?? "{}") as TunJson);
  const platform = await loadPlatform();
  if (cleanupMode) {
    const config: Options = {
      log: {},
      dns: { servers: [], rules: [] },
      inbounds: [options],
      outbounds: [],
      endpoints: [],
      services: [],
      http_clients: [],
      route: { rules: [], rule_set: [] },
      experimental: {},
    };
    for (const line of await cleanup(config, platform)) out(`removed ${line}`);
    out("done");
    Deno.exit(0);
  }
  const tun = setupTun(options, platform, queues);
  const keepAlive = setInterval(() => {}, 60_000);
  let closing = false;
  const stop = (signal: string) => {
    if (closing) return;
    closing = true;
    try {
      tun.close();
      out(`closed ${signal}`);
      clearInterval(keepAlive);
      Deno.exit(0);
    } catch (e) {
      err(`error: ${e instanceof Error ? e.message : String(e)}`);
      Deno.exit(1);
    }
  };
  Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));
  Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
  out(
    `ready ${
      JSON.stringify({ name: tun.device.name, index: tun.device.index, fds: tun.device.fds.length })
    }`,
  );
} catch (e) {
  err(`error: ${e instanceof Error ? e.message : String(e)}`);
  Deno.exit(1);
}
