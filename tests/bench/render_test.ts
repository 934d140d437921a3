import assert from "node:assert/strict";
import { renderMarkdown, THROUGHPUT_SERIES } from "../../bench/e2e/render_md.ts";
import { niceMax, renderSvg, xmlEscape } from "../../bench/e2e/render_svg.ts";
import type { PathResult, PathSpec, Report, ThroughputRun } from "../../bench/e2e/types.ts";

function spec(id: string, label: string, extra: Partial<PathSpec> = {}): PathSpec {
  return {
    id,
    label,
    kind: "direct",
    throughputTool: "iperf3",
    metrics: ["throughput", "latency", "crr", "rss"],
    ...extra,
  };
}

function runs(gbps: number[], extra: Partial<ThroughputRun> = {}): PathResult["throughput"] {
  return THROUGHPUT_SERIES.map((s, i) => ({
    ok: true as const,
    value: {
      direction: s.direction,
      streams: s.streams,
      tool: "iperf3" as const,
      gbps: gbps[i]!,
      bytes: gbps[i]! * 1e9 / 8 * 3,
      seconds: 3,
      ...extra,
    },
  }));
}

function row(s: PathSpec, over: Partial<PathResult> = {}): PathResult {
  return {
    spec: s,
    status: "ok",
    throughput: [],
    crr: [],
    rss: [],
    violations: [],
    tools: {},
    ...over,
  };
}

function report(): Report {
  return {
    date: "2026-01-02T03:04:05.000Z",
    options: {
      quick: true,
      durationSeconds: 3,
      stacks: ["system"],
      mtus: [65535],
      only: ["throughput", "latency", "crr", "rss"],
      conns: [1000, 10000],
      rrCount: 2000,
    },
    machine: {
      cpuModel: "Test CPU",
      cores: 2,
      memTotalKiB: 1048576,
      kernel: "6.18",
      deno: "2.9.6",
      iperf3: "iperf 3.12",
      danted: "Dante v1.4.2",
      redsocks: "redsocks 0.5",
      gitCommit: "abc1234",
      loadAvgAtStart: [0.1, 0.2, 0.3],
      nofileLimit: 20000,
    },
    paths: [
      row(
        spec("direct", "direct (veth, no proxy)", { metrics: ["throughput", "latency", "crr"] }),
        {
          throughput: runs([20, 16, 22, 18]),
          latency: {
            ok: true,
            value: {
              tool: "deno-rr",
              size: 64,
              count: 2000,
              minUs: 10,
              meanUs: 21,
              p50Us: 20,
              p90Us: 25,
              p99Us: 40,
              maxUs: 90,
              tps: 45000,
            },
          },
          crr: [
            {
              ok: true,
              value: {
                tool: "deno-crr",
                concurrency: 1,
                connections: 30000,
                failures: 0,
                seconds: 3,
                perSecond: 10000,
              },
            },
            {
              ok: true,
              value: {
                tool: "deno-crr",
                concurrency: 8,
                connections: 36000,
                failures: 0,
                seconds: 3,
                perSecond: 12000,
              },
            },
          ],
        },
      ),
      row(spec("redsocks", "redsocks (REDIRECT → danted)", { kind: "redsocks", socks: "danted" }), {
        throughput: runs([10, 8, 11, 9], { proxyCpuSecondsPerGB: 0.5, socksCpuSecondsPerGB: 0.8 }),
        latency: {
          ok: true,
          value: {
            tool: "deno-rr",
            size: 64,
            count: 2000,
            minUs: 50,
            meanUs: 90,
            p50Us: 85,
            p90Us: 100,
            p99Us: 200,
            maxUs: 900,
            tps: 11000,
          },
        },
        crr: [{ ok: false, error: "client crr failed" }],
        rss: [
          { target: 0, opened: 0, proxyRssKiB: 2048, socksPssKiB: 4096, socksProcesses: 20 },
          {
            target: 1000,
            opened: 1000,
            proxyRssKiB: 3072,
            socksPssKiB: 300000,
            socksProcesses: 70,
          },
          {
            target: 10000,
            opened: 3331,
            proxyRssKiB: 5120,
            socksPssKiB: 1000000,
            socksProcesses: 150,
            error: "opened 3331 of 10000",
          },
        ],
      }),
      row(
        spec("tunbox-gvisor-65535", "tunbox gvisor, MTU 65535", {
          kind: "tunbox",
          stack: "gvisor",
          mtu: 65535,
          socks: "danted",
        }),
        {
          status: "failed",
          error: "tunbox failed to start: exited with status 1: error: Module not found | x",
        },
      ),
    ],
  };
}

Deno.test("`renderMarkdown()` has one table row per measured path and the failure text", () => {
  const md = renderMarkdown(report());
  const throughputTable = md.split("## Throughput")[1]!.split("##")[0]!;
  const rows = throughputTable.split("\n").filter((l) =>
    l.startsWith("| ") && !l.startsWith("| path") && !l.startsWith("| ---")
  );
  assert.equal(rows.length, 3);
  assert.match(
    rows[0]!,
    /^\| direct \(veth, no proxy\) \| iperf3 \| 20\.00 \| 16\.00 \| 22\.00 \| 18\.00 \| 1\.00× \| 1\.00× \|/,
  );
  // A pipe inside the error is escaped, so the row keeps its column count.
  assert.match(
    rows[2]!,
    /tunbox failed to start: exited with status 1: error: Module not found \\\| x \|$/,
  );
});

