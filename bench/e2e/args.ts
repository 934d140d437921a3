/**
 * Command-line options of `deno task bench:e2e` and the list of rows they select.
 *
 * @module
 */

import { METRIC_GROUPS, type MetricGroup, type PathSpec, type Stack } from "./types.ts";

/** Baseline rows the suite knows. `microsocks` is an extra row, off unless asked for. */
export const BASELINES = ["direct", "socks-direct", "redsocks", "microsocks"] as const;
/** One baseline row name. */
export type Baseline = typeof BASELINES[number];

const STACKS: readonly Stack[] = ["system", "gvisor", "mixed"];

/** Parsed options. */
export interface BenchArgs {
  quick: boolean;
  help: boolean;
  /** Seconds per throughput test. */
  durationSeconds: number;
  stacks: Stack[];
  mtus: number[];
  baselines: Baseline[];
  only: MetricGroup[];
  /** Open-connection counts at which RSS is read. */
  conns: number[];
  /** Round trips in the request/response test. */
  rrCount: number;
  /** Seconds after a load (held connections, wrk) before the "after" RSS reading. */
  settleSeconds: number;
  /** wrk connections: the keep-alive run and the connection-per-request run. */
  wrkConns: [number, number];
  /** tunbox V8 flag sets to compare ("" = none); undefined = tunbox's own. */
  v8Flags?: string[];
  /** tunbox worker counts to compare; undefined = tunbox's default. */
  workers?: number[];
  /** Directory for the JSON, markdown and SVG files. */
  outDir: string;
}

/** Usage text. */
export const USAGE = `Usage: deno task bench:e2e [options]

  --quick                 3 s throughput tests, fewer round trips (default 10 s)
  --duration S            seconds per throughput test
  --stacks LIST           tunbox stacks: system,gvisor,mixed (default all; "none" for baselines only)
  --mtus LIST             tunbox TUN MTUs (default 65535,9000)
  --baselines LIST        direct,socks-direct,redsocks (default) and the extra row microsocks
  --only LIST             throughput,latency,crr,rss,wrk (default all)
  --conns LIST            open connections for the RSS test (default 1000,10000)
  --settle S              seconds after a load before the "after" RSS reading (default 60; --quick 20)
  --wrk-conns A,B         wrk connections, keep-alive and connection-per-request (default 1000,100)
  --rr-count N            request/response round trips (default 5000; --quick 2000)
  --v8-flags "A;B"        tunbox rows once per V8 flag set, ";"-separated ("none" = no flags;
                          default: the flags tunbox ships with, TUNBOX_V8_FLAGS)
  --workers LIST          tunbox rows once per TUNBOX_WORKERS value (default: tunbox's default)
  --out DIR               output directory (default bench/results)
  -h, --help              this text
`;

function list<T extends string>(value: string, allowed: readonly T[], flag: string): T[] {
  if (value === "none" || value === "") return [];
  const out: T[] = [];
  for (const item of value.split(",").map((s) => s.trim())) {
    if (!(allowed as readonly string[]).includes(item)) {
      throw new TypeError(`${flag}: unknown value "${item}" (expected ${allowed.join(", ")})`);
    }
    if (!out.includes(item as T)) out.push(item as T);
  }
  return out;
}

function positiveInts(
  value: string,
  flag: string,
  min = 1,
  max = Number.MAX_SAFE_INTEGER,
): number[] {
  return value.split(",").map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new RangeError(`${flag}: "${s}" is not an integer in ${min}–${max}`);
    }
    return n;
  });
}

/**
 * Parses `argv` (without the program name).
 *
 * @throws {TypeError} for an unknown flag or value; {@linkcode RangeError} for a bad number.
 */
