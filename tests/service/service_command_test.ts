/**
 * `tunbox service` (`src/cli/service.ts`): dry-run output on Linux and macOS (the OS is
 * injected), the root and OS checks, the refusal of a config with errors, and install /
 * status / uninstall carried out against a temporary root directory with a command recorder in
 * place of systemctl/launchctl (nothing on this machine's /etc is touched). Last, the real CLI
 * through main.ts for the paths that change nothing.
 */

import assert from "node:assert/strict";
import { serviceCommand, type ServiceEnv, type ServiceInit } from "../../src/cli/service.ts";
import type { CommandOutput } from "../../src/service/execute.ts";
import { launchdPlist } from "../../src/service/launchd.ts";
import type { Program } from "../../src/service/program.ts";
import { systemdUnit } from "../../src/service/systemd.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const PROGRAM: Program = {
  executable: "/usr/local/bin/tunbox",
  args: [],
  env: {},
  kind: "binary",
};

const GOOD_CONFIG = `{
  // a comment survives the copy
  "inbounds": [
    { "type": "tun", "tag": "tun-in", "address": ["172.19.0.1/30"], "auto_route": true }
  ],
  "outbounds": [{ "type": "direct", "tag": "direct" }],
  "route": { "auto_detect_interface": true }
}
`;

const BAD_CONFIG = `{
  "inbounds": [{ "type": "tun", "tag": "tun-in", "address": ["172.19.0.1/30"], "mtu": "big" }],
  "outbounds": [{ "type": "direct", "tag": "direct" }]
}
`;

interface Harness {
  env: ServiceEnv;
  out: string[];
  err: string[];
  commands: string[][];
  /** Answers for commands, by the command line joined with spaces. */
  answers: Map<string, CommandOutput>;
  root: string;
}

async function harness(os: string, uid: number | null = 0): Promise<Harness> {
  const root = await Deno.makeTempDir({ prefix: "tunbox-svc-root-" });
  for (const d of ["etc/systemd/system", "Library/LaunchDaemons"]) {
    await Deno.mkdir(`${root}/${d}`, { recursive: true });
  }
  const h: Harness = {
    out: [],
    err: [],
    commands: [],
    answers: new Map(),
    root,
    env: undefined as unknown as ServiceEnv,
  };
  h.env = {
    os,
    uid,
    program: () => PROGRAM,
    host: {
      root,
      runCommand: (argv) => {
        h.commands.push([...argv]);
        return Promise.resolve(
          h.answers.get(argv.join(" ")) ?? { code: 0, stdout: "", stderr: "" },
        );
      },
    },
    out: (l) => h.out.push(l),
    err: (l) => h.err.push(l),
  };
  return h;
}

async function withHarness(
  os: string,
  f: (h: Harness) => Promise<void>,
  uid: number | null = 0,
): Promise<void> {
  const h = await harness(os, uid);
  try {
    await f(h);
  } finally {
    await Deno.remove(h.root, { recursive: true });
  }
}

function init(action: string, more: Partial<ServiceInit> = {}): ServiceInit {
  return {
    action,
    configs: [],
    configDirectories: [],
    dryRun: false,
    purge: false,
    color: false,
    ...more,
  };
}

async function writeConfig(text: string): Promise<string> {
  const path = await Deno.makeTempFile({ prefix: "tunbox-svc-config-", suffix: ".json" });
  await Deno.writeTextFile(path, text);
  return await Deno.realPath(path);
}

function indented(text: string): string[] {
  return text.replace(/\n$/, "").split("\n").map((l) => `    ${l}`);
}

