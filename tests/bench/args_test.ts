import assert from "node:assert/strict";
import { parseArgs, selectPaths } from "../../bench/e2e/args.ts";

Deno.test("`parseArgs()` defaults to 10 s, every stack, both MTUs and all metrics", () => {
  const a = parseArgs([]);
  assert.equal(a.durationSeconds, 10);
  assert.deepEqual(a.stacks, ["system", "gvisor", "mixed"]);
  assert.deepEqual(a.mtus, [65535, 9000]);
  assert.deepEqual(a.only, ["throughput", "latency", "crr", "rss", "wrk"]);
  assert.equal(a.settleSeconds, 60);
  assert.deepEqual(a.wrkConns, [1000, 100]);
  assert.deepEqual(a.baselines, ["direct", "socks-direct", "redsocks"]);
  assert.deepEqual(a.conns, [1000, 10000]);
});

Deno.test("`parseArgs()` --quick shortens tests unless --duration says otherwise", () => {
  assert.equal(parseArgs(["--quick"]).durationSeconds, 3);
  assert.equal(parseArgs(["--quick"]).rrCount, 2000);
  assert.equal(parseArgs(["--quick", "--duration", "7"]).durationSeconds, 7);
  assert.equal(parseArgs(["--duration=5"]).durationSeconds, 5);
});

Deno.test("`parseArgs()` reads lists, dropping duplicates; 'none' selects nothing", () => {
  const a = parseArgs([
    "--stacks",
    "gvisor,system,gvisor",
    "--only",
    "latency",
    "--baselines",
    "none",
  ]);
  assert.deepEqual(a.stacks, ["gvisor", "system"]);
  assert.deepEqual(a.only, ["latency"]);
  assert.deepEqual(a.baselines, []);
});

Deno.test("`parseArgs()` rejects unknown flags, unknown list values and bad numbers", () => {
  assert.throws(() => parseArgs(["--fast"]), /Unknown option "--fast"/);
  assert.throws(() => parseArgs(["--stacks", "lwip"]), /unknown value "lwip"/);
  assert.throws(() => parseArgs(["--mtus", "100"]), RangeError);
  assert.throws(() => parseArgs(["--duration"]), /needs a value/);
});

Deno.test("`selectPaths()` puts baselines first and one tunbox row per MTU and stack", () => {
  const ids = selectPaths(parseArgs(["--mtus", "65535", "--stacks", "system,gvisor"])).map((p) =>
    p.id
  );
  assert.deepEqual(ids, [
    "direct",
    "direct-deno",
    "socks-direct",
    "redsocks",
    "tunbox-system-65535",
    "tunbox-gvisor-65535",
  ]);
});

Deno.test("`selectPaths()` measures SOCKS rows with the Deno bulk tool and no RSS on direct", () => {
  const paths = selectPaths(
    parseArgs(["--stacks", "none", "--baselines", "direct,socks-direct,microsocks"]),
  );
  const byId = new Map(paths.map((p) => [p.id, p]));
  assert.equal(byId.get("socks-direct")?.throughputTool, "deno-bulk");
  assert.equal(byId.get("socks-direct-microsocks")?.socks, "microsocks");
  assert.equal(byId.get("direct")?.throughputTool, "iperf3");
  assert.ok(!byId.get("direct")?.metrics.includes("rss"));
  assert.deepEqual(byId.get("direct-deno")?.metrics, ["throughput"]);
});

Deno.test("`selectPaths()` leaves out the Deno direct row when throughput is not measured", () => {
  const ids = selectPaths(parseArgs(["--only", "latency", "--stacks", "none"])).map((p) => p.id);
  assert.ok(!ids.includes("direct-deno"));
});

Deno.test("`parseArgs()` reads --settle and --wrk-conns; --quick settles 20 s", () => {
  assert.equal(parseArgs(["--quick"]).settleSeconds, 20);
  assert.equal(parseArgs(["--quick", "--settle", "0"]).settleSeconds, 0);
  assert.deepEqual(parseArgs(["--wrk-conns", "500,50"]).wrkConns, [500, 50]);
  assert.throws(() => parseArgs(["--wrk-conns", "500"]), /needs two counts/);
});

Deno.test("`selectPaths()` runs wrk on direct, redsocks and tunbox rows, not on SOCKS rows", () => {
  const paths = selectPaths(parseArgs(["--only", "wrk", "--mtus", "65535", "--stacks", "gvisor"]));
  const withWrk = paths.filter((p) => p.metrics.includes("wrk")).map((p) => p.id);
  assert.deepEqual(withWrk, ["direct", "redsocks", "tunbox-gvisor-65535"]);
});
