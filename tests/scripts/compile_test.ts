/**
 * `scripts/compile.ts`: the command line of every target, the scan that derives `--include`,
 * `SHA256SUMS`, and the one-line failure when `deno compile` cannot download its runtime. Nothing
 * here downloads anything: the real `deno compile` runs once with its HTTPS proxy pointed at a
 * closed loopback port, so its runtime download fails at once on any machine.
 */

import assert from "node:assert/strict";
import {
  binaryName,
  compileAll,
  compileArgs,
  downloadFailureLine,
  INDIRECT_LOADS,
  outputPath,
  ROOT,
  type RunResult,
  scanDynamicLoads,
  stripComments,
  TARGETS,
  writeSha256Sums,
} from "../../scripts/compile.ts";
import { RUN_PERMISSIONS } from "../../src/service/permissions.ts";

/** Loaded at run time by the product itself; other files may join them as the code grows. */
const REQUIRED_INCLUDES = [
  "src/platform/darwin/platform.ts",
  "src/platform/linux/platform.ts",
  "src/tun/setup.ts",
  "src/worker/entry.ts",
];

async function inTempDir<T>(f: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "tunbox-compile-" });
  try {
    return await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("`TARGETS` are the five release targets with their archive os/arch", () => {
  assert.deepEqual(TARGETS.map((t) => [t.triple, t.os, t.arch]), [
    ["x86_64-unknown-linux-gnu", "linux", "x86_64"],
    ["aarch64-unknown-linux-gnu", "linux", "aarch64"],
    ["x86_64-apple-darwin", "darwin", "x86_64"],
    ["aarch64-apple-darwin", "darwin", "aarch64"],
    ["x86_64-pc-windows-msvc", "windows", "x86_64"],
  ]);
  assert.deepEqual(TARGETS.map(binaryName), [
    "tunbox-x86_64-unknown-linux-gnu",
    "tunbox-aarch64-unknown-linux-gnu",
    "tunbox-x86_64-apple-darwin",
    "tunbox-aarch64-apple-darwin",
    "tunbox-x86_64-pc-windows-msvc.exe",
  ]);
});

Deno.test("`compileArgs()` gives every target its triple, output, explicit permissions and includes", async () => {
  const scan = await scanDynamicLoads();
  assert.deepEqual(scan.problems, []);
  for (const target of TARGETS) {
    const args = compileArgs(target, { includes: scan.includes });
    const exe = target.os === "windows" ? ".exe" : "";
    assert.deepEqual(args, [
      "compile",
      "--target",
      target.triple,
      "--output",
      `dist/tunbox-${target.triple}${exe}`,
      "--config",
      "deno.json",
      "--allow-ffi",
      "--allow-read",
      "--allow-write",
      "--allow-net",
      "--allow-env",
      "--allow-sys",
      "--allow-run",
      "--no-code-cache",
      "--v8-flags=--max-semi-space-size=2,--expose-gc",
      ...scan.includes.flatMap((f) => ["--include", f]),
      "main.ts",
    ]);
    for (const f of REQUIRED_INCLUDES) {
      assert.ok(args.includes(f) && args[args.indexOf(f) - 1] === "--include", f);
    }
    assert.ok(!args.some((a) => a === "-A" || a === "--allow-all"), "never -A");
  }
  assert.equal(
    outputPath(TARGETS[4]!, "/tmp/out/"),
    "/tmp/out/tunbox-x86_64-pc-windows-msvc.exe",
  );
});

Deno.test("`scanDynamicLoads()` covers every Worker entry and dynamic import in src/", async () => {
  const scan = await scanDynamicLoads();
  assert.deepEqual(scan.problems, []);
  for (const f of REQUIRED_INCLUDES) assert.ok(scan.includes.includes(f), f);
  assert.deepEqual(scan.includes, [...new Set(scan.resolved.map((s) => s.target))].sort());
  const sites = scan.resolved.map((s) => `${s.file} -> ${s.target}`);
  for (
    const site of [
      "src/box.ts -> src/worker/entry.ts",
      "src/cli/cleanup.ts -> src/tun/setup.ts",
      "src/platform/load.ts -> src/platform/darwin/platform.ts",
      "src/platform/load.ts -> src/platform/linux/platform.ts",
      "src/worker/tun_inbound.ts -> src/worker/entry.ts",
    ]
  ) assert.ok(sites.includes(site), `${site} in ${sites.join(", ")}`);
  assert.deepEqual(
    [...new Set(scan.indirect.map((s) => s.file))].sort(),
    Object.keys(INDIRECT_LOADS).sort(),
  );
  // Cross-check with a plain text search: every file that starts a Worker or imports
  // dynamically is either a resolved site or an accounted indirect one.
  const files = new Set([...scan.resolved, ...scan.indirect].map((s) => s.file));
  const out = await new Deno.Command("grep", {
    args: ["-rlE", String.raw`new Worker\(|[^.]import\(\s*[^"' ]|await import\(`, "src", "ffi"],
    cwd: ROOT,
    stdout: "piped",
  }).output();
  const grepped = new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "");
  assert.ok(grepped.length >= 3, `grep found ${grepped.join(", ")}`);
  for (const f of grepped) {
    assert.ok(files.has(f), `${f} loads code at run time but the scan missed it`);
  }
});