Deno.test("service install --dry-run on Linux prints the unit and the systemctl commands", async () => {
  const config = await writeConfig(GOOD_CONFIG);
  try {
    await withHarness("linux", async (h) => {
      const code = await serviceCommand(
        init("install", { configs: [config], dryRun: true }),
        h.env,
      );
      assert.equal(code, 0, h.err.join("\n"));
      assert.deepEqual(h.err, []);
      assert.deepEqual(h.out, [
        "dry run: nothing on this system is changed",
        "create directory /etc/tunbox (mode 0755)",
        `write /etc/tunbox/config.json (mode 0600): a copy of ${config}`,
        "write /etc/systemd/system/tunbox.service (mode 0644):",
        ...indented(systemdUnit(PROGRAM)),
        "run systemctl daemon-reload",
        "run systemctl enable tunbox.service",
        "run systemctl restart tunbox.service",
      ]);
      assert.deepEqual(h.commands, [], "nothing was run");
      assert.deepEqual([...Deno.readDirSync(`${h.root}/etc/systemd/system`)], []);
    }, 1000);
  } finally {
    await Deno.remove(config);
  }
});

Deno.test("service install --dry-run on macOS prints the plist and the launchctl commands", async () => {
  const config = await writeConfig(GOOD_CONFIG);
  try {
    await withHarness("darwin", async (h) => {
      const code = await serviceCommand(
        init("install", { configs: [config], dryRun: true }),
        h.env,
      );
      assert.equal(code, 0, h.err.join("\n"));
      assert.deepEqual(h.out, [
        "dry run: nothing on this system is changed",
        "create directory /etc/tunbox (mode 0755)",
        `write /etc/tunbox/config.json (mode 0600): a copy of ${config}`,
        "write /Library/LaunchDaemons/com.tunbox.tunbox.plist (mode 0644):",
        ...indented(launchdPlist(PROGRAM)),
        "run launchctl bootout system/com.tunbox.tunbox (fails when the daemon is not loaded yet)",
        "run launchctl enable system/com.tunbox.tunbox",
        "run launchctl bootstrap system /Library/LaunchDaemons/com.tunbox.tunbox.plist",
      ]);
      assert.deepEqual(h.commands, []);
    });
  } finally {
    await Deno.remove(config);
  }
});

Deno.test("service uninstall --dry-run prints the commands for each OS (--purge adds /etc/tunbox)", async () => {
  await withHarness("linux", async (h) => {
    await Deno.writeTextFile(`${h.root}/etc/systemd/system/tunbox.service`, "[Unit]\n");
    assert.equal(await serviceCommand(init("uninstall", { dryRun: true }), h.env), 0);
    assert.deepEqual(h.out, [
      "dry run: nothing on this system is changed",
      "run systemctl disable --now tunbox.service (fails when the unit is not loaded)",
      "remove /etc/systemd/system/tunbox.service",
      "run systemctl daemon-reload",
    ]);
    h.out.length = 0;
    assert.equal(await serviceCommand(init("uninstall", { dryRun: true, purge: true }), h.env), 0);
    assert.equal(h.out.at(-1), "remove /etc/tunbox and everything in it");
    assert.ok(await Deno.stat(`${h.root}/etc/systemd/system/tunbox.service`));
    assert.deepEqual(h.commands, []);
  }, 1000);
  await withHarness("darwin", async (h) => {
    await Deno.writeTextFile(`${h.root}/Library/LaunchDaemons/com.tunbox.tunbox.plist`, "x");
    assert.equal(await serviceCommand(init("uninstall", { dryRun: true }), h.env), 0);
    assert.deepEqual(h.out, [
      "dry run: nothing on this system is changed",
      "run launchctl bootout system/com.tunbox.tunbox (fails when the daemon is not loaded)",
      "remove /Library/LaunchDaemons/com.tunbox.tunbox.plist",
    ]);
  });
});

