/**
 * Network namespaces for tests that touch TUN devices, addresses, routes or rules.
 *
 * Nothing here ever changes the machine's root namespace: every command runs through
 * `ip -n <ns>` / `ip netns exec <ns>`, and {@linkcode Netns.run} switches only the calling
 * thread into the namespace (verifying the switch by inode before running anything).
 *
 * Typical use:
 *
 * ```ts
 * import { withNetns } from "../_helpers/netns.ts";
 *
 * Deno.test("something in a namespace", async () => {
 *   await withNetns("mytest", async (ns) => {
 *     await ns.ip("link", "add", "dummy0", "type", "dummy");      // ip -n <ns> link add ...
 *     const before = await ns.snapshot();                          // rules, routes, addresses
 *     const out = await ns.exec(["sysctl", "net.ipv4.ip_forward"]); // ip netns exec <ns> ...
 *     ns.run(() => { ...synchronous FFI code runs inside the namespace... });
 *     await ns.expectSnapshot(before);                             // settles, then asserts
 *   }); // the namespace (and every interface in it) is deleted here, even on failure
 * });
 * ```
 *
 * Names are `tb-<purpose>-<random hex>` (at most 30 characters), so tests running in parallel
 * never collide. Requires root (CAP_SYS_ADMIN + CAP_NET_ADMIN) and iproute2.
 *
 * @module
 */

import { deepStrictEqual as assertEquals } from "node:assert/strict";

const CLONE_NEWNET = 0x40000000;
const O_RDONLY = 0;
const O_CLOEXEC = 0x80000;

const nsLib = Deno.dlopen(
  "libc.so.6",
  {
    /** int setns(int fd, int nstype) */
    setns: { parameters: ["i32", "i32"], result: "i32" },
    /** int open(const char *path, int flags, mode_t mode) */
    open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
    /** int close(int fd) */
    close: { parameters: ["i32"], result: "i32" },
    /** int *__errno_location(void) */
    __errno_location: { parameters: [], result: "pointer" },
  } as const,
);

function errno(): number {
  return new Deno.UnsafePointerView(nsLib.symbols.__errno_location()!).getInt32();
}

function cstr(s: string): Uint8Array {
  return new TextEncoder().encode(s + "\0");
}

/** Result of a command run inside a namespace. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The state a test compares before and after: each as printed by iproute2. */
export interface NetnsSnapshot {
  /** `ip rule` */
  rules4: string;
  /** `ip -6 rule` */
  rules6: string;
  /** `ip route show table all` */
  routes4: string;
  /** `ip -6 route show table all` */
  routes6: string;
  /** `ip addr` */
  addrs: string;
}

const decoder = new TextDecoder();

function sameSnapshot(a: NetnsSnapshot, b: NetnsSnapshot): boolean {
  return a.rules4 === b.rules4 && a.rules6 === b.rules6 && a.routes4 === b.routes4 &&
    a.routes6 === b.routes6 && a.addrs === b.addrs;
}

/** Runs a command (no namespace switch) and returns its output; never throws on exit status. */
export async function runCommand(
  cmd: string[],
  options: { stdin?: string; env?: Record<string, string> } = {},
): Promise<CommandResult> {
  const command = new Deno.Command(cmd[0]!, {
    args: cmd.slice(1),
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    ...(options.env ? { env: options.env } : {}),
  });
  const child = command.spawn();
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(options.stdin));
    await w.close();
  }
  const out = await child.output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** Runs a command and returns stdout; throws with the command and its stderr on failure. */
export async function mustRun(cmd: string[], options: { stdin?: string } = {}): Promise<string> {
  const r = await runCommand(cmd, options);
  if (r.code !== 0) {
    throw new Error(`Command failed (exit ${r.code}): ${cmd.join(" ")}\n${r.stderr.trim()}`);
  }
  return r.stdout;
}