Deno.test("`scanDynamicLoads()` stops on a new Worker it cannot see and includes one it can", async () => {
  await inTempDir(async (dir) => {
    const root = `${dir}/`;
    await Deno.mkdir(`${root}src/x`, { recursive: true });
    await Deno.mkdir(`${root}ffi`);
    await Deno.writeTextFile(`${root}main.ts`, 'import "./src/x/a.ts";\n');
    await Deno.writeTextFile(
      `${root}src/x/a.ts`,
      [
        "// new Worker(commented) and import(commented) are not loads",
        'const s = "new Worker(in a string) // not a comment";',
        'const w = new Worker(new URL("./w.ts", import.meta.url), { type: "module" });',
        "const entry = pick();",
        "const v = new Worker(entry, { type: 'module' });",
        'type T = import("./types.ts").Thing;',
        'const m = await import("../y.ts");',
        "",
      ].join("\n"),
    );
    await Deno.writeTextFile(`${root}src/x/w.ts`, "");
    await Deno.writeTextFile(`${root}src/y.ts`, "");
    const scan = await scanDynamicLoads(root, {});
    assert.deepEqual(scan.includes, ["src/x/w.ts", "src/y.ts"]);
    assert.equal(scan.problems.length, 1, scan.problems.join("\n"));
    assert.match(
      scan.problems[0]!,
      /^src\/x\/a\.ts:5: new Worker\(entry, …\) loads a module this script cannot see/,
    );
    // Accounting for it clears the problem; a stale entry is reported.
    const ok = await scanDynamicLoads(root, { "src/x/a.ts": "entry is w.ts" });
    assert.deepEqual(ok.problems, []);
    const stale = await scanDynamicLoads(root, { "src/x/a.ts": "w", "src/gone.ts": "old" });
    assert.deepEqual(stale.problems, [
      "INDIRECT_LOADS names src/gone.ts, which has no indirect load any more: remove it",
    ]);
    // A referenced file that does not exist is a problem too.
    await Deno.remove(`${root}src/x/w.ts`);
    const missing = await scanDynamicLoads(root, { "src/x/a.ts": "w" });
    assert.equal(missing.problems.length, 1);
    assert.match(
      missing.problems[0]!,
      /^src\/x\/a\.ts:3: new URL.*names src\/x\/w\.ts, which does not exist$/,
    );
  });
});

Deno.test("`stripComments()` blanks comments, keeps strings and line numbers", () => {
  const src = [
    'const a = "// not a comment"; // a comment',
    "/* block",
    "   import(x) */ const b = '/* kept */';",
    "const r = /it's/; const c = 1; // after a regex with a quote",
  ].join("\n");
  const out = stripComments(src);
  assert.equal(out.split("\n").length, 4);
  assert.match(out, /"\/\/ not a comment";\s*$/m);
  assert.ok(!out.includes("a comment\n"));
  assert.ok(!out.includes("import(x)"));
  assert.ok(out.includes("'/* kept */'"));
  assert.ok(out.includes("const c = 1;"));
  assert.ok(!out.includes("after a regex"));
});

Deno.test("`deno.json` tasks: compile runs the script, run uses the same permissions", async () => {
  const json = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  assert.equal(json.tasks.compile, "deno run -A scripts/compile.ts");
  assert.equal(json.tasks.run, `deno run ${RUN_PERMISSIONS.join(" ")} main.ts run`);
});

Deno.test("`downloadFailureLine()` recognises deno compile's runtime download error only", () => {
  const target = TARGETS[3]!;
  const stderr = [
    "error: Writing deno compile executable to temporary file 'dist/x.tmp-1'",
    "",
    "Caused by:",
    "    0: Setting up base binary.",
    "    1: error sending request for url (https://dl.deno.land/release/v2.9.6/denort-aarch64-apple-darwin.zip): client error (Connect)",
  ].join("\n");
  const line = downloadFailureLine(target, stderr);
  assert.equal(
    line,
    "compile: cannot build aarch64-apple-darwin: deno compile needs to download its runtime " +
      "(denort, https://dl.deno.land/release/v2.9.6/denort-aarch64-apple-darwin.zip) and this " +
      'machine cannot reach it; run "deno task compile" on a machine with internet access (the ' +
      "release workflow does), or set DENORT_BIN to a local denort binary for this target",
  );
  assert.equal(downloadFailureLine(target, "error: TS2322 [ERROR]: Type 'string' ..."), undefined);
});

