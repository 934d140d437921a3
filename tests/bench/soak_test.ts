import assert from "node:assert/strict";
import { renderSoakMarkdown, renderSoakSvg, type SoakReport } from "../../bench/soak.ts";
import { parseStatusMemory } from "../../bench/memory_breakdown.ts";

function report(): SoakReport {
  return {
    date: "2026-01-02T03:04:05.000Z",
    stack: "mixed",
    durationSeconds: 20,
    settleSeconds: 10,
    load: { flows: 1000, churnLoops: 4, udpSessions: 200 },
    loadAvgAtStart: [0.1, 0.2, 0.3],
    gitCommit: "abc1234",
    samples: [
      { t: 0, phase: "idle", rssKiB: 102400, fds: 40, threads: 9 },
      { t: 10, phase: "load", rssKiB: 204800, fds: 2100, threads: 9 },
      { t: 20, phase: "load", rssKiB: 153600, fds: 2200, threads: 9 },
      { t: 30, phase: "settle", rssKiB: 112640, fds: 300, threads: 9 },
    ],
    results: { hold: '{"closed":1000}' },
  };
}

Deno.test("`renderSoakMarkdown()` sums up idle, peak and after-load RSS and lists every sample", () => {
  const md = renderSoakMarkdown(report());
  assert.match(
    md,
    /RSS idle 100\.0 MiB, peak under load 200\.0 MiB, 10 s after the load 110\.0 MiB \(10\.0 MiB over idle\); descriptors idle 40, at the end 300\./,
  );
  assert.ok(md.includes("| 20 | load | 150.0 | 2200 | 9 |"));
  assert.ok(md.includes('- hold: `{"closed":1000}`'));
});

Deno.test("`renderSoakSvg()` draws one point per sample on each line", () => {
  const svg = renderSoakSvg(report());
  const rss = /class="rss" d="([^"]+)"/.exec(svg)![1]!;
  const fds = /class="fds" d="([^"]+)"/.exec(svg)![1]!;
  assert.equal(rss.split(/[ML]/).filter(Boolean).length, 4);
  assert.equal(fds.split(/[ML]/).filter(Boolean).length, 4);
  // The highest RSS sample (200 MiB, axis maximum 200) touches the top of the plot (y = 40).
  assert.ok(rss.includes(",40.0"), rss);
});

Deno.test("`parseStatusMemory()` reads VmRSS and its anonymous, file and shared parts", () => {
  const m = parseStatusMemory(
    "Name:\tdeno\nThreads:\t9\nVmRSS:\t  126976 kB\nRssAnon:\t   79872 kB\nRssFile:\t   47104 kB\nRssShmem:\t       0 kB\n",
  );
  assert.deepEqual(m, { rss: 126976, anon: 79872, file: 47104, shmem: 0, threads: 9 });
});