/** A network namespace owned by one test. Create with {@linkcode Netns.create}. */
export class Netns implements AsyncDisposable {
  #deleted = false;

  private constructor(
    /** The namespace name (`tb-<purpose>-<hex>`). */
    readonly name: string,
  ) {}

  /**
   * Creates a namespace named `tb-<purpose>-<random>` with its loopback up and IPv6 DAD off
   * (so addresses are usable at once and `ip addr` does not change while a test watches it).
   */
  static async create(purpose: string): Promise<Netns> {
    const clean = purpose.toLowerCase().replace(/[^a-z0-9]/g, "").slice(0, 12) || "test";
    const rand = crypto.getRandomValues(new Uint8Array(5));
    const hex = Array.from(rand, (b) => b.toString(16).padStart(2, "0")).join("");
    const name = `tb-${clean}-${hex}`;
    await mustRun(["ip", "netns", "add", name]);
    const ns = new Netns(name);
    try {
      for (const key of ["all", "default"]) {
        await ns.mustExec(["sysctl", "-q", "-w", `net.ipv6.conf.${key}.accept_dad=0`]);
      }
      await ns.ip("link", "set", "lo", "up");
    } catch (e) {
      await ns.delete();
      throw e;
    }
    return ns;
  }

  /** `ip -n <ns> <args>`; returns stdout, throws with stderr on failure. */
  ip(...args: string[]): Promise<string> {
    return mustRun(["ip", "-n", this.name, ...args]);
  }

  /** `ip netns exec <ns> <cmd>`; never throws on a non-zero exit. */
  exec(cmd: string[], options: { stdin?: string; env?: Record<string, string> } = {}) {
    return runCommand(["ip", "netns", "exec", this.name, ...cmd], options);
  }

  /** `ip netns exec <ns> <cmd>`; returns stdout, throws with stderr on failure. */
  mustExec(cmd: string[]): Promise<string> {
    return mustRun(["ip", "netns", "exec", this.name, ...cmd]);
  }

  /**
   * Starts a long-running process inside the namespace (`ip netns exec <ns> <cmd>`) with piped
   * stdout/stderr. The caller must end it (by PID) and await `status`.
   */
  spawn(
    cmd: string[],
    options: { env?: Record<string, string>; stdin?: boolean } = {},
  ): Deno.ChildProcess {
    return new Deno.Command("ip", {
      args: ["netns", "exec", this.name, ...cmd],
      stdin: options.stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
      ...(options.env ? { env: options.env } : {}),
    }).spawn();
  }

  /**
   * Creates a veth pair: `local` in this namespace and `peer` in `peerNs` (or also here), with
   * optional addresses (CIDR), both ends up.
   */
  async addVeth(
    local: string,
    peer: string,
    options: { peerNs?: Netns; localAddr?: string[]; peerAddr?: string[] } = {},
  ): Promise<void> {
    await this.ip("link", "add", local, "type", "veth", "peer", "name", peer);
    const peerNs = options.peerNs ?? this;
    if (peerNs !== this) await this.ip("link", "set", peer, "netns", peerNs.name);
    for (const a of options.localAddr ?? []) await this.ip("addr", "add", a, "dev", local);
    for (const a of options.peerAddr ?? []) await peerNs.ip("addr", "add", a, "dev", peer);
    await this.ip("link", "set", local, "up");
    await peerNs.ip("link", "set", peer, "up");
  }

  /** Rules, routes (all tables) and addresses, as iproute2 prints them. */
  async snapshot(): Promise<NetnsSnapshot> {
    return {
      rules4: await this.ip("rule"),
      rules6: await this.ip("-6", "rule"),
      routes4: await this.ip("route", "show", "table", "all"),
      routes6: await this.ip("-6", "route", "show", "table", "all"),
      addrs: await this.ip("addr"),
    };
  }