Deno.test("service install/uninstall without root: one sentence, exit 1, nothing done", async () => {
  const config = await writeConfig(GOOD_CONFIG);
  try {
    for (const action of ["install", "uninstall"]) {
      await withHarness("linux", async (h) => {
        const code = await serviceCommand(
          init(action, { configs: action === "install" ? [config] : [] }),
          h.env,
        );
        assert.equal(code, 1);
        assert.deepEqual(h.err, [`tunbox service ${action} needs root: run it with sudo`]);
        assert.deepEqual(h.out, []);
        assert.deepEqual(h.commands, []);
      }, 1000);
    }
  } finally {
    await Deno.remove(config);
  }
});

Deno.test("service on an unsupported OS: one sentence, exit 1", async () => {
  await withHarness("windows", async (h) => {
    assert.equal(await serviceCommand(init("install", { dryRun: true }), h.env), 1);
    assert.deepEqual(h.err, [
      "tunbox service supports Linux (systemd) and macOS (launchd), not windows",
    ]);
  }, null);
});

Deno.test("service install refuses a config with errors and names them", async () => {
  const config = await writeConfig(BAD_CONFIG);
  try {
    await withHarness("linux", async (h) => {
      for (const dryRun of [true, false]) {
        h.err.length = 0;
        const code = await serviceCommand(init("install", { configs: [config], dryRun }), h.env);
        assert.equal(code, 2);
        assert.equal(h.err.length, 2, h.err.join("\n"));
        assert.match(
          h.err[0]!,
          new RegExp(`^${config}:2:\\d+: inbounds\\[0\\]\\.mtu: expected a number`),
        );
        assert.equal(
          h.err[1],
          `tunbox: refusing to install ${config}: it has errors (listed above)`,
        );
        assert.deepEqual(h.out, []);
        assert.deepEqual(h.commands, []);
      }
      const missing = await serviceCommand(
        init("install", { configs: ["/nonexistent.json"] }),
        h.env,
      );
      assert.equal(missing, 2);
      assert.match(h.err.at(-1)!, /refusing to install \/nonexistent\.json: it cannot be read/);
    });
  } finally {
    await Deno.remove(config);
  }
});

Deno.test("service install without -c needs a config unless one is installed", async () => {
  await withHarness("linux", async (h) => {
    assert.equal(await serviceCommand(init("install"), h.env), 2);
    assert.deepEqual(h.err, [
      "tunbox service install needs a configuration: -c <file> (it is copied to /etc/tunbox/config.json)",
    ]);
    await Deno.mkdir(`${h.root}/etc/tunbox`);
    await Deno.writeTextFile(`${h.root}/etc/tunbox/config.json`, GOOD_CONFIG);
    h.err.length = 0;
    assert.equal(await serviceCommand(init("install", { dryRun: true }), h.env), 0, h.err.join());
    assert.ok(!h.out.some((l) => l.startsWith("write /etc/tunbox/config.json")), "kept as is");
    assert.ok(h.out.includes("write /etc/systemd/system/tunbox.service (mode 0644):"));
  });
});

Deno.test("service usage mistakes exit 2", async () => {
  await withHarness("linux", async (h) => {
    assert.equal(await serviceCommand(init("start"), h.env), 2);
    assert.equal(await serviceCommand(init("status", { purge: true }), h.env), 2);
    assert.equal(await serviceCommand(init("status", { configs: ["a.json"] }), h.env), 2);
    assert.equal(await serviceCommand(init("install", { configs: ["a", "b"] }), h.env), 2);
    assert.equal(await serviceCommand(init("install", { configDirectories: ["d"] }), h.env), 2);
    assert.deepEqual(h.err, [
      'tunbox: unknown service action "start": use install, uninstall or status',
      "tunbox: --purge goes with service uninstall",
      "tunbox: service status takes no configuration (-c goes with service install)",
      "tunbox: service install takes one configuration file (-c <file>); the service runs /etc/tunbox/config.json",
      "tunbox: service install takes one configuration file (-c <file>); the service runs /etc/tunbox/config.json",
    ]);
  });
});

