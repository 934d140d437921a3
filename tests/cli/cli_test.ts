/**
 * End-to-end CLI tests: each runs `deno run -A main.ts ...` in a temporary directory.
 *
 * `run` is only exercised with configs that have no inbounds (or with `--dry-run`), so nothing
 * here touches the machine's network even once the real Box replaces the placeholder.
 */

import assert from "node:assert/strict";
import { at } from "../config/_helpers.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const MAIN = `${ROOT}main.ts`;
const CONFIG = `${ROOT}deno.json`;
const SEED = `${ROOT}tests/fixtures/config/seed.jsonc`;
const SEED_REAL = `${ROOT}tests/fixtures/config/seed_real_ip.jsonc`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function command(args: string[], cwd: string, stdin: "piped" | "null" = "null"): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--config", CONFIG, MAIN, ...args],
    cwd,
    stdin,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  });
}

async function tunbox(args: string[], cwd: string, input?: string | Uint8Array): Promise<Run> {
  const child = command(args, cwd, input === undefined ? "null" : "piped").spawn();
  if (input !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(typeof input === "string" ? new TextEncoder().encode(input) : input);
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function lines(s: string): string[] {
  return s.split("\n").filter((l) => l !== "");
}

async function inTempDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tunbox-cli-" });
  try {
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const seedText = Deno.readTextFileSync(SEED);

const SEED_WARNINGS = (file: string, text: string) => {
  const legacy = (s: string) =>
    `legacy DNS server address is deprecated in sing-box 1.12.0 and removed in 1.14.0, use the typed form {"type": "udp", "server": "${s}", "detour": "v2rayu-proxy"} instead; tunbox upgrades it (sing-box 1.13 refuses it unless ENABLE_DEPRECATED_LEGACY_DNS_SERVERS=true)`;
  return [
    `warning: ${file}:${at(text, '"udp://8.8.8.8"')}: dns.servers[0].address: ${legacy("8.8.8.8")}`,
    `warning: ${file}:${at(text, '"udp://1.1.1.1"')}: dns.servers[1].address: ${legacy("1.1.1.1")}`,
    `warning: ${file}:${
      at(text, '"sniff"')
    }: inbounds[0].sniff: legacy inbound field "sniff" is deprecated in sing-box 1.11.0 and ignored since 1.13.1; false is the default, so it does nothing here: remove it`,
    `warning: ${file}:${
      at(text, '[\n                    "localhost"')
    }: route.rules[1].domain: "domain" can never match here: TUN connections carry only IP addresses, no "sniff" action runs before this rule and dns.reverse_mapping is off (sing-box behaves the same); add a rule {"action": "sniff"} before it`,
    `warning: ${file}:${
      at(text, '"tcp,udp"')
    }: route.rules[4].network: "tcp,udp" is one value to sing-box, which then matches no connection; tunbox reads it as ["tcp","udp"], write it as that list`,
  ];
};

Deno.test("tunbox check -c seed.jsonc reports exactly the placeholder and exits 2", async () => {
  await inTempDir(async (dir) => {
    await Deno.copyFile(SEED, `${dir}/seed.jsonc`);
    const r = await tunbox(["check", "-c", "seed.jsonc"], dir);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    const errs = lines(r.stderr).filter((l) => !l.startsWith("warning: "));
    assert.deepEqual(errs, [
      'seed.jsonc:69:21: route.rules[3].ip_cidr[0]: invalid prefix "3.xxx.xx.82/32": it looks like a redacted placeholder (letters x or * in place of digits); put the real address here',
    ]);
    assert.deepEqual(
      lines(r.stderr).filter((l) => l.startsWith("warning: ")),
      SEED_WARNINGS("seed.jsonc", seedText),
    );
  });
});

Deno.test("tunbox check with a real address exits 0 and prints only the expected warnings", async () => {
  await inTempDir(async (dir) => {
    await Deno.copyFile(SEED_REAL, `${dir}/config.json`);
    // No -c: sing-box's default config.json.
    const r = await tunbox(["check"], dir);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, "");
    assert.deepEqual(
      lines(r.stderr),
      SEED_WARNINGS("config.json", Deno.readTextFileSync(SEED_REAL)),
    );
  });
});

Deno.test("tunbox check -C merges a directory and reports the right file", async () => {
  await inTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/conf.d`);
    await Deno.writeTextFile(
      `${dir}/conf.d/10-out.json`,
      '{"outbounds": [{"type": "direct", "tag": "direct"}]}',
    );
    await Deno.writeTextFile(
      `${dir}/conf.d/20-route.jsonc`,
      '# routes\n{"route": {"final": "proxy"}}',
    );
    const r = await tunbox(["check", "-C", "conf.d"], dir);
    assert.equal(r.code, 2);
    assert.deepEqual(lines(r.stderr), [
      'conf.d/20-route.jsonc:2:21: route.final: unknown outbound "proxy" (defined: "direct")',
    ]);
  });
});

Deno.test("tunbox check -c stdin reads standard input", async () => {
  await inTempDir(async (dir) => {
    const r = await tunbox(["check", "-c", "stdin"], dir, '{"log": {"level": "verbose"}}');
    assert.equal(r.code, 2);
    assert.deepEqual(lines(r.stderr), [
      'stdin:1:19: log.level: invalid value "verbose"; expected one of "trace", "debug", "info", "warn", "error", "fatal", "panic"',
    ]);
  });
});

Deno.test("tunbox format prints the formatted file and leaves it alone", async () => {
  await inTempDir(async (dir) => {
    const text = '{"log":{"level":"info"}, # keep\n"outbounds":[]}';
    await Deno.writeTextFile(`${dir}/c.json`, text);
    const r = await tunbox(["format", "-c", "c.json"], dir);
    assert.equal(r.code, 0);
    assert.equal(
      r.stdout,
      '{\n  "log": {\n    "level": "info"\n  }, # keep\n  "outbounds": []\n}\n',
    );
    assert.equal(await Deno.readTextFile(`${dir}/c.json`), text);
  });
});

Deno.test("tunbox format -w rewrites the file in place, keeping ## comments", async () => {
  await inTempDir(async (dir) => {
    await Deno.copyFile(SEED, `${dir}/seed.jsonc`);
    const r = await tunbox(["format", "-w", "-c", "seed.jsonc"], dir);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, "");
    assert.deepEqual(lines(r.stderr), [`${await Deno.realPath(dir)}/seed.jsonc`]);
    const written = await Deno.readTextFile(`${dir}/seed.jsonc`);
    assert.ok(
      written.includes(
        '  "inbounds": [\n    {\n      ## Define inbound as Tun mode\n      "type": "tun",',
      ),
    );
    const again = await tunbox(["format", "-w", "-c", "seed.jsonc"], dir);
    assert.equal(again.code, 0);
    assert.equal(again.stderr, "", "an already formatted file is not rewritten");
  });
});

Deno.test("tunbox format refuses a file with a syntax error", async () => {
  await inTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/c.json`, '{\n  "a": [1,,]\n}');
    const r = await tunbox(["format", "-w", "-c", "c.json"], dir);
    assert.equal(r.code, 2);
    assert.deepEqual(lines(r.stderr), ["c.json:2:11: two commas in a row (a value is missing)"]);
    assert.equal(await Deno.readTextFile(`${dir}/c.json`), '{\n  "a": [1,,]\n}');
  });
});

