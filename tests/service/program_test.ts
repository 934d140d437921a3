/**
 * `detectProgram()`: the compiled binary runs itself; from source, Deno runs the checkout's
 * `main.ts` with explicit permissions and the cache the dependencies are in.
 */

import assert from "node:assert/strict";
import {
  currentDenoDir,
  currentProgramFacts,
  detectProgram,
  programArgv,
} from "../../src/service/program.ts";
import { RUN_PERMISSIONS } from "../../src/service/permissions.ts";

Deno.test("`detectProgram()` in a compiled binary runs the binary itself", () => {
  const p = detectProgram({
    standalone: true,
    execPath: "/usr/local/bin/tunbox",
    mainUrl: "file:///ignored/main.ts",
    denoDir: "/root/.cache/deno",
  });
  assert.deepEqual(p, { executable: "/usr/local/bin/tunbox", args: [], env: {}, kind: "binary" });
  assert.deepEqual(programArgv(p, ["run", "-c", "/etc/tunbox/config.json"]), [
    "/usr/local/bin/tunbox",
    "run",
    "-c",
    "/etc/tunbox/config.json",
  ]);
});

Deno.test("`detectProgram()` from source runs deno with the checkout's deno.json and main.ts", () => {
  const p = detectProgram({
    standalone: false,
    execPath: "/usr/bin/deno",
    mainUrl: "file:///srv/tun%20box/main.ts",
  });
  assert.deepEqual(p, {
    executable: "/usr/bin/deno",
    args: ["run", ...RUN_PERMISSIONS, "--config", "/srv/tun box/deno.json", "/srv/tun box/main.ts"],
    env: {},
    kind: "source",
  });
});

Deno.test("`detectProgram()` refuses a main module that is not a local file", () => {
  assert.throws(
    () =>
      detectProgram({
        standalone: false,
        execPath: "/usr/bin/deno",
        mainUrl: "https://example.com/tunbox/main.ts",
      }),
    (e) =>
      e instanceof TypeError &&
      e.message ===
        "tunbox service needs a compiled tunbox binary or a local checkout, not https://example.com/tunbox/main.ts",
  );
});

Deno.test("`currentProgramFacts()` sees this test running from source", async () => {
  const facts = currentProgramFacts();
  assert.equal(facts.standalone, false);
  assert.equal(facts.execPath, Deno.execPath());
  assert.equal(facts.mainUrl, new URL("../../main.ts", import.meta.url).href);
  assert.ok((await Deno.stat(new URL(facts.mainUrl))).isFile);
});

Deno.test("`currentDenoDir()` prefers DENO_DIR, then the OS's cache directory", () => {
  const saved = { DENO_DIR: Deno.env.get("DENO_DIR"), XDG: Deno.env.get("XDG_CACHE_HOME") };
  try {
    Deno.env.set("DENO_DIR", "/var/cache/deno");
    assert.equal(currentDenoDir("linux"), "/var/cache/deno");
    Deno.env.delete("DENO_DIR");
    Deno.env.delete("XDG_CACHE_HOME");
    const home = Deno.env.get("HOME");
    assert.equal(currentDenoDir("linux"), `${home}/.cache/deno`);
    assert.equal(currentDenoDir("darwin"), `${home}/Library/Caches/deno`);
    Deno.env.set("XDG_CACHE_HOME", "/x");
    assert.equal(currentDenoDir("linux"), "/x/deno");
  } finally {
    if (saved.DENO_DIR === undefined) Deno.env.delete("DENO_DIR");
    else Deno.env.set("DENO_DIR", saved.DENO_DIR);
    if (saved.XDG === undefined) Deno.env.delete("XDG_CACHE_HOME");
    else Deno.env.set("XDG_CACHE_HOME", saved.XDG);
  }
});