Deno.test("service install, status, uninstall on Linux: files, modes and systemctl calls", async () => {
  const config = await writeConfig(GOOD_CONFIG);
  try {
    await withHarness("linux", async (h) => {
      assert.equal(
        await serviceCommand(init("install", { configs: [config] }), h.env),
        0,
        h.err.join("\n"),
      );
      assert.deepEqual(h.commands, [
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "tunbox.service"],
        ["systemctl", "restart", "tunbox.service"],
      ]);
      assert.equal(await Deno.readTextFile(`${h.root}/etc/tunbox/config.json`), GOOD_CONFIG);
      assert.equal((await Deno.stat(`${h.root}/etc/tunbox/config.json`)).mode! & 0o777, 0o600);
      const unitPath = `${h.root}/etc/systemd/system/tunbox.service`;
      assert.equal(await Deno.readTextFile(unitPath), systemdUnit(PROGRAM));
      assert.equal((await Deno.stat(unitPath)).mode! & 0o777, 0o644);
      assert.equal(h.out.at(-4), "tunbox service installed and started");
      assert.ok(
        h.out.includes(
          "  reload: systemctl reload tunbox.service (after editing /etc/tunbox/config.json)",
        ),
      );

      // status: systemctl's own report, then one line; exit 0 only when it runs.
      h.commands.length = 0;
      h.out.length = 0;
      h.answers.set("systemctl status tunbox.service --no-pager", {
        code: 0,
        stdout:
          "● tunbox.service - tunbox transparent proxy (TUN)\n     Active: active (running)\n",
        stderr: "",
      });
      assert.equal(await serviceCommand(init("status"), h.env), 0);
      assert.deepEqual(h.commands, [["systemctl", "status", "tunbox.service", "--no-pager"]]);
      assert.deepEqual(h.out, [
        "● tunbox.service - tunbox transparent proxy (TUN)",
        "     Active: active (running)",
        "tunbox service is running",
      ]);
      h.answers.set("systemctl status tunbox.service --no-pager", {
        code: 3,
        stdout: "     Active: failed\n",
        stderr: "",
      });
      assert.equal(await serviceCommand(init("status"), h.env), 1);
      assert.equal(h.out.at(-1), "tunbox service is installed but not running");

      // uninstall keeps /etc/tunbox; --purge removes it.
      h.commands.length = 0;
      assert.equal(await serviceCommand(init("uninstall"), h.env), 0);
      assert.deepEqual(h.commands, [
        ["systemctl", "disable", "--now", "tunbox.service"],
        ["systemctl", "daemon-reload"],
      ]);
      await assert.rejects(Deno.stat(unitPath), Deno.errors.NotFound);
      assert.ok(await Deno.stat(`${h.root}/etc/tunbox/config.json`));
      assert.equal(await serviceCommand(init("status"), h.env), 1);
      assert.equal(
        h.out.at(-1),
        "tunbox service is not installed (no /etc/systemd/system/tunbox.service)",
      );
      assert.equal(await serviceCommand(init("uninstall", { purge: true }), h.env), 0);
      await assert.rejects(Deno.stat(`${h.root}/etc/tunbox`), Deno.errors.NotFound);
      h.out.length = 0;
      assert.equal(await serviceCommand(init("uninstall"), h.env), 0);
      assert.deepEqual(h.out, [
        "tunbox service is not installed (no /etc/systemd/system/tunbox.service); nothing to do",
      ]);
    });
  } finally {
    await Deno.remove(config);
  }
});

