/**
 * What `tunbox service install|uninstall|status` does, as a list of steps (pure): directories
 * and files to write, files to remove, commands to run. `--dry-run` prints them; otherwise
 * `executeSteps()` (`execute.ts`) carries them out in order.
 *
 * @module
 */

import { launchdPlist } from "./launchd.ts";
import {
  CONFIG_DIR,
  CONFIG_PATH,
  LAUNCHD_PLIST_PATH,
  LAUNCHD_TARGET,
  type ServiceOs,
  SYSTEMD_UNIT,
  SYSTEMD_UNIT_PATH,
} from "./layout.ts";
import type { Program } from "./program.ts";
import { systemdUnit } from "./systemd.ts";

/** One thing the service command does to the system. */
export type ServiceStep =
  | { kind: "mkdir"; path: string; mode: number }
  | {
    kind: "write";
    path: string;
    text: string;
    mode: number;
    /** Where the text came from, printed instead of the text (the copied configuration). */
    from?: string;
  }
  | { kind: "remove"; path: string; recursive: boolean }
  | {
    kind: "run";
    argv: string[];
    /** Set when a failure is expected and harmless; says why. */
    mayFail?: string;
  };

/** The configuration to install: its text and where it was read. */
export interface ConfigCopy {
  text: string;
  from: string;
}

/** What an install needs. */
export interface InstallInit {
  os: ServiceOs;
  program: Program;
  /** The configuration to copy to {@linkcode CONFIG_PATH}; absent: keep the one there. */
  config?: ConfigCopy;
}

/** The steps of `tunbox service install`. */
export function installSteps(init: InstallInit): ServiceStep[] {
  const steps: ServiceStep[] = [{ kind: "mkdir", path: CONFIG_DIR, mode: 0o755 }];
  if (init.config) {
    // The configuration may hold proxy credentials: readable by root only.
    steps.push({
      kind: "write",
      path: CONFIG_PATH,
      text: init.config.text,
      mode: 0o600,
      from: init.config.from,
    });
  }
  if (init.os === "linux") {
    steps.push(
      { kind: "write", path: SYSTEMD_UNIT_PATH, text: systemdUnit(init.program), mode: 0o644 },
      { kind: "run", argv: ["systemctl", "daemon-reload"] },
      { kind: "run", argv: ["systemctl", "enable", SYSTEMD_UNIT] },
      // restart, not start: a reinstall picks up the new unit and configuration.
      { kind: "run", argv: ["systemctl", "restart", SYSTEMD_UNIT] },
    );
  } else {
    steps.push(
      { kind: "write", path: LAUNCHD_PLIST_PATH, text: launchdPlist(init.program), mode: 0o644 },
      {
        kind: "run",
        argv: ["launchctl", "bootout", LAUNCHD_TARGET],
        mayFail: "fails when the daemon is not loaded yet",
      },
      { kind: "run", argv: ["launchctl", "enable", LAUNCHD_TARGET] },
      { kind: "run", argv: ["launchctl", "bootstrap", "system", LAUNCHD_PLIST_PATH] },
    );
  }
  return steps;
}

/** What an uninstall needs. */
export interface UninstallInit {
  os: ServiceOs;
  /** Whether the unit/plist exists. */
  installed: boolean;
  /** Also remove {@linkcode CONFIG_DIR}. */
  purge: boolean;
}

/** The steps of `tunbox service uninstall`. */
export function uninstallSteps(init: UninstallInit): ServiceStep[] {
  const steps: ServiceStep[] = [];
  if (init.installed && init.os === "linux") {
    steps.push(
      {
        kind: "run",
        argv: ["systemctl", "disable", "--now", SYSTEMD_UNIT],
        mayFail: "fails when the unit is not loaded",
      },
      { kind: "remove", path: SYSTEMD_UNIT_PATH, recursive: false },
      { kind: "run", argv: ["systemctl", "daemon-reload"] },
    );
  } else if (init.installed) {
    steps.push(
      {
        kind: "run",
        argv: ["launchctl", "bootout", LAUNCHD_TARGET],
        mayFail: "fails when the daemon is not loaded",
      },
      { kind: "remove", path: LAUNCHD_PLIST_PATH, recursive: false },
    );
  }
  if (init.purge) steps.push({ kind: "remove", path: CONFIG_DIR, recursive: true });
  return steps;
}

/** The command that shows the service's state. */
export function statusArgv(os: ServiceOs): string[] {
  return os === "linux"
    ? ["systemctl", "status", SYSTEMD_UNIT, "--no-pager"]
    : ["launchctl", "print", LAUNCHD_TARGET];
}

/** The command that makes the running service reload its configuration (SIGHUP). */
export function reloadArgv(os: ServiceOs): string[] {
  return os === "linux"
    ? ["systemctl", "reload", SYSTEMD_UNIT]
    : ["launchctl", "kill", "SIGHUP", LAUNCHD_TARGET];
}

/** Quotes `arg` for a POSIX shell when it needs it. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** A command line as a shell would take it. */
export function shellLine(argv: readonly string[]): string {
  return argv.map(shellQuote).join(" ");
}

function mode(m: number): string {
  return `0${m.toString(8)}`;
}

/**
 * Lines describing `step`: with `content`, a written file's text follows, indented (a copied
 * configuration is named, not shown).
 */
export function describeStep(step: ServiceStep, content = false): string[] {
  switch (step.kind) {
    case "mkdir":
      return [`create directory ${step.path} (mode ${mode(step.mode)})`];
    case "write": {
      const head = `write ${step.path} (mode ${mode(step.mode)})`;
      if (step.from !== undefined) return [`${head}: a copy of ${step.from}`];
      if (!content) return [head];
      return [`${head}:`, ...step.text.replace(/\n$/, "").split("\n").map((l) => `    ${l}`)];
    }
    case "remove":
      return [`remove ${step.path}${step.recursive ? " and everything in it" : ""}`];
    case "run":
      return [`run ${shellLine(step.argv)}${step.mayFail ? ` (${step.mayFail})` : ""}`];
  }
}
