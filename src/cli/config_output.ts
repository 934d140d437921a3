/**
 * Where `init` and `import` put the config they write: standard output with `--print`, else a
 * file (`-c`, default `config.json`) that is never overwritten without `--force`.
 *
 * @module
 */

/** Writes `text` as the command line asks. Returns the exit status. */
export async function writeConfigOutput(
  text: string,
  options: { print: boolean; force: boolean; path: string; command: string },
): Promise<number> {
  if (options.print) {
    await Deno.stdout.write(new TextEncoder().encode(text));
    return 0;
  }
  try {
    await Deno.writeTextFile(options.path, text, { createNew: !options.force });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) {
      console.error(
        `tunbox ${options.command}: ${options.path} exists; not overwritten (use --force, or --print to see the config)`,
      );
      return 1;
    }
    console.error(
      `tunbox ${options.command}: write ${options.path} failed: ${(e as Error).message}`,
    );
    return 1;
  }
  console.error(`tunbox ${options.command}: wrote ${options.path}`);
  return 0;
}