Deno.test("service install on macOS: plist written, launchctl bootout failure tolerated", async () => {
  const config = await writeConfig(GOOD_CONFIG);
  try {
    await withHarness("darwin", async (h) => {
      h.answers.set("launchctl bootout system/com.tunbox.tunbox", {
        code: 3,
        stdout: "",
        stderr: "Boot-out failed: 3: No such process\n",
      });
      assert.equal(
        await serviceCommand(init("install", { configs: [config] }), h.env),
        0,
        h.err.join("\n"),
      );
      assert.deepEqual(h.commands, [
        ["launchctl", "bootout", "system/com.tunbox.tunbox"],
        ["launchctl", "enable", "system/com.tunbox.tunbox"],
        ["launchctl", "bootstrap", "system", "/Library/LaunchDaemons/com.tunbox.tunbox.plist"],
      ]);
      const plist = `${h.root}/Library/LaunchDaemons/com.tunbox.tunbox.plist`;
      assert.equal(await Deno.readTextFile(plist), launchdPlist(PROGRAM));
      assert.ok(
        h.out.includes(
          "  reload: launchctl kill SIGHUP system/com.tunbox.tunbox (after editing /etc/tunbox/config.json)",
        ),
      );

      h.answers.set("launchctl print system/com.tunbox.tunbox", {
        code: 0,
        stdout: "system/com.tunbox.tunbox = {\n\tstate = running\n\tpid = 123\n}\n",
        stderr: "",
      });
      assert.equal(await serviceCommand(init("status"), h.env), 0);
      assert.equal(h.out.at(-1), "tunbox service is running");
      h.answers.set("launchctl print system/com.tunbox.tunbox", {
        code: 0,
        stdout: "system/com.tunbox.tunbox = {\n\tstate = not running\n}\n",
        stderr: "",
      });
      assert.equal(await serviceCommand(init("status"), h.env), 1);
    });
  } finally {
    await Deno.remove(config);
  }
});

Deno.test("service install stops at the first failing command and names it", async () => {
  const config = await writeConfig(GOOD_CONFIG);
  try {
    await withHarness("linux", async (h) => {
      h.answers.set("systemctl enable tunbox.service", {
        code: 1,
        stdout: "",
        stderr: "Failed to enable unit: Access denied\n",
      });
      assert.equal(await serviceCommand(init("install", { configs: [config] }), h.env), 1);
      assert.deepEqual(h.commands.map((c) => c.join(" ")), [
        "systemctl daemon-reload",
        "systemctl enable tunbox.service",
      ]);
      assert.deepEqual(h.err, [
        "tunbox: service install: systemctl enable tunbox.service failed (exit 1): Failed to enable unit: Access denied",
      ]);
    });
  } finally {
    await Deno.remove(config);
  }
});

async function cli(args: string[], stdin?: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--config", `${ROOT}deno.json`, `${ROOT}main.ts`, ...args],
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test({
  name: "tunbox service install --dry-run (real CLI, from source) shows Deno running main.ts",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const r = await cli(["service", "install", "-c", "stdin", "--dry-run"], GOOD_CONFIG);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    const lines = r.stdout.split("\n");
    assert.equal(lines[0], "dry run: nothing on this system is changed");
    assert.ok(
      lines.includes("write /etc/tunbox/config.json (mode 0600): a copy of standard input"),
    );
    const exec = lines.find((l) => l.startsWith("    ExecStart="));
    assert.equal(
      exec,
      `    ExecStart=${Deno.execPath()} run --allow-ffi --allow-read --allow-write --allow-net --allow-env --allow-sys --allow-run --no-code-cache --v8-flags=--max-semi-space-size=2,--expose-gc --config ${ROOT}deno.json ${ROOT}main.ts run -c /etc/tunbox/config.json`,
    );
  },
});

Deno.test("tunbox service with a bad action or flag is a usage error (real CLI)", async () => {
  const r = await cli(["service", "restart"]);
  assert.equal(r.code, 2);
  assert.equal(
    r.stderr,
    'tunbox: unknown service action "restart": use install, uninstall or status\n',
  );
  const r2 = await cli(["service"]);
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /"service" needs 1 argument\(s\)/);
  const r3 = await cli(["check", "--purge"]);
  assert.equal(r3.code, 2);
  assert.match(r3.stderr, /unknown flag --purge for command "check"/);
});