Deno.test("`compileAll()` with an injected deno: builds in order, writes SHA256SUMS, stops on failure", async () => {
  await inTempDir(async (dir) => {
    const calls: string[][] = [];
    const out: string[] = [];
    const err: string[] = [];
    const runner = async (args: string[]): Promise<RunResult> => {
      calls.push(args);
      const output = args[args.indexOf("--output") + 1]!;
      await Deno.writeTextFile(output, `binary for ${args[args.indexOf("--target") + 1]}`);
      return { code: 0, stderr: "" };
    };
    const code = await compileAll({
      outDir: dir,
      runner,
      out: (l) => out.push(l),
      err: (l) => err.push(l),
    });
    assert.equal(code, 0, err.join("\n"));
    assert.deepEqual(calls.map((a) => a[2]), TARGETS.map((t) => t.triple));
    const sums = await Deno.readTextFile(`${dir}/SHA256SUMS`);
    assert.deepEqual(
      sums.trimEnd().split("\n").map((l) => l.split("  ")[1]),
      TARGETS.map(binaryName),
    );
    const check = await new Deno.Command("sha256sum", { args: ["-c", "SHA256SUMS"], cwd: dir })
      .output();
    assert.equal(check.code, 0, new TextDecoder().decode(check.stdout));
    assert.equal(out.at(-1), `wrote ${dir}/SHA256SUMS (5 file(s))`);

    // A type error is passed through; the next targets are not tried.
    const failing: string[][] = [];
    const err2: string[] = [];
    const code2 = await compileAll({
      outDir: dir,
      runner: (args) => {
        failing.push(args);
        return Promise.resolve({ code: 1, stderr: "error: TS2322 [ERROR]: bad type\n" });
      },
      out: () => {},
      err: (l) => err2.push(l),
    });
    assert.equal(code2, 1);
    assert.equal(failing.length, 1);
    assert.deepEqual(err2, [
      "compile: deno compile failed for x86_64-unknown-linux-gnu (exit 1):",
      "error: TS2322 [ERROR]: bad type",
    ]);
  });
});

Deno.test("`writeSha256Sums()` matches sha256sum", async () => {
  await inTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/a`, "hello\n");
    const text = await writeSha256Sums(dir, ["a"]);
    assert.equal(text, "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  a\n");
  });
});

Deno.test({
  name: "`deno task compile` where denort cannot be downloaded: one line, exit 1, fast",
  sanitizeResources: false,
  fn: async () => {
    await inTempDir(async (dir) => {
      const target = TARGETS[0]!;
      const env: Record<string, string> = {
        ...Deno.env.toObject(),
        // A closed loopback port: the runtime download fails at once, on any machine.
        HTTPS_PROXY: "http://127.0.0.1:9",
        https_proxy: "http://127.0.0.1:9",
        NO_COLOR: "1",
      };
      delete env.DENORT_BIN;
      delete env.NO_PROXY;
      delete env.no_proxy;
      const started = Date.now();
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "scripts/compile.ts", "--target", target.triple, "--out-dir", dir],
        cwd: ROOT,
        env,
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
      const r = await child.output();
      clearTimeout(timer);
      const seconds = (Date.now() - started) / 1000;
      const stdout = new TextDecoder().decode(r.stdout);
      const stderr = new TextDecoder().decode(r.stderr);
      const cached = `${denoDir()}/dl/release/v${Deno.version.deno}/denort-${target.triple}.zip`;
      if (r.code === 0) {
        // Only possible when this machine already has the runtime cached.
        assert.ok(exists(cached), `compiled without a cached runtime?\n${stdout}${stderr}`);
        assert.ok((await Deno.stat(`${dir}/${binaryName(target)}`)).size > 1e6);
        return;
      }
      assert.equal(r.code, 1, stderr);
      assert.equal(stdout, "");
      const lines = stderr.split("\n").filter((l) => l !== "");
      assert.equal(lines.length, 1, stderr);
      assert.match(
        lines[0]!,
        /^compile: cannot build x86_64-unknown-linux-gnu: deno compile needs to download its runtime \(denort, https:\/\/dl\.deno\.land\/\S+denort-x86_64-unknown-linux-gnu\.zip\) and this machine cannot reach it; run "deno task compile" on a machine with internet access/,
      );
      // No timed assertion (it failed on a loaded machine): the 120 s kill above bounds a hang,
      // and a killed compile does not exit 1 with this message.
      console.log(`      failed cleanly in ${seconds.toFixed(1)} s`);
      assert.ok(!exists(`${dir}/SHA256SUMS`));
    });
  },
});

function denoDir(): string {
  return Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("the Windows binary builds, and its `run` stops with one sentence", async () => {
  const { unsupportedOsMessage } = await import("../../src/cli/run.ts");
  assert.equal(
    unsupportedOsMessage("windows"),
    "tunbox does not support windows: TUN mode needs Linux or macOS",
  );
  assert.equal(unsupportedOsMessage("linux"), undefined);
  assert.equal(unsupportedOsMessage("darwin"), undefined);
  assert.ok(TARGETS.some((t) => t.os === "windows"));
});
