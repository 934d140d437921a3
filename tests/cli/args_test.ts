import assert from "node:assert/strict";
import { parseCommandLine, UsageError } from "../../src/cli/args.ts";

Deno.test("parseCommandLine() takes global flags before or after the command, repeatable", () => {
  const cl = parseCommandLine([
    "-c",
    "a.json",
    "check",
    "--config=b.json",
    "-C",
    "conf.d",
    "--disable-color",
  ]);
  assert.equal(cl.command?.name, "check");
  assert.deepEqual(cl.global, {
    configs: ["a.json", "b.json"],
    configDirectories: ["conf.d"],
    disableColor: true,
  });
});

Deno.test("parseCommandLine() keeps run's positional config files and its --dry-run flag", () => {
  const cl = parseCommandLine(["run", "config.json", "--dry-run", "-D", "/tmp/x"]);
  assert.deepEqual(cl.positionals, ["config.json"]);
  assert.ok(cl.flags.has("dry-run"));
  assert.equal(cl.global.directory, "/tmp/x");
});

Deno.test("parseCommandLine() rejects a flag of another command", () => {
  assert.throws(() => parseCommandLine(["check", "--dry-run"]), UsageError);
  assert.throws(() => parseCommandLine(["version", "-c"]), UsageError);
});

Deno.test("parseCommandLine() treats help forms alike", () => {
  assert.equal(parseCommandLine(["help"]).help, true);
  assert.equal(parseCommandLine(["help", "merge"]).command?.name, "merge");
  assert.equal(parseCommandLine(["merge", "-h"]).help, true);
});
