/**
 * `tunbox service install|uninstall|status [--dry-run]`: run tunbox as a system service, a
 * systemd unit on Linux or a launchd daemon on macOS, with its configuration in `/etc/tunbox/`.
 *
 * - install: validates the configuration given with `-c` (refusing one with errors), copies it
 *   to `/etc/tunbox/config.json`, writes the unit/plist, enables and (re)starts the service;
 * - uninstall: stops and disables the service and removes the unit/plist (`--purge` also
 *   removes `/etc/tunbox`);
 * - status: prints `systemctl status` / `launchctl print`; exit 0 when it runs.
 *
 * `--dry-run` prints the files it would write and the commands it would run, changing nothing.
 *
 * @module
 */

import { type ConfigSource, loadConfig, readSourceText } from "../config/load.ts";
import { Diagnostics } from "../config/diagnostic.ts";
import {
  executeSteps,
  type ServiceHost,
  ServiceStepError,
  systemHost,
} from "../service/execute.ts";
import { CONFIG_PATH, serviceFilePath, type ServiceOs } from "../service/layout.ts";
import {
  describeStep,
  installSteps,
  reloadArgv,
  type ServiceStep,
  shellLine,
  statusArgv,
  uninstallSteps,
} from "../service/plan.ts";
import { detectProgram, type Program } from "../service/program.ts";
import { diagnosticLine } from "./output.ts";

/** The service actions. */
export const SERVICE_ACTIONS = ["install", "uninstall", "status"] as const;

/** What the command line gave `service`. */
export interface ServiceInit {
  /** `install`, `uninstall` or `status` (anything else is a usage error). */
  action: string;
  /** `-c` values. */
  configs: readonly string[];
  /** `-C` values (not supported: the service runs one file). */
  configDirectories: readonly string[];
  dryRun: boolean;
  purge: boolean;
  color: boolean;
}

/** The system the command acts on (the running one unless a test passes its own). */
export interface ServiceEnv {
  /** `Deno.build.os`. */
  os: string;
  /** Effective user id; null where there is none (Windows). */
  uid: number | null;
  /** How the service starts tunbox. */
  program: () => Program;
  host: ServiceHost;
  /** Standard output, one line per call. */
  out: (line: string) => void;
  /** Standard error, one line per call. */
  err: (line: string) => void;
}

/** The running system. */
export function currentServiceEnv(): ServiceEnv {
  let uid: number | null = null;
  try {
    uid = Deno.uid();
  } catch {
    uid = null;
  }
  return {
    os: Deno.build.os,
    uid,
    program: () => detectProgram(),
    host: systemHost,
    out: (l) => console.log(l),
    err: (l) => console.error(l),
  };
}

const EXIT_OK = 0;
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Runs `tunbox service`. Returns the exit status. */
export async function serviceCommand(
  init: ServiceInit,
  env: ServiceEnv = currentServiceEnv(),
): Promise<number> {
  const action = init.action;
  if (!(SERVICE_ACTIONS as readonly string[]).includes(action)) {
    env.err(
      `tunbox: unknown service action ${JSON.stringify(action)}: use install, uninstall or status`,
    );
    return EXIT_USAGE;
  }
  if (env.os !== "linux" && env.os !== "darwin") {
    env.err(
      `tunbox service supports Linux (systemd) and macOS (launchd), not ${env.os}`,
    );
    return EXIT_FAILURE;
  }
  const os: ServiceOs = env.os;
  if (init.purge && action !== "uninstall") {
    env.err("tunbox: --purge goes with service uninstall");
    return EXIT_USAGE;
  }
  if (action !== "install" && (init.configs.length > 0 || init.configDirectories.length > 0)) {
    env.err(`tunbox: service ${action} takes no configuration (-c goes with service install)`);
    return EXIT_USAGE;
  }
  if (init.configDirectories.length > 0 || init.configs.length > 1) {
    env.err(
      `tunbox: service install takes one configuration file (-c <file>); the service runs ${CONFIG_PATH}`,
    );
    return EXIT_USAGE;
  }
  if (action === "status") return await status(os, init, env);
  if (!init.dryRun && env.uid !== 0) {
    env.err(`tunbox service ${action} needs root: run it with sudo`);
    return EXIT_FAILURE;
  }
  if (action === "uninstall") {
    const installed = await exists(env.host.root + serviceFilePath(os));
    if (!installed && !init.purge) {
      env.out(`tunbox service is not installed (no ${serviceFilePath(os)}); nothing to do`);
      return EXIT_OK;
    }
    return await perform(uninstallSteps({ os, installed, purge: init.purge }), init, env, () => {
      env.out("tunbox service uninstalled");
    });
  }

  // install
  const config = await readInstallConfig(init, env);
  if (typeof config === "number") return config;
  let program: Program;
  try {
    program = env.program();
  } catch (e) {
    env.err(`tunbox: ${(e as Error).message}`);
    return EXIT_FAILURE;
  }
  const steps = installSteps({ os, program, ...(config ? { config } : {}) });
  return await perform(steps, init, env, () => {
    env.out("tunbox service installed and started");
    env.out(`  state:  tunbox service status`);
    env.out(`  reload: ${shellLine(reloadArgv(os))} (after editing ${CONFIG_PATH})`);
    if (os === "linux") env.out("  logs:   journalctl -u tunbox");
    else env.out("  logs:   /var/log/tunbox.log");
  });
}