Deno.test("tunbox merge writes the merged config as JSON", async () => {
  await inTempDir(async (dir) => {
    await Deno.writeTextFile(
      `${dir}/a.json`,
      '// base\n{"log": {"level": "info"}, "outbounds": [{"type": "direct", "tag": "direct"}]}',
    );
    await Deno.writeTextFile(
      `${dir}/b.json`,
      '{"log": {"level": "debug", "timestamp": true}, "outbounds": [{"type": "block", "tag": "block"}]}',
    );
    const r = await tunbox(["merge", "out.json", "-c", "a.json", "-c", "b.json"], dir);
    assert.equal(r.code, 0);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/out.json`)), {
      log: { level: "info", timestamp: true },
      outbounds: [{ type: "direct", tag: "direct" }, { type: "block", tag: "block" }],
    });
    assert.ok(
      (await Deno.readTextFile(`${dir}/out.json`)).startsWith(
        '{\n  "log": {\n    "level": "info",',
      ),
    );
  });
});

Deno.test("tunbox merge does not write output for an invalid config", async () => {
  await inTempDir(async (dir) => {
    await Deno.writeTextFile(
      `${dir}/a.json`,
      '{"outbounds": [{"type": "direct", "tag": "d", "mark": 1}]}',
    );
    const r = await tunbox(["merge", "out.json", "-c", "a.json"], dir);
    assert.equal(r.code, 2);
    assert.deepEqual(lines(r.stderr), [
      'a.json:1:47: outbounds[0].mark: unknown field "mark" in a "direct" outbound',
    ]);
    await assert.rejects(Deno.stat(`${dir}/out.json`), Deno.errors.NotFound);
  });
});

Deno.test("tunbox version prints the version, Deno and the platform", async () => {
  const version = JSON.parse(Deno.readTextFileSync(CONFIG)).version;
  const r = await tunbox(["version"], ROOT);
  assert.equal(r.code, 0);
  const out = lines(r.stdout);
  assert.equal(out[0], `tunbox ${version}`);
  assert.ok(out[1]!.startsWith(`Environment: Deno ${Deno.version.deno} `));
  assert.ok(out[1]!.endsWith(` ${Deno.build.os}/${Deno.build.arch}`));
  const n = await tunbox(["version", "-n"], ROOT);
  assert.equal(n.stdout, `${version}\n`);
});

Deno.test("tunbox --help and <command> --help print usage and exit 0", async () => {
  const main = await tunbox(["--help"], ROOT);
  assert.equal(main.code, 0);
  for (const c of ["run", "check", "format", "merge", "version", "cleanup"]) {
    assert.match(main.stdout, new RegExp(`^  ${c} `, "m"));
  }
  for (const c of ["run", "check", "format", "merge", "version", "cleanup"]) {
    const r = await tunbox([c, "--help"], ROOT);
    assert.equal(r.code, 0, c);
    assert.match(r.stdout, new RegExp(`^Usage: tunbox ${c}`, "m"), c);
  }
  const help = await tunbox(["help", "format"], ROOT);
  assert.match(help.stdout, /-w, --write/);
});

Deno.test("tunbox rejects unknown flags, commands and arguments with exit 2", async () => {
  const cases: [string[], string][] = [
    [["check", "--bogus"], "tunbox: unknown flag '--bogus'"],
    [["frobnicate"], 'tunbox: unknown command "frobnicate"'],
    [["check", "-w"], 'tunbox: unknown flag -w for command "check"'],
    [["check", "extra.json"], 'tunbox: unexpected argument "extra.json" for "check"'],
    [["merge"], 'tunbox: "merge" needs 1 argument(s): tunbox merge <output> [flags]'],
  ];
  for (const [args, message] of cases) {
    const r = await tunbox(args, ROOT);
    assert.equal(r.code, 2, args.join(" "));
    assert.deepEqual(lines(r.stderr), [message, 'Run "tunbox --help" for usage.']);
  }
  const none = await tunbox([], ROOT);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^Usage: tunbox <command> \[flags\]$/m);
});

Deno.test("tunbox check never crashes on bad input: one line, exit 2", async () => {
  await inTempDir(async (dir) => {
    await Deno.writeFile(
      `${dir}/utf8.json`,
      new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
    );
    await Deno.writeTextFile(`${dir}/empty.json`, "");
    await Deno.writeTextFile(`${dir}/deep.json`, "[".repeat(100_000) + "]".repeat(100_000));
    const big = await Deno.open(`${dir}/big.json`, { write: true, create: true });
    const chunk = new TextEncoder().encode(" ".repeat(1 << 20));
    for (let i = 0; i < 50; i++) await big.write(chunk);
    big.close();
    const expected: Record<string, string> = {
      "utf8.json": "utf8.json:1:7: the file is not valid UTF-8 (byte 0xff at offset 6)",
      "empty.json": "empty.json: the file is empty (expected a JSON object)",
      "deep.json": "deep.json:1:513: arrays and objects are nested deeper than 512 levels",
      "big.json": "big.json: the file is too large (52428800 bytes; the limit is 16777216)",
    };
    for (const [file, line] of Object.entries(expected)) {
      const r = await tunbox(["check", "-c", file], dir);
      assert.equal(r.code, 2, file);
      assert.deepEqual(lines(r.stderr), [line], file);
      assert.equal(r.stdout, "", file);
    }
    const piped = await tunbox(["check", "-c", "stdin"], dir, "[".repeat(100_000));
    assert.equal(piped.code, 2);
    assert.deepEqual(lines(piped.stderr), [
      "stdin:1:513: arrays and objects are nested deeper than 512 levels",
    ]);
  });
});

Deno.test("tunbox -D changes to (and creates) the working directory first", async () => {
  await inTempDir(async (dir) => {
    const r = await tunbox(["check", "-D", "work/sub"], dir);
    assert.equal(r.code, 2);
    assert.deepEqual(lines(r.stderr), ["config.json: cannot read config: no such file"]);
    assert.ok((await Deno.stat(`${dir}/work/sub`)).isDirectory);
    await Deno.writeTextFile(`${dir}/work/sub/config.json`, "{}");
    const ok = await tunbox(["check", "-D", "work/sub"], dir);
    assert.equal(ok.code, 0);
  });
});

Deno.test("tunbox run --dry-run prints the decoded summary and exits 0", async () => {
  await inTempDir(async (dir) => {
    await Deno.copyFile(SEED_REAL, `${dir}/config.json`);
    const r = await tunbox(["run", "--dry-run", "config.json"], dir);
    assert.equal(r.code, 0, r.stderr);
    const out = lines(r.stdout);
    assert.equal(out[0], "dry run: nothing on this system is changed");
    assert.ok(
      out.includes("  tun-in: tun utun8  198.18.0.1/16  stack=mixed  auto_route  strict_route"),
    );
    assert.ok(out.includes("  v2rayu-proxy: socks 127.0.0.1:1080"));
    assert.ok(out.includes("  [3] ip_cidr=3.1.2.82/32 => route direct  (config.json:66:13)"));
    assert.ok(out.includes("  [4] network=tcp,udp => route v2rayu-proxy  (config.json:73:13)"));
    assert.ok(out.includes("  final => v2rayu-proxy (default)"));
    // Config warnings go through the logger (timestamp on, as the seed asks).
    assert.match(
      r.stderr,
      /^[+-]\d{4} \d{4}-\d\d-\d\d \d\d:\d\d:\d\d WARN config: config\.json:28:13: inbounds\[0\]\.sniff: /m,
    );
  });
});

Deno.test("tunbox run exits 2 on configuration errors without starting", async () => {
  await inTempDir(async (dir) => {
    await Deno.copyFile(SEED, `${dir}/config.json`);
    const r = await tunbox(["run"], dir);
    assert.equal(r.code, 2);
    assert.equal(lines(r.stderr).filter((l) => !l.startsWith("warning: ")).length, 1);
    assert.doesNotMatch(r.stderr, /started/);
  });
});

/** Reads a child's stderr line by line, waiting for a line that matches. */
class LineReader {
  readonly lines: string[] = [];
  #buf = "";
  #reader: ReadableStreamDefaultReader<string>;
  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  }
  /** Waits until `count` lines match `re`; returns the last of them. */
  async waitFor(re: RegExp, count = 1, timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.filter((l) => re.test(l));
      if (found.length >= count) return found[found.length - 1]!;
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${re}; got:\n${this.lines.join("\n")}`);
      }
      const { value, done } = await this.#reader.read();
      if (done) throw new Error(`stream ended before ${re}; got:\n${this.lines.join("\n")}`);
      this.#buf += value;
      const parts = this.#buf.split("\n");
      this.#buf = parts.pop()!;
      this.lines.push(...parts);
    }
  }
  async rest(): Promise<string[]> {
    for (;;) {
      const { value, done } = await this.#reader.read();
      if (done) break;
      this.#buf += value;
    }
    this.lines.push(...this.#buf.split("\n").filter((l) => l !== ""));
    this.#buf = "";
    return this.lines;
  }
}

