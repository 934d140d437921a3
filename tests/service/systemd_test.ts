/**
 * The systemd unit: its directives, quoting, and `systemd-analyze verify` (Debian's systemd)
 * on the generated file, for a compiled binary and for a run from source.
 */

import assert from "node:assert/strict";
import { detectProgram, type Program } from "../../src/service/program.ts";
import {
  SERVICE_CAPABILITIES,
  systemdCommandLine,
  systemdEnvironment,
  systemdExecArg,
  systemdUnit,
} from "../../src/service/systemd.ts";
import { RUN_PERMISSIONS } from "../../src/service/permissions.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** The running Deno as a compiled tunbox binary would be: a real executable path. */
const BINARY: Program = { executable: Deno.execPath(), args: [], env: {}, kind: "binary" };

const SOURCE: Program = detectProgram({
  standalone: false,
  execPath: Deno.execPath(),
  mainUrl: new URL("../../main.ts", import.meta.url).href,
  denoDir: "/root/.cache/deno",
});

/** Directive lines (`Key=value`) of a unit section. */
function section(unit: string, name: string): string[] {
  const lines = unit.split("\n");
  const start = lines.indexOf(`[${name}]`);
  assert.ok(start >= 0, `no [${name}] section`);
  const out: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (l.startsWith("[")) break;
    if (l !== "" && !l.startsWith("#")) out.push(l);
  }
  return out;
}

async function verify(unit: string): Promise<{ code: number; stderr: string }> {
  const dir = await Deno.makeTempDir({ prefix: "tunbox-unit-" });
  try {
    await Deno.writeTextFile(`${dir}/tunbox.service`, unit);
    const out = await new Deno.Command("systemd-analyze", {
      args: ["verify", `${dir}/tunbox.service`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    return { code: out.code, stderr: dec.decode(out.stderr) + dec.decode(out.stdout) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("`systemdUnit()` for a binary runs it with the config under /etc/tunbox", () => {
  const unit = systemdUnit(BINARY);
  const exe = Deno.execPath();
  assert.deepEqual(section(unit, "Unit"), [
    "Description=tunbox transparent proxy (TUN)",
    "After=network-online.target",
    "Wants=network-online.target",
  ]);
  assert.deepEqual(section(unit, "Service"), [
    "Type=exec",
    "WorkingDirectory=/etc/tunbox",
    `ExecStart=${exe} run -c /etc/tunbox/config.json`,
    "ExecReload=/bin/kill -HUP $MAINPID",
    `ExecStopPost=-${exe} cleanup -c /etc/tunbox/config.json`,
    "Restart=on-failure",
    "RestartSec=2s",
    "TimeoutStopSec=15s",
    "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE",
    "AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE",
    "NoNewPrivileges=yes",
    "LimitNOFILE=524288",
  ]);
  assert.deepEqual(section(unit, "Install"), ["WantedBy=multi-user.target"]);
  assert.equal(SERVICE_CAPABILITIES, "CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE");
});

Deno.test("`systemdUnit()` from source runs Deno with explicit permissions and absolute paths", () => {
  const unit = systemdUnit(SOURCE);
  const service = section(unit, "Service");
  const deno = `${Deno.execPath()} run ${
    RUN_PERMISSIONS.join(" ")
  } --config ${ROOT}deno.json ${ROOT}main.ts`;
  assert.ok(service.includes(`ExecStart=${deno} run -c /etc/tunbox/config.json`), unit);
  assert.ok(service.includes(`ExecStopPost=-${deno} cleanup -c /etc/tunbox/config.json`), unit);
  assert.ok(service.includes("Environment=DENO_DIR=/root/.cache/deno"), unit);
  assert.ok(!unit.includes(" -A "), "never -A");
});

Deno.test("the generated units pass systemd-analyze verify with no warning", async () => {
  for (const program of [BINARY, SOURCE]) {
    const r = await verify(systemdUnit(program));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "", "no warnings either");
  }
});

Deno.test("systemd-analyze verify catches a broken unit (the check can fail)", async () => {
  const broken = systemdUnit(BINARY).replace("Restart=on-failure", "Restart=on-failure\nBogus=1");
  const r1 = await verify(broken);
  assert.match(r1.stderr, /Unknown key 'Bogus'/);
  const missing = systemdUnit({ ...BINARY, executable: "/nonexistent/tunbox" });
  const r2 = await verify(missing);
  assert.notEqual(r2.code, 0);
  assert.match(r2.stderr, /\/nonexistent\/tunbox/);
});

Deno.test("a unit whose paths need quoting still verifies", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tunbox unit %d $x-" });
  try {
    const exe = `${dir}/tun box`;
    await Deno.symlink(Deno.execPath(), exe);
    const unit = systemdUnit({
      executable: exe,
      args: ["run", `${dir}/main "x".ts`],
      env: { DENO_DIR: `${dir}/cache 100%` },
      kind: "source",
    });
    assert.match(unit, /^ExecStart="[^"]*tun box" run "[^\n]*main \\"x\\"\.ts" run -c /m);
    // The executable: % doubled only; arguments: % and $ doubled.
    assert.ok(unit.includes(`ExecStart="${dir.replace(/%/g, "%%")}/tun box" `), unit);
    assert.ok(unit.includes(` run "${dir.replace(/[%$]/g, (c) => c + c)}/main `), unit);
    assert.match(unit, /^Environment="DENO_DIR=[^\n]*cache 100%%"$/m);
    const r = await verify(unit);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`systemdExecArg()` quotes and escapes only what needs it", () => {
  assert.equal(systemdExecArg("/usr/local/bin/tunbox"), "/usr/local/bin/tunbox");
  assert.equal(systemdExecArg("--allow-ffi"), "--allow-ffi");
  assert.equal(systemdExecArg("a b"), '"a b"');
  assert.equal(systemdExecArg('say "hi"\\'), '"say \\"hi\\"\\\\"');
  assert.equal(systemdExecArg("50%"), '"50%%"');
  assert.equal(systemdExecArg("$HOME"), '"$$HOME"');
  assert.equal(systemdExecArg("/opt/$x/tunbox", true), '"/opt/$x/tunbox"');
  assert.equal(systemdExecArg(""), '""');
  assert.equal(systemdExecArg("a\nb"), '"a\\nb"');
  assert.equal(systemdEnvironment("DENO_DIR", "/x y"), '"DENO_DIR=/x y"');
  assert.throws(() => systemdEnvironment("1X", "v"), RangeError);
  assert.throws(() => systemdCommandLine(["tunbox", "run"]), RangeError);
});
