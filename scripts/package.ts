/**
 * Packs the binaries `deno task compile` built into release archives (used by
 * `.github/workflows/release.yml`):
 *
 * ```sh
 * deno run -A scripts/package.ts --version 0.1.0 [--dist dist] [--out release]
 * ```
 *
 * For each of {@linkcode TARGETS}: `<out>/tunbox-<version>-<os>-<arch>.tar.gz` (Linux, macOS) or
 * `.zip` (Windows), holding one directory of the same name with the binary (`tunbox` /
 * `tunbox.exe`), `README.md` and `LICENSE` when the repository has one; then `<out>/SHA256SUMS`
 * over the archives. The version must equal `deno.json`'s, so a tag cannot ship a binary that
 * reports another version. Uses `tar` and `zip` from the PATH.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { binaryName, type CompileTarget, ROOT, TARGETS, writeSha256Sums } from "./compile.ts";

/** The archive's base name (also its top directory): `tunbox-<version>-<os>-<arch>`. */
export function archiveBase(version: string, target: CompileTarget): string {
  return `tunbox-${version}-${target.os}-${target.arch}`;
}

/** The archive's file name: `.zip` on Windows, `.tar.gz` elsewhere. */
export function archiveName(version: string, target: CompileTarget): string {
  return `${archiveBase(version, target)}${target.os === "windows" ? ".zip" : ".tar.gz"}`;
}

/** The name of the binary inside an archive. */
export function archivedBinaryName(target: CompileTarget): string {
  return target.os === "windows" ? "tunbox.exe" : "tunbox";
}

/** The files next to the binary in every archive, relative to the root (those that exist). */
export const DOCUMENT_FILES: readonly string[] = ["README.md", "LICENSE"];

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function run(cmd: string, args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed (exit ${out.code}): ${
        new TextDecoder().decode(out.stderr).trim()
      }`,
    );
  }
}

/** Options of {@linkcode packageAll}. */
export interface PackageOptions {
  version: string;
  /** Where the binaries are (absolute). */
  dist: string;
  /** Where the archives go (absolute; created). */
  out: string;
  targets?: readonly CompileTarget[];
  /** The repository root the document files are read from (absolute, ending in `/`). */
  root?: string;
}

/** Builds every archive and `SHA256SUMS`; returns the archive names. Throws on a failure. */
export async function packageAll(options: PackageOptions): Promise<string[]> {
  const root = options.root ?? ROOT;
  const targets = options.targets ?? TARGETS;
  const docs: string[] = [];
  for (const f of DOCUMENT_FILES) if (await exists(root + f)) docs.push(f);
  await Deno.mkdir(options.out, { recursive: true });
  const staging = await Deno.makeTempDir({ prefix: "tunbox-package-" });
  const names: string[] = [];
  try {
    for (const target of targets) {
      const binary = `${options.dist}/${binaryName(target)}`;
      if (!(await exists(binary))) {
        throw new Error(`${binary} is missing: run "deno task compile" first`);
      }
      const base = archiveBase(options.version, target);
      const dir = `${staging}/${base}`;
      await Deno.mkdir(dir);
      await Deno.copyFile(binary, `${dir}/${archivedBinaryName(target)}`);
      await Deno.chmod(`${dir}/${archivedBinaryName(target)}`, 0o755);
      for (const f of docs) await Deno.copyFile(root + f, `${dir}/${f}`);
      const name = archiveName(options.version, target);
      const archive = `${options.out}/${name}`;
      await Deno.remove(archive).catch(() => {});
      if (target.os === "windows") {
        await run("zip", ["-q", "-r", "-X", archive, base], staging);
      } else {
        await run("tar", ["-czf", archive, "--owner=0", "--group=0", base], staging);
      }
      names.push(name);
    }
  } finally {
    await Deno.remove(staging, { recursive: true });
  }
  await writeSha256Sums(options.out, names);
  return names;
}

/** The version in `deno.json`. */
export async function projectVersion(root: string = ROOT): Promise<string> {
  return JSON.parse(await Deno.readTextFile(`${root}deno.json`)).version;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      version: { type: "string" },
      dist: { type: "string", default: "dist" },
      out: { type: "string", default: "release" },
    },
    strict: true,
  });
  const version = values.version?.replace(/^v/, "");
  if (!version) {
    console.error("package: --version <x.y.z> is required (the tag without its v)");
    Deno.exit(2);
  }
  const expected = await projectVersion();
  if (version !== expected) {
    console.error(`package: version ${version} does not match deno.json's version ${expected}`);
    Deno.exit(1);
  }
  const abs = (p: string) => p.startsWith("/") ? p : ROOT + p;
  try {
    const names = await packageAll({ version, dist: abs(values.dist), out: abs(values.out) });
    for (const n of names) console.log(`packed ${values.out}/${n}`);
    console.log(`wrote ${values.out}/SHA256SUMS (${names.length} file(s))`);
  } catch (e) {
    console.error(`package: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
