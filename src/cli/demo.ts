/**
 * `tunbox demo`: the namespace demo (`demo/run.ts`). Its internal parts run as
 * `tunbox demo far|client|probe|uplink` inside the demo's namespaces and are not meant to be run
 * by hand.
 *
 * @module
 */

import { clientCommand } from "./demo/client.ts";
import { farCommand } from "./demo/far.ts";
import { probeCommand } from "./demo/probe.ts";
import { runDemo } from "./demo/run.ts";
import { uplinkCommand } from "./demo/uplink.ts";

/** Help for `tunbox demo`. */
export const DEMO_HELP = [
  "Run the namespace demo: tunbox and a SOCKS5 server in throwaway network namespaces,",
  "real traffic through the TUN, a report, then everything removed. Linux, as root.",
  "",
  "Usage: tunbox demo",
].join("\n");

/**
 * Runs `tunbox demo ...` when `args` start with `demo`; returns the exit status, or
 * undefined for any other command line.
 */
export async function demoDispatch(args: readonly string[]): Promise<number | undefined> {
  if (args[0] !== "demo") return undefined;
  const [, sub, ...rest] = args;
  switch (sub) {
    case undefined:
      return await runDemo();
    case "far":
      return await farCommand(rest);
    case "client":
      return await clientCommand(rest);
    case "probe":
      return await probeCommand(rest);
    case "uplink":
      return await uplinkCommand(rest);
    case "-h":
    case "--help":
      console.log(DEMO_HELP);
      return 0;
  }
  console.error(`tunbox: unknown argument ${JSON.stringify(sub)} for "demo"`);
  console.error('Run "tunbox demo --help" for usage.');
  return 2;
}
