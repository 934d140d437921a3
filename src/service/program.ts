/**
 * How the service starts tunbox: the compiled binary itself, or, when running from source, the
 * Deno executable with explicit permissions, the checkout's `deno.json` and the absolute path
 * of `main.ts`.
 *
 * @module
 */

import { RUN_PERMISSIONS } from "./permissions.ts";

/** An executable, the arguments before the tunbox command, and environment to set. */
export interface Program {
  executable: string;
  /** Arguments before the tunbox command (`run`, `cleanup`). */
  args: string[];
  /** Environment the service sets (e.g. `DENO_DIR` when running from source). */
  env: Record<string, string>;
  /** How it was found. */
  kind: "binary" | "source";
}

/** What {@linkcode detectProgram} looks at (the running process, unless a test passes its own). */
export interface ProgramFacts {
  /** `Deno.build.standalone`: true inside a `deno compile` binary. */
  standalone: boolean;
  /** `Deno.execPath()`: the binary, or the Deno executable. */
  execPath: string;
  /** URL of the checkout's `main.ts`. */
  mainUrl: string;
  /** The Deno cache holding the npm dependencies (running from source only). */
  denoDir?: string;
}

/** The Deno cache this process uses: `DENO_DIR`, else the per-OS default under `HOME`. */
export function currentDenoDir(os: string = Deno.build.os): string | undefined {
  const env = (name: string) => {
    try {
      return Deno.env.get(name);
    } catch {
      return undefined;
    }
  };
  const explicit = env("DENO_DIR");
  if (explicit) return explicit;
  const home = env("HOME");
  if (os === "darwin") return home ? `${home}/Library/Caches/deno` : undefined;
  const xdg = env("XDG_CACHE_HOME");
  if (xdg) return `${xdg}/deno`;
  return home ? `${home}/.cache/deno` : undefined;
}

/** The facts of the running process. */
export function currentProgramFacts(): ProgramFacts {
  const facts: ProgramFacts = {
    standalone: Deno.build.standalone,
    execPath: Deno.execPath(),
    mainUrl: new URL("../../main.ts", import.meta.url).href,
  };
  const denoDir = currentDenoDir();
  if (denoDir !== undefined) facts.denoDir = denoDir;
  return facts;
}

/**
 * The program the service runs. Throws a TypeError when running from source that is not a
 * local checkout (the service needs files it can start again after a reboot).
 */
export function detectProgram(facts: ProgramFacts = currentProgramFacts()): Program {
  if (facts.standalone) return { executable: facts.execPath, args: [], env: {}, kind: "binary" };
  const main = new URL(facts.mainUrl);
  if (main.protocol !== "file:") {
    throw new TypeError(
      `tunbox service needs a compiled tunbox binary or a local checkout, not ${facts.mainUrl}`,
    );
  }
  const mainPath = decodeURIComponent(main.pathname);
  const configPath = mainPath.replace(/main\.ts$/, "deno.json");
  return {
    executable: facts.execPath,
    args: ["run", ...RUN_PERMISSIONS, "--config", configPath, mainPath],
    env: facts.denoDir ? { DENO_DIR: facts.denoDir } : {},
    kind: "source",
  };
}

/** The full argv to run tunbox `command` (e.g. `["run", "-c", path]`) with `program`. */
export function programArgv(program: Program, command: readonly string[]): string[] {
  return [program.executable, ...program.args, ...command];
}
