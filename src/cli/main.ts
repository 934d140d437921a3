/**
 * The CLI: parse the command line, apply global flags, dispatch to a command. Exit status: 0
 * success, 1 runtime failure, 2 usage or configuration error.
 *
 * Each command's module is imported when that command runs (`import()` with a literal specifier,
 * so `deno compile` still bundles it): a running `tunbox run` does not keep the other commands'
 * module graphs (onboarding, the demo, service units) in its isolate.
 *
 * @module
 */

import { commandHelp, mainHelp, parseCommandLine, UsageError } from "./args.ts";
import { loadConfig, sourcesFromFlags } from "../config/load.ts";
import { configureLogging } from "../log/mod.ts";
import { printDiagnostics, useColor } from "./output.ts";

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
  if (args[0] === "demo") {
    const { demoDispatch } = await import("./demo.ts");
    const demo = await demoDispatch(args);
    if (demo !== undefined) return demo;
  }
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
      return (await import("./version.ts")).versionCommand(cl.flags.has("name-only"));
    case "check":
      return await (await import("./check.ts")).checkCommand(sources, color);
    case "format":
      return await (await import("./format.ts")).formatCommand(
        sources,
        cl.flags.has("write"),
        color,
      );
    case "merge":
      return await (await import("./merge.ts")).mergeCommand(sources, cl.positionals[0]!, color);
    case "run":
      return await (await import("./run.ts")).runCommand({
        sources,
        color,
        dryRun: cl.flags.has("dry-run"),
      });
    case "init":
      return await (await import("./init.ts")).initCommand({
        print: cl.flags.has("print"),
        force: cl.flags.has("force"),
        output: cl.global.configs[0] ?? "config.json",
        ...(cl.values.has("proxy") ? { proxy: cl.values.get("proxy")! } : {}),
        ...(cl.values.has("dns") ? { dns: cl.values.get("dns")! } : {}),
      });
    case "doctor":
      return await (await import("./doctor.ts")).doctorCommand(
        sources,
        cl.flags.has("json"),
        color,
      );
    case "connections":
      return await (await import("./connections.ts")).connectionsCommand(sources, {
        once: cl.flags.has("once"),
        json: cl.flags.has("json"),
        ...(cl.values.has("api") ? { api: cl.values.get("api")! } : {}),
        ...(cl.values.has("secret") ? { secret: cl.values.get("secret")! } : {}),
      });
    case "explain": {
      const v = cl.values;
      return await (await import("./explain.ts")).explainCommand(
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
      return await (await import("./import.ts")).importCommand({
        file: cl.positionals[0]!,
        tun: cl.flags.has("tun"),
        print: cl.flags.has("print"),
        force: cl.flags.has("force"),
        output: cl.global.configs[0] ?? "config.json",
      });
    case "rule-set": {
      const { RULE_SET_USAGE, ruleSetCommand } = await import("./rule_set.ts");
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
      const { cleanupCommand } = await import("./cleanup.ts");
      const result = await loadConfig(sources);
      if (result.errors.length > 0 || !result.options) {
        printDiagnostics(result, color);
        return EXIT_USAGE;
      }
      await configureLogging(result.options.log, { color });
      return await cleanupCommand(result.options);
    }
    case "service":
      return await (await import("./service.ts")).serviceCommand({
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
