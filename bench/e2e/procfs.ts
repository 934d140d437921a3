/**
 * Reading a process's memory and CPU time from `/proc`.
 *
 * @module
 */

/** CPU time and parent of one process, from `/proc/<pid>/stat`, in clock ticks. */
export interface ProcStat {
  pid: number;
  comm: string;
  ppid: number;
  utime: number;
  stime: number;
  /** Time of waited-for children (user + system). */
  childTicks: number;
}

/**
 * Parses the text of `/proc/<pid>/stat`. The command name may hold spaces and parentheses, so
 * fields are counted from the last `)`.
 *
 * @throws {SyntaxError} when the text does not have the stat layout.
 */
export function parseProcStat(text: string): ProcStat {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) throw new SyntaxError(`Cannot parse /proc stat "${text}"`);
  const pid = Number(text.slice(0, open).trim());
  // After ")": field 3 (state) is index 0, so field N is index N - 3.
  const rest = text.slice(close + 1).trim().split(/\s+/);
  const field = (n: number): number => {
    const v = Number(rest[n - 3]);
    if (!Number.isInteger(v)) throw new SyntaxError(`Cannot parse /proc stat field ${n} "${text}"`);
    return v;
  };
  return {
    pid,
    comm: text.slice(open + 1, close),
    ppid: field(4),
    utime: field(14),
    stime: field(15),
    childTicks: field(16) + field(17),
  };
}

/**
 * The resident set size in KiB from the text of `/proc/<pid>/status` (`VmRSS:`).
 *
 * @throws {SyntaxError} when the line is missing (a zombie or kernel thread).
 */
export function parseVmRssKiB(text: string): number {
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(text);
  if (!m) throw new SyntaxError("No VmRSS line in /proc status");
  return Number(m[1]);
}

let clkTck: number | undefined;

/** The kernel's clock ticks per second (`getconf CLK_TCK`, 100 on Linux unless told). */
export function clockTicksPerSecond(): number {
  if (clkTck !== undefined) return clkTck;
  try {
    const out = new Deno.Command("getconf", { args: ["CLK_TCK"], stdout: "piped", stderr: "null" })
      .outputSync();
    const v = Number(new TextDecoder().decode(out.stdout).trim());
    clkTck = Number.isInteger(v) && v > 0 ? v : 100;
  } catch {
    clkTck = 100;
  }
  return clkTck;
}

/** `/proc/<pid>/stat` of a live process, or `undefined` when it is gone. */
export function readProcStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(Deno.readTextFileSync(`/proc/${pid}/stat`));
  } catch {
    return undefined;
  }
}

/** VmRSS in KiB of a live process, or `undefined` when it is gone. */
export function readRssKiB(pid: number): number | undefined {
  try {
    return parseVmRssKiB(Deno.readTextFileSync(`/proc/${pid}/status`));
  } catch {
    return undefined;
  }
}

/** `pid` and all its live descendants (found by scanning `/proc/*\/stat` parents). */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const st = readProcStat(Number(entry.name));
    if (!st) continue;
    const list = children.get(st.ppid);
    if (list) list.push(st.pid);
    else children.set(st.ppid, [st.pid]);
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift()!;
    if (!readProcStat(p)) continue;
    out.push(p);
    queue.push(...(children.get(p) ?? []));
  }
  return out;
}

/**
 * CPU seconds (user + system, including reaped children) used so far by `pid` and its live
 * descendants.
 */
export function treeCpuSeconds(pid: number): number {
  const t = treeCpuTimes(pid);
  return t.total;
}

/** CPU seconds of a process tree: in total and the part spent in the kernel (stime). */
export interface CpuTimes {
  /** User + system, including reaped children. */
  total: number;
  /** System time of the live processes (the kernel's work in their system calls). */
  system: number;
}

/** {@linkcode treeCpuSeconds} with the kernel's share of it (`stime`) apart. */
export function treeCpuTimes(pid: number): CpuTimes {
  let ticks = 0;
  let sys = 0;
  for (const p of processTree(pid)) {
    const st = readProcStat(p);
    if (!st) continue;
    ticks += st.utime + st.stime + st.childTicks;
    sys += st.stime;
  }
  const hz = clockTicksPerSecond();
  return { total: ticks / hz, system: sys / hz };
}

/**
 * The proportional set size in KiB from the text of `/proc/<pid>/smaps_rollup` (`Pss:`):
 * shared pages divided among the processes sharing them, so a process tree's sum is honest.
 *
 * @throws {SyntaxError} when the line is missing.
 */
export function parsePssKiB(text: string): number {
  const m = /^Pss:\s+(\d+)\s+kB$/m.exec(text);
  if (!m) throw new SyntaxError("No Pss line in /proc smaps_rollup");
  return Number(m[1]);
}

/** Memory of a process tree: summed PSS and RSS in KiB, and how many processes. */
export interface TreeMemory {
  pssKiB: number;
  rssKiB: number;
  processes: number;
}

/** Summed PSS and RSS of `pid` and its live descendants. */
export function treeMemory(pid: number): TreeMemory {
  const tree = processTree(pid);
  let pss = 0;
  let rss = 0;
  for (const p of tree) {
    rss += readRssKiB(p) ?? 0;
    try {
      pss += parsePssKiB(Deno.readTextFileSync(`/proc/${p}/smaps_rollup`));
    } catch { /* gone */ }
  }
  return { pssKiB: pss, rssKiB: rss, processes: tree.length };
}

/** Summed VmRSS in KiB of `pid` and its live descendants. */
export function treeRssKiB(pid: number): number {
  let kib = 0;
  for (const p of processTree(pid)) kib += readRssKiB(p) ?? 0;
  return kib;
}

/**
 * CPU seconds the whole machine has spent busy since boot, from the `cpu` line of `/proc/stat`
 * text: user, nice, system, irq, softirq and steal (idle and iowait left out). The difference of
 * two readings is what every process and the kernel used in between.
 *
 * ```ts
 * parseMachineBusyTicks("cpu  100 2 30 900 5 1 7 0 0 0\n"); // 140
 * ```
 */
export function parseMachineBusyTicks(text: string): number {
  const line = text.split("\n").find((l) => l.startsWith("cpu "));
  if (!line) throw new SyntaxError("/proc/stat has no cpu line");
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, _idle, _iowait, irq, softirq, steal] = f;
  return user! + nice! + system! + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
}

/** {@linkcode parseMachineBusyTicks} of this machine, in seconds. */
export function machineBusySeconds(): number {
  return parseMachineBusyTicks(Deno.readTextFileSync("/proc/stat")) / clockTicksPerSecond();
}