  /**
   * Asserts that the namespace's snapshot equals `expected`. The kernel finishes some work
   * asynchronously (IPv6 address work, device teardown), so it re-reads for up to `settleMs`
   * before failing with the full difference.
   */
  async expectSnapshot(expected: NetnsSnapshot, settleMs = 1500): Promise<void> {
    const deadline = Date.now() + settleMs;
    let actual = await this.snapshot();
    while (!sameSnapshot(actual, expected) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      actual = await this.snapshot();
    }
    assertEquals(actual, expected);
  }

  /** Lines of an iproute2 listing with trailing whitespace removed (empty lines dropped). */
  async lines(...args: string[]): Promise<string[]> {
    return (await this.ip(...args)).split("\n").map((l) => l.trimEnd()).filter((l) => l !== "");
  }

  /**
   * Runs `fn` synchronously with the calling thread switched into this namespace, then switches
   * back. Sockets and TUN devices created inside `fn` belong to this namespace for their whole
   * life. `fn` must be synchronous (a returned promise is rejected with a TypeError) so no
   * other code of this thread runs while it is inside.
   *
   * Safety: after switching, the thread's namespace inode is compared with this namespace's;
   * on mismatch nothing runs and an error is thrown.
   */
  run<T>(fn: () => T): T {
    if (this.#deleted) throw new Error(`Namespace ${this.name} was deleted`);
    const self = nsLib.symbols.open(cstr("/proc/thread-self/ns/net"), O_RDONLY | O_CLOEXEC, 0);
    if (self < 0) throw new Error(`open /proc/thread-self/ns/net failed: errno ${errno()}`);
    const target = nsLib.symbols.open(cstr(`/run/netns/${this.name}`), O_RDONLY | O_CLOEXEC, 0);
    if (target < 0) {
      nsLib.symbols.close(self);
      throw new Error(`open /run/netns/${this.name} failed: errno ${errno()}`);
    }
    const originIno = Deno.statSync("/proc/thread-self/ns/net").ino;
    let entered = false;
    let failure: { error: unknown } | undefined;
    let result: T | undefined;
    try {
      if (nsLib.symbols.setns(target, CLONE_NEWNET) !== 0) {
        throw new Error(`setns into ${this.name} failed: errno ${errno()}`);
      }
      entered = true;
      const here = Deno.statSync("/proc/thread-self/ns/net").ino;
      const want = Deno.statSync(`/run/netns/${this.name}`).ino;
      if (here === null || here !== want || here === originIno) {
        throw new Error(`Thread is not in namespace ${this.name} after setns; refusing to run`);
      }
      result = fn();
      if (result instanceof Promise) {
        result.catch(() => {});
        throw new TypeError("Netns.run() needs a synchronous function");
      }
    } catch (error) {
      failure = { error };
    }
    const back = entered ? nsLib.symbols.setns(self, CLONE_NEWNET) : 0;
    const backErrno = back === 0 ? 0 : errno();
    nsLib.symbols.close(target);
    nsLib.symbols.close(self);
    // Staying in the test namespace is safe; carrying on as if back home is not.
    if (back !== 0) throw new Error(`setns back from ${this.name} failed: errno ${backErrno}`);
    if (failure) throw failure.error;
    return result as T;
  }

  /** Deletes the namespace (idempotent). Interfaces inside it go with it. */
  async delete(): Promise<void> {
    if (this.#deleted) return;
    this.#deleted = true;
    const r = await runCommand(["ip", "netns", "delete", this.name]);
    if (r.code !== 0 && !r.stderr.includes("No such file")) {
      throw new Error(`ip netns delete ${this.name} failed: ${r.stderr.trim()}`);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.delete();
  }
}

/** Creates a namespace, runs `fn` with it, and deletes it afterwards, even when `fn` throws. */
export async function withNetns<T>(purpose: string, fn: (ns: Netns) => Promise<T> | T): Promise<T> {
  const ns = await Netns.create(purpose);
  try {
    return await fn(ns);
  } finally {
    await ns.delete();
  }
}
