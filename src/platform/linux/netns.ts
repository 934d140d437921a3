/**
 * Network namespaces held as file descriptors (no names under `/run/netns`), through FFI:
 * `unshare(CLONE_NEWNET)`, `setns(2)` and `open("/proc/thread-self/ns/net")`.
 *
 * Namespaces belong to threads, not processes. Everything here acts on the calling thread
 * only, and every temporary switch ({@linkcode NetNamespace.run}) is synchronous: no other
 * code of this thread runs (no `await`, no event-loop turn) between entering and leaving, so
 * nothing else ever sees the thread in the wrong namespace.
 *
 * A namespace lives while a process is in it, an fd refers to it, or a socket or device of it
 * is open; closing the last fd after its processes exit releases it, with every interface
 * in it. So a throwaway namespace needs no cleanup beyond ending its processes and closing
 * its fd.
 *
 * Threads and namespaces in Deno: a new thread starts in the namespace of the thread that
 * creates it. {@linkcode enterNetns} moves the calling (main) thread for good; Workers created
 * afterwards start there too, and Deno creates the sockets of `Deno.connect`, `Deno.listen`,
 * `Deno.serve`, `node:dgram` and `fetch` on the thread that runs the JavaScript. Threads that
 * existed before the switch (Deno's blocking pool, V8's platform threads) stay where they
 * were: work Deno sends there (file I/O, `getaddrinfo` for host names) is not in the
 * namespace, which is why callers inside a namespace dial IP literals.
 *
 * @module
 */

import { linuxErrno, linuxLibc } from "../../../ffi/linux/libc.ts";
import { O_CLOEXEC, O_RDONLY } from "../../../ffi/linux/constants.ts";
import { SysError } from "../../../ffi/errno.ts";

/** `CLONE_NEWNET` from `<sched.h>`: the namespace type for `unshare`/`setns`. */
export const CLONE_NEWNET = 0x40000000;

/** The calling thread's own network namespace, as a path. */
export const THREAD_NETNS_PATH = "/proc/thread-self/ns/net";

function cstr(s: string): Uint8Array {
  return new TextEncoder().encode(s + "\0");
}

/** Inode of the calling thread's network namespace (equal inodes = same namespace). */
export function threadNetnsInode(): number {
  return Deno.statSync(THREAD_NETNS_PATH).ino!;
}

/** Inode of the namespace at `path` (an nsfs file, or a `/proc/.../ns/net` link). */
export function netnsInode(path: string): number {
  return Deno.statSync(path).ino!;
}

function openNs(path: string): number {
  const fd = linuxLibc().open(cstr(path), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) throw new SysError(`open network namespace "${path}"`, linuxErrno());
  return fd;
}

function setns(fd: number, what: string): void {
  if (linuxLibc().setns(fd, CLONE_NEWNET) !== 0) {
    throw new SysError(`setns into network namespace ${what}`, linuxErrno());
  }
}

/** A network namespace held by an fd of this process. Close it to let it go. */
export class NetNamespace implements Disposable {
  #fd: number;

  private constructor(fd: number, readonly inode: number) {
    this.#fd = fd;
  }

  /**
   * Creates a new, empty network namespace (only a `lo`, down) without leaving the current
   * one: the calling thread unshares, opens its new namespace, and returns with `setns`.
   * Needs CAP_SYS_ADMIN.
   */
  static create(): NetNamespace {
    const libc = linuxLibc();
    const home = openNs(THREAD_NETNS_PATH);
    const homeInode = threadNetnsInode();
    let fd = -1;
    try {
      if (libc.unshare(CLONE_NEWNET) !== 0) {
        throw new SysError("unshare(CLONE_NEWNET)", linuxErrno());
      }
      let openError: unknown;
      try {
        fd = openNs(THREAD_NETNS_PATH);
      } catch (e) {
        openError = e;
      }
      // Back home first, whatever happened; staying in the new namespace would be wrong.
      setns(home, "of origin (after unshare)");
      if (threadNetnsInode() !== homeInode) {
        throw new Error("Thread is not back in its network namespace after setns");
      }
      if (openError) throw openError;
      return new NetNamespace(fd, netnsInode(`/proc/self/fd/${fd}`));
    } catch (e) {
      if (fd >= 0) libc.close(fd);
      throw e;
    } finally {
      libc.close(home);
    }
  }