export function parseArgs(argv: readonly string[]): BenchArgs {
  const a: BenchArgs = {
    quick: false,
    help: false,
    durationSeconds: 10,
    stacks: [...STACKS],
    mtus: [65535, 9000],
    baselines: ["direct", "socks-direct", "redsocks"],
    only: [...METRIC_GROUPS],
    conns: [1000, 10000],
    rrCount: 5000,
    settleSeconds: 60,
    wrkConns: [1000, 100],
    outDir: "bench/results",
  };
  let duration: number | undefined;
  let rrCount: number | undefined;
  let settle: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const [name, inline] = flag.includes("=") ? flag.split(/=(.*)/s, 2) : [flag, undefined];
    const value = (): string => {
      if (inline !== undefined) return inline;
      const v = argv[++i];
      if (v === undefined) throw new TypeError(`${name} needs a value`);
      return v;
    };
    switch (name) {
      case "--quick":
        a.quick = true;
        break;
      case "-h":
      case "--help":
        a.help = true;
        break;
      case "--duration":
        duration = positiveInts(value(), name, 1, 3600)[0];
        break;
      case "--stacks":
        a.stacks = list(value(), STACKS, name);
        break;
      case "--mtus":
        a.mtus = positiveInts(value(), name, 576, 65535);
        break;
      case "--baselines":
        a.baselines = list(value(), BASELINES, name);
        break;
      case "--only":
        a.only = list(value(), METRIC_GROUPS, name);
        break;
      case "--conns":
        a.conns = positiveInts(value(), name, 1, 100_000).sort((x, y) => x - y);
        break;
      case "--rr-count":
        rrCount = positiveInts(value(), name, 10, 10_000_000)[0];
        break;
      case "--settle":
        settle = positiveInts(value(), name, 0, 3600)[0];
        break;
      case "--wrk-conns": {
        const [k, c] = positiveInts(value(), name, 1, 100_000);
        if (k === undefined || c === undefined) {
          throw new TypeError(`${name} needs two counts: keep-alive,connection-per-request`);
        }
        a.wrkConns = [k, c];
        break;
      }
      case "--v8-flags":
        a.v8Flags = value().split(";").map((f) => f.trim() === "none" ? "" : f.trim());
        break;
      case "--workers":
        a.workers = positiveInts(value(), name, 1, 64);
        break;
      case "--out":
        a.outDir = value();
        break;
      default:
        throw new TypeError(`Unknown option "${flag}"\n\n${USAGE}`);
    }
  }
  a.durationSeconds = duration ?? (a.quick ? 3 : 10);
  a.rrCount = rrCount ?? (a.quick ? 2000 : 5000);
  a.settleSeconds = settle ?? (a.quick ? 20 : 60);
  return a;
}

/** The rows selected by `args`, baselines first, in the order they are measured. */
export function selectPaths(args: BenchArgs): PathSpec[] {
  const only = args.only;
  const paths: PathSpec[] = [];
  const has = (b: Baseline) => args.baselines.includes(b);
  if (has("direct")) {
    paths.push({
      id: "direct",
      label: "direct (veth, no proxy)",
      kind: "direct",
      throughputTool: "iperf3",
      // Nothing to measure memory of without a proxy.
      metrics: only.filter((m) => m !== "rss"),
    });
  }
  const socksRows = (["socks-direct", "microsocks"] as const).filter(has);
  if (socksRows.length > 0 && only.includes("throughput")) {
    // iperf3 cannot speak SOCKS, so the SOCKS rows use the Deno bulk tool; this row measures
    // that tool without a proxy, for a like-for-like ratio.
    paths.push({
      id: "direct-deno",
      label: "direct, Deno bulk tool",
      kind: "direct",
      throughputTool: "deno-bulk",
      metrics: ["throughput"],
    });
  }
  if (has("socks-direct")) {
    paths.push({
      id: "socks-direct",
      label: "socks-direct (client → danted)",
      kind: "socks-direct",
      socks: "danted",
      throughputTool: "deno-bulk",
      // wrk cannot speak SOCKS.
      metrics: only.filter((m) => m !== "wrk"),
    });
  }
  if (has("microsocks")) {
    paths.push({
      id: "socks-direct-microsocks",
      label: "extra: client → microsocks",
      kind: "socks-direct",
      socks: "microsocks",
      throughputTool: "deno-bulk",
      metrics: only.filter((m) => m !== "wrk"),
    });
  }
  if (has("redsocks")) {
    paths.push({
      id: "redsocks",
      label: "redsocks (REDIRECT → danted)",
      kind: "redsocks",
      socks: "danted",
      throughputTool: "iperf3",
      metrics: [...only],
    });
  }
  const flagSets: (string | undefined)[] = args.v8Flags ?? [undefined];
  const workerCounts: (number | undefined)[] = args.workers ?? [undefined];
  for (const mtu of args.mtus) {
    for (const stack of args.stacks) {
      for (const flags of flagSets) {
        for (const workers of workerCounts) {
          let id = `tunbox-${stack}-${mtu}`;
          let label = `tunbox ${stack}, MTU ${mtu}`;
          const spec: PathSpec = {
            id,
            label,
            kind: "tunbox",
            socks: "danted",
            stack,
            mtu,
            throughputTool: "iperf3",
            metrics: [...only],
          };
          if (flags !== undefined) {
            spec.v8Flags = flags;
            if (flagSets.length > 1) {
              id += `-v8[${flags}]`;
              label += `, V8 ${flags || "no flags"}`;
            }
          }
          if (workers !== undefined) {
            spec.workers = workers;
            id += `-w${workers}`;
            label += `, ${workers} worker${workers === 1 ? "" : "s"}`;
          }
          paths.push({ ...spec, id, label });
        }
      }
    }
  }
  return paths;
}
