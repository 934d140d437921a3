/**
 * The release path: `.github/workflows/release.yml` (parsed by PyYAML; trigger, Deno version,
 * steps, and its shell run with `deno`/`gh` replaced by recorders) and `scripts/package.ts`
 * (archives named `tunbox-<version>-<os>-<arch>`, their contents, `SHA256SUMS`).
 */

import assert from "node:assert/strict";
import { binaryName, ROOT, TARGETS } from "../../scripts/compile.ts";
import { archiveBase, archiveName, packageAll, projectVersion } from "../../scripts/package.ts";

const WORKFLOW = `${ROOT}.github/workflows/release.yml`;
const decoder = new TextDecoder();

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, unknown>;
}

/** Parses YAML with python3's PyYAML (a full YAML parser); throws with its error. */
async function parseYaml(text: string): Promise<Record<string, unknown>> {
  const child = new Deno.Command("python3", {
    args: ["-c", "import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  const out = await child.output();
  if (!out.success) throw new SyntaxError(`PyYAML: ${decoder.decode(out.stderr).trim()}`);
  return JSON.parse(decoder.decode(out.stdout));
}

async function workflow(): Promise<{ doc: Record<string, unknown>; steps: Step[] }> {
  const doc = await parseYaml(await Deno.readTextFile(WORKFLOW));
  const jobs = doc.jobs as Record<string, { "runs-on": string; steps: Step[] }>;
  assert.deepEqual(Object.keys(jobs), ["release"]);
  return { doc, steps: jobs.release!.steps };
}

async function bash(script: string, cwd: string, env: Record<string, string>) {
  const out = await new Deno.Command("bash", {
    args: ["-euo", "pipefail", "-c", script],
    cwd,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

async function inTempDir<T>(f: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "tunbox-release-" });
  try {
    return await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("`parseYaml()` rejects broken YAML (the validator can fail)", async () => {
  await assert.rejects(parseYaml("on:\n  push: [\n"), SyntaxError);
});

Deno.test("release.yml parses and runs on v* tags only, with write access to releases", async () => {
  const { doc } = await workflow();
  // YAML 1.1 (PyYAML) reads the key `on` as the boolean true.
  const on = (doc.on ?? doc.true) as Record<string, unknown>;
  assert.deepEqual(on, { push: { tags: ["v*"] } });
  assert.deepEqual(doc.permissions, { contents: "write" });
});

Deno.test("release.yml sets up the Deno of .deno-version and runs check, compile, package, publish", async () => {
  const { doc, steps } = await workflow();
  const jobs = doc.jobs as Record<string, Record<string, unknown>>;
  assert.equal(jobs.release!["runs-on"], "ubuntu-latest");
  assert.match(steps[0]!.uses!, /^actions\/checkout@v\d+$/);
  const setup = steps.find((s) => s.uses?.startsWith("denoland/setup-deno@"));
  assert.ok(setup, "a denoland/setup-deno step");
  const pinned = (await Deno.readTextFile(`${ROOT}.deno-version`)).trim();
  assert.equal(setup.with?.["deno-version"], pinned);
  const runs = steps.filter((s) => s.run !== undefined).map((s) => s.run!.trim());
  assert.equal(runs[0], "deno task check");
  assert.equal(runs[1], "deno task compile");
  assert.match(runs[2]!, /^deno run -A scripts\/package\.ts /);
  assert.match(runs[3]!, /gh release (create|upload)/);
  assert.ok(steps.indexOf(setup) < steps.findIndex((s) => s.run !== undefined));
});

Deno.test("release.yml's package step passes the tag without its v", async () => {
  const { steps } = await workflow();
  const step = steps.find((s) => s.run?.includes("scripts/package.ts"))!;
  await inTempDir(async (dir) => {
    // `deno` replaced by a function that prints its arguments, one per line.
    const r = await bash(`deno() { printf '%s\\n' "$@"; }\n${step.run}`, dir, {
      GITHUB_REF_NAME: "v1.2.3",
      PATH: Deno.env.get("PATH")!,
    });
    assert.equal(r.code, 0, r.stderr);
    const args = r.stdout.trimEnd().split("\n");
    assert.deepEqual(args.slice(0, 3), ["run", "-A", "scripts/package.ts"]);
    assert.equal(args[args.indexOf("--version") + 1], "1.2.3");
    assert.equal(args[args.indexOf("--dist") + 1], "dist");
    assert.equal(args[args.indexOf("--out") + 1], "release");
  });
});

Deno.test("release.yml's publish step uploads every archive and SHA256SUMS", async () => {
  const { steps } = await workflow();
  const step = steps.find((s) => s.run?.includes("gh release"))!;
  assert.equal(step.env?.GH_TOKEN, "${{ github.token }}");
  await inTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/release`);
    const names = TARGETS.map((t) => archiveName("1.2.3", t));
    for (const n of [...names, "SHA256SUMS"]) await Deno.writeTextFile(`${dir}/release/${n}`, "");
    for (const existing of [false, true]) {
      // `gh` replaced by a recorder; `gh release view` says whether the release exists.
      const fake = `gh() { if [ "$1 $2" = "release view" ]; then return ${
        existing ? 0 : 1
      }; fi; printf '%s\\n' "$@"; }\n`;
      const r = await bash(fake + step.run, dir, {
        GITHUB_REF_NAME: "v1.2.3",
        PATH: Deno.env.get("PATH")!,
      });
      assert.equal(r.code, 0, r.stderr);
      const args = r.stdout.trimEnd().split("\n");
      assert.deepEqual(args.slice(0, 3), ["release", existing ? "upload" : "create", "v1.2.3"]);
      const uploaded = args.filter((a) => a.startsWith("release/")).map((a) => a.slice(8)).sort();
      assert.deepEqual(uploaded, [...names, "SHA256SUMS"].sort());
      if (existing) assert.ok(args.includes("--clobber"));
      else assert.ok(args.includes("--verify-tag"));
    }
  });
});

Deno.test("`archiveName()` is tunbox-<version>-<os>-<arch> with .tar.gz or .zip", () => {
  assert.deepEqual(TARGETS.map((t) => archiveName("0.1.0", t)), [
    "tunbox-0.1.0-linux-x86_64.tar.gz",
    "tunbox-0.1.0-linux-aarch64.tar.gz",
    "tunbox-0.1.0-darwin-x86_64.tar.gz",
    "tunbox-0.1.0-darwin-aarch64.tar.gz",
    "tunbox-0.1.0-windows-x86_64.zip",
  ]);
});

Deno.test("`packageAll()` packs each binary with README and LICENSE, and SHA256SUMS verifies", async () => {
  await inTempDir(async (dir) => {
    const root = `${dir}/repo/`;
    await Deno.mkdir(`${root}dist`, { recursive: true });
    await Deno.writeTextFile(`${root}README.md`, "# tunbox\n");
    await Deno.writeTextFile(`${root}LICENSE`, "license text\n");
    for (const t of TARGETS) {
      await Deno.writeTextFile(`${root}dist/${binaryName(t)}`, `binary ${t.triple}\n`);
    }
    const out = `${dir}/release`;
    const names = await packageAll({ version: "0.1.0", dist: `${root}dist`, out, root });
    assert.deepEqual(names, TARGETS.map((t) => archiveName("0.1.0", t)));
    for (const t of TARGETS) {
      const base = archiveBase("0.1.0", t);
      const archive = `${out}/${archiveName("0.1.0", t)}`;
      const list = t.os === "windows"
        ? await new Deno.Command("unzip", { args: ["-Z1", archive], stdout: "piped" }).output()
        : await new Deno.Command("tar", { args: ["-tzf", archive], stdout: "piped" }).output();
      assert.ok(list.success);
      const entries = decoder.decode(list.stdout).split("\n").filter((l) => l !== "").sort();
      const bin = t.os === "windows" ? "tunbox.exe" : "tunbox";
      assert.deepEqual(
        entries,
        [`${base}/`, `${base}/LICENSE`, `${base}/README.md`, `${base}/${bin}`].sort(),
      );
      const extract = `${dir}/x-${t.triple}`;
      await Deno.mkdir(extract);
      const x = t.os === "windows"
        ? await new Deno.Command("unzip", { args: ["-q", archive, "-d", extract] }).output()
        : await new Deno.Command("tar", { args: ["-xzf", archive, "-C", extract] }).output();
      assert.ok(x.success);
      assert.equal(await Deno.readTextFile(`${extract}/${base}/${bin}`), `binary ${t.triple}\n`);
      if (t.os !== "windows") {
        assert.equal((await Deno.stat(`${extract}/${base}/${bin}`)).mode! & 0o777, 0o755);
      }
    }
    const check = await new Deno.Command("sha256sum", { args: ["-c", "SHA256SUMS"], cwd: out })
      .output();
    assert.equal(check.code, 0, decoder.decode(check.stdout));
    const sums = (await Deno.readTextFile(`${out}/SHA256SUMS`)).trimEnd().split("\n");
    assert.deepEqual(sums.map((l) => l.split("  ")[1]), names);
  });
});

Deno.test("`packageAll()` without a compiled binary says to run deno task compile", async () => {
  await inTempDir(async (dir) => {
    await assert.rejects(
      packageAll({ version: "0.1.0", dist: `${dir}/dist`, out: `${dir}/out` }),
      /tunbox-x86_64-unknown-linux-gnu is missing: run "deno task compile" first/,
    );
  });
});

Deno.test("scripts/package.ts refuses a tag that does not match deno.json's version", async () => {
  const version = await projectVersion();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "scripts/package.ts", "--version", "v99.0.0"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 1);
  assert.equal(
    decoder.decode(out.stderr),
    `package: version 99.0.0 does not match deno.json's version ${version}\n`,
  );
});
