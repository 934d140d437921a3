/**
 * The CLI: parse the command line, apply global flags, dispatch to a command. Exit status: 0
 * success, 1 runtime failure, 2 usage or configuration error.
 *
 * @module
 */

import { commandHelp, mainHelp, parseCommandLine, UsageError } from "./args.ts";
import { checkCommand } from "./check.ts";
import { connectionsCommand } from "./connections.ts";
import { demoDispatch } from "./demo.ts";
import { cleanupCommand } from "./cleanup.ts";
import { formatCommand } from "./format.ts";
import { doctorCommand } from "./doctor.ts";
import { explainCommand } from "./explain.ts";
import { importCommand } from "./import.ts";
import { initCommand } from "./init.ts";
import { mergeCommand } from "./merge.ts";
import { useColor } from "./output.ts";
import { runCommand } from "./run.ts";
import { RULE_SET_USAGE, ruleSetCommand } from "./rule_set.ts";
import { serviceCommand } from "./service.ts";
import { versionCommand } from "./version.ts";
import { loadConfig, sourcesFromFlags } from "../config/load.ts";
import { configureLogging } from "../log/mod.ts";
import { printDiagnostics } from "./output.ts";

/** Exit statuses. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Changes to `dir`, creating it first if missing (sing-box `-D`). */
async function enterDirectory(dir: string): Promise<void> {
  try {
    await Deno.stat(dir);
  } catch {
    await Deno.mkdir(dir, { recursive: true });
  }
  Deno.chdir(dir);
}

/** Runs the CLI with `args` (without the program name) and returns the exit status. */
export async function main(args: readonly string[]): Promise<number> {
  const demo = await demoDispatch(args);
  if (demo !== undefined) return demo;
  let cl;
  try {
    cl = parseCommandLine(args);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`tunbox: ${e.message}`);
      console.error('Run "tunbox --help" for usage.');
      return EXIT_USAGE;
    }
    throw e;
  }
  if (cl.help) {
    if (cl.command) {
      console.log(commandHelp(cl.command));
      return EXIT_OK;
    }
    if (args.length === 0) {
      console.error(mainHelp());
      return EXIT_USAGE;
    }
    console.log(mainHelp());
    return EXIT_OK;
  }
  const command = cl.command!;
  const color = useColor(cl.global.disableColor);
  if (cl.global.directory !== undefined) {
    try {
      await enterDirectory(cl.global.directory);
    } catch (e) {
      console.error(
        `tunbox: change to directory ${JSON.stringify(cl.global.directory)} failed: ${
          (e as Error).message
        }`,
      );
      return EXIT_FAILURE;
    }
  }
  const configs = [...cl.global.configs];
  if (command.name === "run") configs.push(...cl.positionals);
  if (command.readsConfig && configs.length === 0 && cl.global.configDirectories.length === 0) {
    configs.push("config.json");
  }
  const sources = sourcesFromFlags(configs, cl.global.configDirectories);
  switch (command.name) {
    case "version":
      return versionCommand(cl.flags.has("name-only"));
    case "check":
      return await checkCommand(sources, color);
    case "format":
      return await formatCommand(sources, cl.flags.has("write"), color);
    case "merge":
      return await mergeCommand(sources, cl.positionals[0]!, color);
    case "run":
      return await runCommand({ sources, color, dryRun: cl.flags.has("dry-run") });
    case "init":
      return await initCommand({
        print: cl.flags.has("print"),
        force: cl.flags.has("force"),
        output: cl.global.configs[0] ?? "config.json",
        ...(cl.values.has("proxy") ? { proxy: cl.values.get("proxy")! } : {}),
        ...(cl.values.has("dns") ? { dns: cl.values.get("dns")! } : {}),
      });
    case "doctor":
      return await doctorCommand(sources, cl.flags.has("json"), color);
    case "connections":
      return await connectionsCommand(sources, {
        once: cl.flags.has("once"),
        json: cl.flags.has("json"),
        ...(cl.values.has("api") ? { api: cl.values.get("api")! } : {}),
        ...(cl.values.has("secret") ? { secret: cl.values.get("secret")! } : {}),
      });
    case "explain": {
      const v = cl.values;
      return await explainCommand(
        sources,
        {
          destination: cl.positionals[0]!,
          udp: cl.flags.has("udp"),
          ...(v.has("port") ? { port: Number(v.get("port")) } : {}),
          ...(v.has("domain") ? { domain: v.get("domain")! } : {}),
          ...(v.has("process") ? { process: v.get("process")! } : {}),
          ...(v.has("inbound") ? { inbound: v.get("inbound")! } : {}),
        },
        cl.flags.has("json"),
        color,
      );
    }
    case "import":
      return await importCommand({
        file: cl.positionals[0]!,
        tun: cl.flags.has("tun"),
        print: cl.flags.has("print"),
        force: cl.flags.has("force"),
        output: cl.global.configs[0] ?? "config.json",
      });
    case "rule-set": {
      const [sub, ...rest] = cl.positionals;
      if (!sub) {
        console.error(`tunbox: "rule-set" needs a subcommand: ${RULE_SET_USAGE.join("; ")}`);
        return EXIT_USAGE;
      }
      const v = cl.values;
      return await ruleSetCommand({
        sub,
        args: rest,
        configs: cl.global.configs,
        directories: cl.global.configDirectories,
        write: cl.flags.has("write"),
        ...(v.has("output") ? { output: v.get("output")! } : {}),
        ...(v.has("format") ? { format: v.get("format")! } : {}),
        ...(v.has("type") ? { type: v.get("type")! } : {}),
        ...(v.has("category") ? { category: v.get("category")! } : {}),
      });
    }
    case "cleanup": {
      const result = await loadConfig(sources);
      if (result.errors.length > 0 || !result.options) {
        printDiagnostics(result, color);
        return EXIT_USAGE;
      }
      await configureLogging(result.options.log, { color });
      return await cleanupCommand(result.options);
    }
    case "service":
      return await serviceCommand({
        action: cl.positionals[0]!,
        configs: cl.global.configs,
        configDirectories: cl.global.configDirectories,
        dryRun: cl.flags.has("dry-run"),
        purge: cl.flags.has("purge"),
        color,
      });
    default:
      console.error(`tunbox: unknown command ${JSON.stringify(command.name)}`);
      return EXIT_USAGE;
  }
}