Deno.test("tunbox run stops on SIGTERM with exit 0 and reloads on SIGHUP", async () => {
  await inTempDir(async (dir) => {
    // No inbounds: nothing is opened on this machine.
    await Deno.writeTextFile(
      `${dir}/config.json`,
      '{"outbounds": [{"type": "direct", "tag": "direct"}]}',
    );
    const child = command(["run", "-c", "config.json"], dir).spawn();
    const err = new LineReader(child.stderr);
    try {
      await err.waitFor(/cli: tunbox started/);
      // A broken config on SIGHUP is reported and the running instance is kept.
      await Deno.writeTextFile(
        `${dir}/config.json`,
        '{"outbounds": [{"type": "direct", "tag": "direct", "bogus": 1}]}',
      );
      child.kill("SIGHUP");
      await err.waitFor(/cli: reload failed; the running configuration is kept/);
      assert.ok(
        err.lines.some((l) =>
          l.includes("ERROR[") &&
          l.includes(
            'config: reload service: config.json:1:52: outbounds[0].bogus: unknown field "bogus"',
          )
        ),
      );
      // A good config on SIGHUP replaces the instance.
      await Deno.writeTextFile(
        `${dir}/config.json`,
        '{"log": {"level": "debug"}, "outbounds": [{"type": "direct", "tag": "d2"}]}',
      );
      child.kill("SIGHUP");
      await err.waitFor(/cli: reloading configuration \(SIGHUP\)/, 2);
      await err.waitFor(/cli: tunbox started/, 2);
      child.kill("SIGTERM");
      const status = await child.status;
      const all = await err.rest();
      assert.equal(status.code, 0, all.join("\n"));
      assert.ok(all.some((l) => /cli: stopping \(SIGTERM\)/.test(l)));
      assert.ok(all.some((l) => /cli: stopped$/.test(l)), all.join("\n"));
    } finally {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already exited.
      }
      await child.stdout.cancel().catch(() => {});
    }
  });
});

