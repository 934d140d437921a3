/**
 * The config corpus (`tests/fixtures/configs/`): sing-box configs in the shapes users keep
 * (1.8-era and 1.12+ forms, comments, FakeIP, selectors, the Clash API, rule sets, 1.14 fields,
 * desktop, macOS, Windows and router variants). For each one:
 *
 * - `check` prints exactly its golden file `<name>.check.txt` (the lines `tunbox check` writes,
 *   errors then warnings, with the rule-set files it names read from the working directory as
 *   `check` and `run` read them, that directory written "."; `UPDATE_GOLDEN=1` rewrites them, to
 *   be reviewed like code);
 * - when `check` accepts it, `run --dry-run` starts with it and exits 0.
 *
 * Fixtures named `macos-*` are checked as on macOS, the rest as on Linux (the OS this suite
 * runs on); `run --dry-run` runs for those the Linux check accepts.
 */

import assert from "node:assert/strict";
import { loadAndCheck } from "../../src/cli/check.ts";
import { diagnosticLine } from "../../src/cli/output.ts";
import { runCommand } from "../../src/cli/run.ts";

const DIR = new URL("../fixtures/configs/", import.meta.url);
const UPDATE = Deno.env.get("UPDATE_GOLDEN") === "1";

const fixtures = [...Deno.readDirSync(DIR)]
  .map((e) => e.name)
  .filter((n) => /\.jsonc?$/.test(n))
  .sort();

/** The lines `tunbox check` prints for `text` on `os`, and whether it accepts it. */
async function check(name: string, text: string, os: string) {
  const cwd = Deno.cwd();
  const r = await loadAndCheck([{ type: "text", name, text }], cwd, { os });
  const lines = [...r.errors, ...r.warnings].map((d) =>
    diagnosticLine(d, false).replaceAll(`${cwd}/`, "./")
  );
  return { lines, accepted: r.errors.length === 0 };
}

/** `run --dry-run` on `text`, with its output kept out of the test log. */
async function dryRun(name: string, text: string): Promise<{ code: number; output: string }> {
  const out: string[] = [];
  const saved = { log: console.log, error: console.error, warn: console.warn };
  const keep = (...a: unknown[]) => void out.push(a.map(String).join(" "));
  console.log = console.error = console.warn = keep;
  try {
    const code = await runCommand({
      sources: [{ type: "text", name, text }],
      color: false,
      dryRun: true,
    });
    return { code, output: out.join("\n") };
  } finally {
    Object.assign(console, saved);
  }
}

Deno.test("the corpus has at least 40 configs in users' styles", () => {
  assert.ok(fixtures.length >= 40, `${fixtures.length} configs`);
  for (const prefix of ["linux-", "macos-", "windows-", "router-"]) {
    assert.ok(fixtures.some((f) => f.startsWith(prefix)), `no ${prefix} configs`);
  }
});

for (const name of fixtures) {
  Deno.test(`corpus ${name}: check prints its golden output; accepted means run --dry-run starts`, async () => {
    const text = await Deno.readTextFile(new URL(name, DIR));
    const os = name.startsWith("macos-") ? "darwin" : "linux";
    const { lines } = await check(name, text, os);
    const golden = new URL(name.replace(/\.jsonc?$/, ".check.txt"), DIR);
    const expected = lines.length === 0 ? "" : lines.join("\n") + "\n";
    if (UPDATE) await Deno.writeTextFile(golden, expected);
    assert.equal(expected, await Deno.readTextFile(golden));

    // What `run` on this machine would do: check as on Linux, then a dry run.
    const here = await check(name, text, Deno.build.os);
    if (!here.accepted) return;
    const r = await dryRun(name, text);
    assert.equal(r.code, 0, `run --dry-run ${name} failed:\n${r.output}`);
    assert.match(r.output, /dry run: nothing on this system is changed/);
  });
}
