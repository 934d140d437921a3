import assert from "node:assert/strict";
import { getLogger, type LogRecord } from "@logtape/logtape";
import { formatLine, formatLocalTime, type LineFormat } from "../../src/log/format.ts";
import { configureLogging, isEnabled, resetLogging, toLogtapeLevel } from "../../src/log/mod.ts";

function record(over: Partial<LogRecord> = {}): LogRecord {
  return {
    category: ["tunbox", "tun"],
    level: "info",
    message: ["hello ", "world", ""],
    rawMessage: "hello {x}",
    timestamp: 1_700_000_012_345,
    properties: {},
    ...over,
  };
}

const PLAIN: LineFormat = {
  color: false,
  timestamp: false,
  relative: true,
  baseTime: 1_700_000_000_000,
};

Deno.test("formatLine() counts seconds since start like sing-box's INFO[0012]", () => {
  assert.equal(formatLine(record(), PLAIN), "INFO[0012] tun: hello world\n");
});

Deno.test("formatLine() writes LEVEL and message only for file output without timestamps", () => {
  const line = formatLine(record({ level: "warning", category: ["tunbox", "route", "rule"] }), {
    ...PLAIN,
    relative: false,
  });
  assert.equal(line, "WARN route/rule: hello world\n");
});

Deno.test("formatLine() prefixes the local time when timestamps are on", () => {
  const ts = new Date(2024, 0, 2, 3, 4, 5).getTime();
  const line = formatLine(record({ timestamp: ts, level: "error" }), { ...PLAIN, timestamp: true });
  assert.equal(line, `${formatLocalTime(new Date(ts))} ERROR tun: hello world\n`);
  assert.match(line, /^[+-]\d{4} 2024-01-02 03:04:05 ERROR /);
});

Deno.test("formatLocalTime() writes Go's -0700 2006-01-02 15:04:05 layout", () => {
  const d = new Date(2025, 11, 31, 23, 59, 7);
  const off = -d.getTimezoneOffset();
  const zone = `${off >= 0 ? "+" : "-"}${String(Math.floor(Math.abs(off) / 60)).padStart(2, "0")}${
    String(Math.abs(off) % 60).padStart(2, "0")
  }`;
  assert.equal(formatLocalTime(d), `${zone} 2025-12-31 23:59:07`);
});

Deno.test("formatLine() colors the level only, and shows the worker", () => {
  assert.equal(
    formatLine(record({ level: "debug" }), { ...PLAIN, color: true, workerName: "worker-2" }),
    "\x1b[37mDEBUG\x1b[0m[0012] worker-2/tun: hello world\n",
  );
  assert.equal(
    formatLine(record(), { ...PLAIN, color: true }),
    "\x1b[36mINFO\x1b[0m[0012] tun: hello world\n",
  );
});

Deno.test("formatLine() keeps a record on one line and renders errors with their cause", () => {
  const err = new Error('open TUN device "tun0" failed', {
    cause: new Error("EBUSY (Device or resource busy)"),
  });
  const line = formatLine(record({ message: ["start: ", err, "\nforged line"] }), PLAIN);
  assert.equal(
    line,
    'INFO[0012] tun: start: open TUN device "tun0" failed: EBUSY (Device or resource busy)\\nforged line\n',
  );
});

Deno.test("toLogtapeLevel() maps sing-box levels (panic is fatal)", () => {
  assert.deepEqual(
    (["trace", "debug", "info", "warn", "error", "fatal", "panic"] as const).map(toLogtapeLevel),
    ["trace", "debug", "info", "warning", "error", "fatal", "fatal"],
  );
});

Deno.test("configureLogging() appends filtered lines to the output file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tunbox-log-" });
  try {
    const path = `${dir}/tunbox.log`;
    await Deno.writeTextFile(path, "previous run\n");
    await configureLogging({ level: "warn", output: path }, { color: true });
    assert.equal(isEnabled("info"), false);
    assert.equal(isEnabled("warn"), true);
    assert.equal(isEnabled("warning"), true);
    assert.equal(isEnabled("panic"), true);
    const log = getLogger(["tunbox", "route"]);
    log.info("dropped");
    log.warn("kept {n}", { n: 1 });
    log.fatal("fatal too");
    await resetLogging();
    assert.equal(
      await Deno.readTextFile(path),
      "previous run\nWARN route: kept 1\nFATAL route: fatal too\n",
    );
  } finally {
    await resetLogging();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("configureLogging() with disabled writes nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tunbox-log-" });
  try {
    const path = `${dir}/tunbox.log`;
    await configureLogging({ disabled: true, output: path, level: "trace" }, { color: false });
    assert.equal(isEnabled("fatal"), false);
    getLogger(["tunbox", "cli"]).fatal("nothing");
    await resetLogging();
    await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
  } finally {
    await resetLogging();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("configureLogging() in a Worker writes synchronously, before the worker yields", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tunbox-log-" });
  const path = `${dir}/worker.log`;
  const flag = new SharedArrayBuffer(4);
  const state = new Int32Array(flag);
  const worker = new Worker(new URL("./_log_worker.ts", import.meta.url), { type: "module" });
  try {
    worker.postMessage({ path, flag });
    // Wait until the worker has logged and is now blocked in Atomics.wait.
    const deadline = Date.now() + 60_000; // a liveness bound: Worker start-up is slow under load
    while (Atomics.load(state, 0) !== 1) {
      if (Date.now() > deadline) throw new Error("worker did not log in time");
      await new Promise((r) => setTimeout(r, 10));
    }
    const text = await Deno.readTextFile(path);
    assert.equal(text, "DEBUG worker-1/stack: packet loop running\n");
  } finally {
    Atomics.store(state, 0, 2);
    Atomics.notify(state, 0);
    worker.terminate();
    await Deno.remove(dir, { recursive: true });
  }
});
