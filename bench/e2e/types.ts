/**
 * Result records of the end-to-end suite (what `bench/results/<date>.json` holds).
 *
 * @module
 */

/** A measurement that either produced a value or failed with a message. */
export type Measured<T> = { ok: true; value: T } | { ok: false; error: string };

/** Which metric groups to run. */
export type MetricGroup = "throughput" | "latency" | "crr" | "rss" | "wrk";

/** All metric groups, in run order. */
export const METRIC_GROUPS: readonly MetricGroup[] = ["throughput", "latency", "crr", "rss", "wrk"];

/** The TUN stacks tunbox offers. */
export type Stack = "system" | "gvisor" | "mixed";

/** The SOCKS5 servers the suite can run. */
export type SocksServer = "danted" | "microsocks";

/** How a path is set up. */
export type PathKind = "direct" | "socks-direct" | "redsocks" | "tunbox";

/** One row of the report: a way for the client's traffic to reach the server. */
export interface PathSpec {
  id: string;
  label: string;
  kind: PathKind;
  /** The SOCKS5 upstream used by the path (none for direct). */
  socks?: SocksServer;
  stack?: Stack;
  mtu?: number;
  /** tunbox rows: `--v8-flags=` value ("" for none); undefined = tunbox's own flags. */
  v8Flags?: string;
  /** tunbox rows: `TUNBOX_WORKERS`; undefined = tunbox's default. */
  workers?: number;
  /** Tool that measures throughput on this row. */
  throughputTool: "iperf3" | "deno-bulk";
  /** Metric groups measured on this row (a subset of the run's). */
  metrics: MetricGroup[];
}

/** One throughput test. */
export interface ThroughputRun {
  direction: "upload" | "download";
  streams: number;
  tool: "iperf3" | "deno-bulk";
  /** Receiver-side Gbit/s. */
  gbps: number;
  bytes: number;
  seconds: number;
  retransmits?: number;
  intervalsGbps?: number[];
  /** CPU seconds of the proxy process (tunbox or redsocks) during the test. */
  proxyCpuSeconds?: number;
  proxyCpuSecondsPerGB?: number;
  /** CPU seconds of the SOCKS server's process tree during the test. */
  socksCpuSeconds?: number;
  socksCpuSecondsPerGB?: number;
  /** Packets through the TUN device (both directions) per second, for tunbox rows. */
  tunPacketsPerSecond?: number;
}

/** Request/response latency over one connection. */
export interface LatencyResult {
  tool: string;
  size: number;
  count: number;
  minUs: number;
  meanUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  maxUs: number;
  tps: number;
}

/** New connections per second. */
export interface CrrResult {
  tool: string;
  concurrency: number;
  connections: number;
  failures: number;
  /** Attempts that did not connect and echo within the per-attempt timeout (counted in failures). */
  timeouts?: number;
  seconds: number;
  perSecond: number;
  firstError?: string;
}

/** Memory with a number of open connections. */
export interface RssPoint {
  /** Connections asked for (0 = idle). */
  target: number;
  /** Connections actually open when RSS was read. */
  opened: number;
  /** VmRSS of the proxy process (tunbox or redsocks). */
  proxyRssKiB?: number;
  /** Summed PSS of the SOCKS server's processes (danted forks; RSS would count shared pages again and again). */
  socksPssKiB?: number;
  /** Summed VmRSS of the SOCKS server's processes. */
  socksRssKiB?: number;
  /** How many processes the SOCKS server had. */
  socksProcesses?: number;
  /** Set on the reading taken this many seconds after the connections closed (target 0). */
  settledSeconds?: number;
  error?: string;
}

/** wrk's two modes: keep-alive connections, or `Connection: close` (a connection per request). */
export type WrkMode = "keepalive" | "close";

/** One wrk run against nginx. */
export interface WrkRun {
  mode: WrkMode;
  connections: number;
  requests: number;
  seconds: number;
  perSecond: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  errors: { connect: number; read: number; write: number; timeout: number; non2xx: number };
  /** Highest proxy VmRSS sampled every 250 ms during the run. */
  proxyPeakRssKiB?: number;
  proxyCpuSeconds?: number;
  proxyCpuUsPerRequest?: number;
  /**
   * The kernel's part of {@linkcode proxyCpuUsPerRequest} (system time: the proxy's system
   * calls, and for a TUN the network stack's work on the packets it writes).
   */
  proxySystemCpuUsPerRequest?: number;
  /** Packets through the TUN device (both ways) per request; only for a TUN row. */
  tunPacketsPerRequest?: number;
  /**
   * CPU the whole machine used per request (`/proc/stat`): wrk, nginx, the SOCKS server, the
   * proxy and the kernel's work for all of them.
   */
  machineCpuUsPerRequest?: number;
}

/** The wrk group of one row. */
export interface WrkResult {
  /** Proxy VmRSS before the load. */
  idleRssKiB?: number;
  /** Keep-alive run, then connection-per-request run. */
  runs: Measured<WrkRun>[];
  /** Proxy VmRSS `settleSeconds` after the load stopped. */
  afterRssKiB?: number;
  settleSeconds: number;
  /** [seconds after the load, VmRSS KiB] every 10 s while settling. */
  settled?: [number, number][];
}

/** Everything measured on one row. */
export interface PathResult {
  spec: PathSpec;
  /** "failed" when the path could not be set up; `error` says why. */
  status: "ok" | "failed";
  error?: string;
  throughput: Measured<ThroughputRun>[];
  latency?: Measured<LatencyResult>;
  crr: Measured<CrrResult>[];
  rss: RssPoint[];
  wrk?: WrkResult;
  /** Problems found after the row, e.g. ip rules left behind. */
  violations: string[];
  /** What produced each metric on this row. */
  tools: Record<string, string>;
}

/** Machine and software the run used. */
export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memTotalKiB: number;
  kernel: string;
  deno: string;
  iperf3: string;
  danted: string;
  redsocks: string;
  gitCommit: string;
  wrk?: string;
  nginx?: string;
  /** 1-, 5- and 15-minute load averages when the run started (other work skews results). */
  loadAvgAtStart: number[];
  /** Open-files hard limit the proxies and tools ran with. */
  nofileLimit: number;
}

/** The whole report. */
export interface Report {
  date: string;
  options: {
    quick: boolean;
    durationSeconds: number;
    stacks: Stack[];
    mtus: number[];
    only: MetricGroup[];
    conns: number[];
    rrCount: number;
    /** Round trips made before the measured ones (absent in reports before it was recorded). */
    rrWarmup?: number;
    /** Seconds waited after a load before the "after" RSS reading. */
    settleSeconds?: number;
    /** wrk connections: keep-alive run, connection-per-request run. */
    wrkConns?: [number, number];
  };
  machine: MachineInfo;
  paths: PathResult[];
}