/**
 * The configuration to copy (undefined: keep the installed one), or an exit status after
 * reporting why not. Every configuration is loaded and refused when it has errors.
 */
async function readInstallConfig(
  init: ServiceInit,
  env: ServiceEnv,
): Promise<{ text: string; from: string } | undefined | number> {
  const given = init.configs[0];
  let source: ConfigSource;
  let copy: { text: string; from: string } | undefined;
  if (given === undefined) {
    const installed = env.host.root + CONFIG_PATH;
    if (!(await exists(installed))) {
      env.err(
        `tunbox service install needs a configuration: -c <file> (it is copied to ${CONFIG_PATH})`,
      );
      return EXIT_USAGE;
    }
    source = { type: "file", path: installed };
  } else {
    // Read once (stdin can only be read once), then load that text.
    const diag = new Diagnostics();
    const fileSource: ConfigSource = given === "stdin"
      ? { type: "stdin" }
      : { type: "file", path: given };
    const [read] = await readSourceText(fileSource, diag);
    if (!read || read.text === undefined) {
      for (const d of diag.errors) env.err(diagnosticLine(d, init.color));
      env.err(`tunbox: refusing to install ${given}: it cannot be read`);
      return EXIT_USAGE;
    }
    const from = given === "stdin" ? "standard input" : await absolute(given);
    copy = { text: read.text, from };
    source = { type: "text", name: read.name, text: read.text };
  }
  const result = await loadConfig([source]);
  for (const d of [...result.errors, ...result.warnings]) env.err(diagnosticLine(d, init.color));
  if (result.errors.length > 0 || !result.options) {
    const name = given ?? CONFIG_PATH;
    env.err(`tunbox: refusing to install ${name}: it has errors (listed above)`);
    return EXIT_USAGE;
  }
  return copy;
}

async function absolute(path: string): Promise<string> {
  try {
    return await Deno.realPath(path);
  } catch {
    return path;
  }
}

/** Prints the steps (dry run) or carries them out. */
async function perform(
  steps: ServiceStep[],
  init: ServiceInit,
  env: ServiceEnv,
  done: () => void,
): Promise<number> {
  if (init.dryRun) {
    env.out("dry run: nothing on this system is changed");
    for (const step of steps) for (const line of describeStep(step, true)) env.out(line);
    return EXIT_OK;
  }
  try {
    await executeSteps(steps, env.host, env.out);
  } catch (e) {
    if (!(e instanceof ServiceStepError)) throw e;
    env.err(`tunbox: service ${init.action}: ${e.message}`);
    return EXIT_FAILURE;
  }
  done();
  return EXIT_OK;
}

async function status(os: ServiceOs, init: ServiceInit, env: ServiceEnv): Promise<number> {
  const argv = statusArgv(os);
  if (init.dryRun) {
    env.out("dry run: nothing on this system is changed");
    env.out(`run ${shellLine(argv)}`);
    return EXIT_OK;
  }
  if (!(await exists(env.host.root + serviceFilePath(os)))) {
    env.out(`tunbox service is not installed (no ${serviceFilePath(os)})`);
    return EXIT_FAILURE;
  }
  let r;
  try {
    r = await env.host.runCommand(argv);
  } catch (e) {
    env.err(`tunbox: ${shellLine(argv)} failed: ${(e as Error).message}`);
    return EXIT_FAILURE;
  }
  for (const line of r.stdout.replace(/\n$/, "").split("\n")) if (line !== "") env.out(line);
  for (const line of r.stderr.replace(/\n$/, "").split("\n")) if (line !== "") env.err(line);
  const running = os === "linux"
    ? r.code === 0
    : r.code === 0 && /^\s*state = running$/m.test(r.stdout);
  env.out(`tunbox service is ${running ? "running" : "installed but not running"}`);
  return running ? EXIT_OK : EXIT_FAILURE;
}
