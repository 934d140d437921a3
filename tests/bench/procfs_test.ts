import assert from "node:assert/strict";
import {
  machineBusySeconds,
  parseMachineBusyTicks,
  parseProcStat,
  parsePssKiB,
  parseVmRssKiB,
  processTree,
  treeCpuTimes,
} from "../../bench/e2e/procfs.ts";

Deno.test("`parseProcStat()` counts fields after the last parenthesis of a command with spaces", () => {
  const text = "4242 (deno (worker) x) S 17 4242 4242 0 -1 4194560 1 0 0 0 " +
    "123 45 6 7 20 0 9 0 100 1000 200 18446744073709551615";
  const st = parseProcStat(text);
  assert.equal(st.pid, 4242);
  assert.equal(st.comm, "deno (worker) x");
  assert.equal(st.ppid, 17);
  assert.equal(st.utime, 123);
  assert.equal(st.stime, 45);
  assert.equal(st.childTicks, 13);
});

Deno.test("`parseProcStat()` rejects text without the command in parentheses", () => {
  assert.throws(() => parseProcStat("12 S 1 2 3"), SyntaxError);
});

Deno.test("`parseProcStat()` reads this process's own /proc/self/stat", () => {
  const st = parseProcStat(Deno.readTextFileSync(`/proc/${Deno.pid}/stat`));
  assert.equal(st.pid, Deno.pid);
  assert.equal(st.ppid, Deno.ppid);
});

Deno.test("`parseVmRssKiB()` reads the VmRSS line and rejects a status without one", () => {
  assert.equal(
    parseVmRssKiB("Name:\tdeno\nVmPeak:\t  9000 kB\nVmRSS:\t    3612 kB\nThreads:\t4\n"),
    3612,
  );
  assert.throws(() => parseVmRssKiB("Name:\tkworker\nThreads:\t1\n"), SyntaxError);
});

Deno.test("`parsePssKiB()` reads Pss, not Pss_Anon", () => {
  const text =
    "55d0-7ffd ---p 00000000 00:00 0 [rollup]\nRss:  9000 kB\nPss:  4100 kB\nPss_Anon:  3000 kB\n";
  assert.equal(parsePssKiB(text), 4100);
  assert.throws(() => parsePssKiB("Rss: 1 kB\n"), SyntaxError);
});

Deno.test("`processTree()` lists a child process under its parent", async () => {
  const child = new Deno.Command("sleep", { args: ["5"] }).spawn();
  try {
    const tree = processTree(Deno.pid);
    assert.equal(tree[0], Deno.pid);
    assert.ok(tree.includes(child.pid));
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
});

Deno.test("`treeCpuTimes()` counts kernel time spent in system calls as part of the total", () => {
  const before = treeCpuTimes(Deno.pid);
  // System calls until at least 5 clock ticks of kernel time have passed.
  const t0 = performance.now();
  let after = before;
  while (after.system - before.system < 0.05 && performance.now() - t0 < 20_000) {
    for (let i = 0; i < 2000; i++) Deno.statSync("/proc/self/stat");
    after = treeCpuTimes(Deno.pid);
  }
  assert.ok(after.system - before.system >= 0.05, `kernel time ${after.system - before.system} s`);
  assert.ok(after.total - before.total >= after.system - before.system);
  assert.ok(after.system <= after.total);
});

Deno.test("`parseMachineBusyTicks()` sums user, nice, system, irq, softirq and steal", () => {
  const text = "cpu  100 2 30 900 5 1 7 3 0 0\ncpu0 50 1 15 450 2 0 3 1 0 0\nintr 1\n";
  assert.equal(parseMachineBusyTicks(text), 100 + 2 + 30 + 1 + 7 + 3);
  assert.throws(() => parseMachineBusyTicks("intr 1\n"), /no cpu line/);
  const a = machineBusySeconds();
  let x = 0;
  for (let i = 0; i < 3e7; i++) x += i;
  assert.ok(x > 0 && machineBusySeconds() >= a, "busy time grows");
});