Deno.test("`renderMarkdown()` gives ratios vs direct and vs the hev reference", () => {
  const md = renderMarkdown(report());
  const line = md.split("\n").find((l) => l.startsWith("| redsocks") && l.includes("iperf3"))!;
  const cells = line.split(" | ").map((c) => c.trim());
  // path, tool, up1, down1, up4, down4, up vs direct, down vs direct, up vs hev, down vs hev
  assert.equal(cells[6], "0.50×");
  assert.equal(cells[7], "0.50×");
  assert.equal(cells[8], (10 / 5.91).toFixed(2) + "×");
  assert.equal(cells[9], (8 / 4.38).toFixed(2) + "×");
  assert.equal(cells[10], "0.50, 0.50");
});

Deno.test("`renderMarkdown()` reports added latency vs direct and how far the connection test got", () => {
  const md = renderMarkdown(report());
  const lat = md.split("\n").find((l) =>
    l.startsWith("| redsocks") && l.includes("µs") === false && l.includes("+65")
  );
  assert.ok(lat, "latency row with +65 µs added");
  assert.ok(lat.includes("✗"), "failed crr cell");
  const mem = md.split("\n").find((l) => l.startsWith("| redsocks") && l.includes("3,331 open"));
  assert.ok(mem, "memory row says 3,331 open");
  assert.ok(mem.includes("| 2.0 | 3.0 | 5.0; 3,331 open |"), mem);
  assert.match(md, /RSS at 10000 connections: opened 3331 of 10000/);
});

Deno.test("`renderSvg()` draws one bar per successful throughput run", () => {
  const svg = renderSvg(report());
  const bars = svg.match(/<rect class="bar"/g) ?? [];
  assert.equal(bars.length, 8);
  assert.equal((svg.match(/data-path="direct"/g) ?? []).length, 4);
  assert.equal((svg.match(/data-path="redsocks"/g) ?? []).length, 4);
  assert.ok(svg.includes(">failed to start: exited with status 1: error: Module not found | x<"));
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.ok(svg.trimEnd().endsWith("</svg>"));
});

Deno.test("`renderSvg()` scales the longest bar to the axis maximum", () => {
  const svg = renderSvg(report());
  const widths = [...svg.matchAll(/class="bar"[^>]* width="([\d.]+)"/g)].map((m) => Number(m[1]));
  // Largest value 22 Gbit/s → axis 25 → 560 px * 22/25.
  assert.ok(Math.abs(Math.max(...widths) - 560 * 22 / 25) < 0.1, `widths ${widths}`);
});

Deno.test("`niceMax()` rounds up to 1, 2, 2.5 or 5 times a power of ten", () => {
  assert.equal(niceMax(22), 25);
  assert.equal(niceMax(5.91), 10);
  assert.equal(niceMax(0.7), 1);
  assert.equal(niceMax(150), 200);
  assert.equal(niceMax(0), 1);
});

Deno.test("`xmlEscape()` escapes markup characters", () => {
  assert.equal(xmlEscape(`a<b>&"c"`), "a&lt;b&gt;&amp;&quot;c&quot;");
});

Deno.test("`renderMarkdown()` shows wrk req/s as ratios to redsocks and direct, and RSS after", () => {
  const r = report();
  r.options.settleSeconds = 60;
  r.options.wrkConns = [1000, 100];
  const wrk = (mode: "keepalive" | "close", perSecond: number, peak?: number) => ({
    ok: true as const,
    value: {
      mode,
      connections: mode === "keepalive" ? 1000 : 100,
      requests: perSecond * 3,
      seconds: 3,
      perSecond,
      p50Us: 100,
      p90Us: 200,
      p99Us: 300,
      errors: { connect: 0, read: 0, write: 0, timeout: 0, non2xx: 0 },
      ...(peak === undefined ? {} : { proxyPeakRssKiB: peak }),
    },
  });
  const w = (ids: string[]) => r.paths.filter((p) => ids.includes(p.spec.id));
  for (const p of r.paths) p.spec.metrics = [...p.spec.metrics, "wrk"];
  w(["direct"])[0]!.wrk = {
    runs: [wrk("keepalive", 10000), wrk("close", 4000)],
    settleSeconds: 60,
  };
  const redsocksKeepAlive = wrk("keepalive", 2000);
  Object.assign(redsocksKeepAlive.value, { machineCpuUsPerRequest: 120, proxyCpuUsPerRequest: 30 });
  w(["redsocks"])[0]!.wrk = {
    runs: [redsocksKeepAlive, wrk("close", 400)],
    settleSeconds: 60,
    idleRssKiB: 2048,
    afterRssKiB: 3072,
  };
  const tunboxRow = r.paths.find((p) => p.spec.kind === "tunbox")!;
  tunboxRow.wrk = {
    runs: [wrk("keepalive", 3000, 204800), { ok: false, error: "wrk exited with 1: boom" }],
    settleSeconds: 60,
    idleRssKiB: 102400,
    afterRssKiB: 112640,
  };
  const md = renderMarkdown(r);
  const line = md.split("\n").find((l) =>
    l.startsWith(`| ${tunboxRow.spec.label}`) && l.includes("1.50×")
  );
  assert.ok(line, md);
  const cells = line.split("|").map((c) => c.trim());
  // keep-alive req/s, vs redsocks, vs direct, p50, p99, p99/p50, close req/s.
  assert.deepEqual(cells.slice(2, 9), ["3,000", "1.50×", "0.30×", "100", "300", "3.0×", "✗"]);
  // RSS idle, peak keep-alive, peak close, after, after − idle.
  assert.deepEqual(cells.slice(-6, -1), ["100.0", "200.0", "–", "110.0", "10.0"]);
  assert.match(md, /wrk close: wrk exited with 1: boom/);
  // What a proxy that used no CPU could reach: 120 / (120 - 30).
  assert.match(md, /a proxy that cost no CPU at all would reach about 1\.33× redsocks'/);
});
