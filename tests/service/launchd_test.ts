/**
 * The launchd daemon plist: parsed by python3's `plistlib` (a strict property-list reader),
 * with the keys launchd needs, and strings escaped so any path survives the round trip.
 */

import assert from "node:assert/strict";
import {
  LAUNCHD_EXIT_TIMEOUT,
  LAUNCHD_NOFILE,
  launchdJob,
  launchdPlist,
  plistXml,
  xmlEscape,
} from "../../src/service/launchd.ts";
import { detectProgram, type Program } from "../../src/service/program.ts";
import { RUN_PERMISSIONS } from "../../src/service/permissions.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const BINARY: Program = {
  executable: "/usr/local/bin/tunbox",
  args: [],
  env: {},
  kind: "binary",
};

/** Parses a plist with python3's plistlib and returns it as JSON; throws with its error. */
async function plistlib(text: string): Promise<Record<string, unknown>> {
  const child = new Deno.Command("python3", {
    args: [
      "-c",
      "import sys, json, plistlib; print(json.dumps(plistlib.loads(sys.stdin.buffer.read(), fmt=plistlib.FMT_XML)))",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  const out = await child.output();
  const dec = new TextDecoder();
  if (!out.success) throw new SyntaxError(`plistlib: ${dec.decode(out.stderr).trim()}`);
  return JSON.parse(dec.decode(out.stdout));
}

Deno.test("`plistlib()` rejects a malformed plist (the validator can fail)", async () => {
  const good = launchdPlist(BINARY);
  await assert.rejects(plistlib(good.replace("</dict>", "")), SyntaxError);
  await assert.rejects(plistlib(good.replace("<true/>", "<true>")), SyntaxError);
});

Deno.test("`launchdPlist()` for a binary parses with plistlib and has the daemon's keys", async () => {
  const parsed = await plistlib(launchdPlist(BINARY));
  assert.deepEqual(parsed, {
    Label: "com.tunbox.tunbox",
    ProgramArguments: ["/usr/local/bin/tunbox", "run", "-c", "/etc/tunbox/config.json"],
    WorkingDirectory: "/etc/tunbox",
    RunAtLoad: true,
    KeepAlive: true,
    StandardOutPath: "/var/log/tunbox.log",
    StandardErrorPath: "/var/log/tunbox.log",
    ExitTimeOut: LAUNCHD_EXIT_TIMEOUT,
    SoftResourceLimits: { NumberOfFiles: LAUNCHD_NOFILE },
    HardResourceLimits: { NumberOfFiles: LAUNCHD_NOFILE },
  });
  assert.ok(LAUNCHD_EXIT_TIMEOUT > 10, "longer than tunbox's own 10 s close deadline");
});

Deno.test("`launchdPlist()` from source runs Deno with explicit permissions and DENO_DIR", async () => {
  const program = detectProgram({
    standalone: false,
    execPath: "/opt/homebrew/bin/deno",
    mainUrl: new URL("../../main.ts", import.meta.url).href,
    denoDir: "/Users/me/Library/Caches/deno",
  });
  const parsed = await plistlib(launchdPlist(program));
  assert.deepEqual(parsed.ProgramArguments, [
    "/opt/homebrew/bin/deno",
    "run",
    ...RUN_PERMISSIONS,
    "--config",
    `${ROOT}deno.json`,
    `${ROOT}main.ts`,
    "run",
    "-c",
    "/etc/tunbox/config.json",
  ]);
  assert.deepEqual(parsed.EnvironmentVariables, { DENO_DIR: "/Users/me/Library/Caches/deno" });
  assert.equal(parsed.RunAtLoad, true);
  assert.equal(parsed.KeepAlive, true);
});

Deno.test("`launchdPlist()` escapes strings: any path survives the round trip", async () => {
  const odd = `/Users/a&b/<x> "q" 'y' ünï/tunbox`;
  const parsed = await plistlib(launchdPlist({ ...BINARY, executable: odd }));
  assert.equal((parsed.ProgramArguments as string[])[0], odd);
  assert.deepEqual(parsed, JSON.parse(JSON.stringify(launchdJob({ ...BINARY, executable: odd }))));
});

Deno.test("`xmlEscape()` escapes markup and rejects characters XML cannot hold", () => {
  assert.equal(xmlEscape(`a&b<c>"d"'e'`), "a&amp;b&lt;c&gt;&quot;d&quot;&apos;e&apos;");
  assert.throws(() => xmlEscape("a\x01b"), /character U\+0001 is not allowed in XML/);
  assert.equal(xmlEscape("tab\tnewline\n"), "tab\tnewline\n");
});

Deno.test("`plistXml()` writes Apple's header and rejects non-integer numbers", async () => {
  const xml = plistXml({ n: 3, list: ["a", false], nested: { k: "v" } });
  assert.ok(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC'));
  assert.deepEqual(await plistlib(xml), { n: 3, list: ["a", false], nested: { k: "v" } });
  assert.throws(() => plistXml({ n: 1.5 }), RangeError);
});
