/**
 * `tunbox import <file>`: converts a V2Ray/Xray, V2rayU, Clash/mihomo or ss-local config into a
 * commented tunbox config (`src/onboard/import.ts`); with `--tun`, adds the safe TUN setup.
 *
 * @module
 */

import { ImportError, importText, renderImport } from "../onboard/import.ts";
import { resolveServers, today } from "../onboard/resolve.ts";
import { writeConfigOutput } from "./config_output.ts";

/** What `import` was asked to do. */
export interface ImportCommandOptions {
  file: string;
  tun: boolean;
  print: boolean;
  force: boolean;
  /** The config file to write. */
  output: string;
}

/** Runs `import`. Returns the exit status. */
export async function importCommand(o: ImportCommandOptions): Promise<number> {
  let text: string;
  try {
    text = await Deno.readTextFile(o.file);
  } catch (e) {
    console.error(`tunbox import: read ${o.file} failed: ${(e as Error).message}`);
    return 1;
  }
  let imported;
  try {
    imported = importText(text);
  } catch (e) {
    if (e instanceof ImportError) {
      console.error(`tunbox import: ${o.file}: ${e.message}`);
      return 2;
    }
    throw e;
  }
  const date = today();
  let tun;
  if (o.tun) {
    const servers = await resolveServers(
      imported.servers.map((s) => ({ host: s.host, source: `outbound "${s.tag}"` })),
    );
    for (const w of servers.warnings) console.error(`tunbox import: ${w}`);
    tun = {
      os: Deno.build.os === "darwin" ? "darwin" as const : "linux" as const,
      servers: servers.servers,
      date,
    };
  }
  const out = renderImport(imported, o.file.split("/").pop() ?? o.file, date, tun);
  for (const d of imported.dropped) console.error(`tunbox import: ${d}`);
  return await writeConfigOutput(out, {
    print: o.print,
    force: o.force,
    path: o.output,
    command: "import",
  });
}
