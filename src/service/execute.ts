/**
 * Carries out service steps (`plan.ts`) on a host: files under a root directory (`""` for the
 * real system, a temporary directory in tests) and commands through a runner.
 *
 * @module
 */

import type { ServiceStep } from "./plan.ts";
import { describeStep, shellLine } from "./plan.ts";

/** The outcome of a command. */
export interface CommandOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/** Where steps are carried out. */
export interface ServiceHost {
  /** Prefix for every path the steps name (`""` on the real system). */
  root: string;
  /** Runs a command to completion. Throws when it cannot be started. */
  runCommand(argv: readonly string[]): Promise<CommandOutput>;
}

/** A failed step: the message names the step and the reason. */
export class ServiceStepError extends Error {
  override name = "ServiceStepError";
}

/** Runs `argv` with `Deno.Command`, collecting its output. */
export async function runSystemCommand(argv: readonly string[]): Promise<CommandOutput> {
  const out = await new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** The host for the real system. */
export const systemHost: ServiceHost = { root: "", runCommand: runSystemCommand };

function reason(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "not found";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  return e instanceof Error ? e.message : String(e);
}

async function writeFileAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.tunbox-tmp-${Deno.pid}`;
  try {
    await Deno.writeTextFile(tmp, text, { mode });
    await Deno.chmod(tmp, mode);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

async function runStep(step: ServiceStep, host: ServiceHost): Promise<void> {
  switch (step.kind) {
    case "mkdir":
      await Deno.mkdir(host.root + step.path, { recursive: true, mode: step.mode });
      return;
    case "write":
      await writeFileAtomic(host.root + step.path, step.text, step.mode);
      return;
    case "remove":
      try {
        await Deno.remove(host.root + step.path, { recursive: step.recursive });
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
      return;
    case "run": {
      const r = await host.runCommand(step.argv);
      if (r.code !== 0 && step.mayFail === undefined) {
        const detail = (r.stderr.trim() || r.stdout.trim()).split("\n").join("; ");
        throw new ServiceStepError(
          `${shellLine(step.argv)} failed (exit ${r.code})${detail ? `: ${detail}` : ""}`,
        );
      }
      return;
    }
  }
}

/**
 * Carries out `steps` in order, reporting each (one line) through `report` before it runs.
 * Throws {@linkcode ServiceStepError} naming the first step that failed; later steps do not run.
 */
export async function executeSteps(
  steps: readonly ServiceStep[],
  host: ServiceHost,
  report: (line: string) => void,
): Promise<void> {
  for (const step of steps) {
    const line = describeStep(step)[0]!;
    report(line);
    try {
      await runStep(step, host);
    } catch (e) {
      if (e instanceof ServiceStepError) throw e;
      throw new ServiceStepError(`${line} failed: ${reason(e)}`);
    }
  }
}