  /** Opens the namespace at `path` (e.g. `/proc/<pid>/ns/net` or `/run/netns/<name>`). */
  static open(path: string): NetNamespace {
    const fd = openNs(path);
    try {
      return new NetNamespace(fd, netnsInode(`/proc/self/fd/${fd}`));
    } catch (e) {
      linuxLibc().close(fd);
      throw e;
    }
  }

  /** The fd (-1 once closed). */
  get fd(): number {
    return this.#fd;
  }

  /** A path other processes can open to join it while this fd is open: `/proc/<pid>/fd/<fd>`. */
  get path(): string {
    if (this.#fd < 0) throw new Error("Network namespace fd is closed");
    return `/proc/${Deno.pid}/fd/${this.#fd}`;
  }

  /**
   * Runs `fn` with the calling thread inside this namespace and returns it home afterwards,
   * even when `fn` throws. Sockets created inside `fn` (netlink included) belong to this
   * namespace for their whole life. `fn` must be synchronous: a returned promise is an error.
   * The switch is verified by inode before `fn` runs.
   */
  run<T>(fn: () => T): T {
    if (this.#fd < 0) throw new Error("Network namespace fd is closed");
    const libc = linuxLibc();
    const home = openNs(THREAD_NETNS_PATH);
    const homeInode = threadNetnsInode();
    let entered = false;
    let failure: { error: unknown } | undefined;
    let result: T | undefined;
    try {
      setns(this.#fd, `fd ${this.#fd}`);
      entered = true;
      if (threadNetnsInode() !== this.inode) {
        throw new Error(`Thread is not in network namespace ${this.inode} after setns`);
      }
      result = fn();
      if (result instanceof Promise) {
        result.catch(() => {});
        throw new TypeError("NetNamespace.run() needs a synchronous function");
      }
    } catch (error) {
      failure = { error };
    }
    try {
      if (entered) {
        setns(home, "of origin");
        if (threadNetnsInode() !== homeInode) {
          throw new Error("Thread is not back in its network namespace after setns");
        }
      }
    } finally {
      libc.close(home);
    }
    if (failure) throw failure.error;
    return result as T;
  }

  /** Closes the fd (idempotent). The namespace goes away once nothing else holds it. */
  close(): void {
    if (this.#fd < 0) return;
    linuxLibc().close(this.#fd);
    this.#fd = -1;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Moves the calling thread into the namespace at `path` for good (the hidden `--netns`
 * option, called on the main thread before anything else runs) and verifies the switch by
 * inode. Returns the namespace's inode.
 */
export function enterNetns(path: string): number {
  const libc = linuxLibc();
  const fd = openNs(path);
  try {
    const want = netnsInode(`/proc/self/fd/${fd}`);
    setns(fd, JSON.stringify(path));
    const here = threadNetnsInode();
    if (here !== want) {
      throw new Error(
        `Thread is in network namespace ${here} after setns into "${path}" (${want})`,
      );
    }
    return want;
  } finally {
    libc.close(fd);
  }
}

/**
 * Inodes of every network namespace some process is in (`/proc/<pid>/task/<tid>/ns/net`,
 * so threads that switched alone count too). Processes that vanish while reading are skipped.
 */
export function processNetnsInodes(): Set<number> {
  const out = new Set<number>();
  for (const proc of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(proc.name)) continue;
    try {
      for (const task of Deno.readDirSync(`/proc/${proc.name}/task`)) {
        try {
          out.add(netnsInode(`/proc/${proc.name}/task/${task.name}/ns/net`));
        } catch { /* thread exited */ }
      }
    } catch { /* process exited */ }
  }
  return out;
}

/** `PR_SET_PDEATHSIG` from `<linux/prctl.h>`. */
export const PR_SET_PDEATHSIG = 1;
const SIGTERM = 15;

/**
 * Asks the kernel to send SIGTERM to this process when the thread that started it ends
 * (`prctl(PR_SET_PDEATHSIG)`), so a helper never outlives a parent that was killed, even
 * with SIGKILL. Deno starts child processes from its main thread, which lives as long as
 * the process. Returns false when the parent is already gone (`getppid()` is no longer
 * `parentPid`): the caller should exit.
 */
export function exitWithParent(parentPid: number): boolean {
  const libc = linuxLibc();
  if (libc.prctl(PR_SET_PDEATHSIG, BigInt(SIGTERM), 0n, 0n, 0n) !== 0) {
    throw new SysError("prctl(PR_SET_PDEATHSIG, SIGTERM)", linuxErrno());
  }
  return libc.getppid() === parentPid;
}