Deno.test("check and run --dry-run print the same problems, in the same words at the same line:column", async () => {
  const corpus = `${ROOT}tests/fixtures/configs/`;
  // Accepted with many warnings (1.8-era fields, keys in another case) and refused (geosite).
  for (
    const name of [
      "linux-legacy-1.8.json",
      "linux-case-insensitive-keys.json",
      "router-openwrt-1.8-geo.json",
    ]
  ) {
    await inTempDir(async (dir) => {
      await Deno.copyFile(corpus + name, `${dir}/${name}`);
      const check = await tunbox(["check", "-c", name], dir);
      const run = await tunbox(["run", "--dry-run", "-c", name], dir);
      const diag = new RegExp(`^(warning: )?${name.replaceAll(".", "\\.")}:\\d+:\\d+: `);
      const checked = lines(check.stderr).filter((l) => diag.test(l));
      assert.ok(checked.length > 0, `${name}: check printed no problem:\n${check.stderr}`);
      if (check.code === 0) {
        assert.equal(run.code, 0, run.stderr);
        // run logs each warning through the logger: "WARN[0000] config: <the same line>" (or
        // "<time> WARN config: ..." when the config turns timestamps on).
        const logged = lines(run.stderr).flatMap((l) => {
          const m = /(?:^|\s)WARN(?:\[\d+\])? config: (.*)$/.exec(l);
          return m ? [`warning: ${m[1]}`] : [];
        });
        assert.deepEqual(logged, checked, name);
      } else {
        assert.equal(run.code, check.code, run.stderr);
        assert.deepEqual(lines(run.stderr).filter((l) => diag.test(l)), checked, name);
      }
    });
  }
});
