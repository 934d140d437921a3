/**
 * A single-threaded readiness reactor: one epoll set, a timer queue, and a loop that calls
 * `epoll_wait` synchronously (see docs/architecture.md, "Why a synchronous epoll loop").
 *
 * The loop alternates: wait for readiness (timeout 0 while busy; for 50 µs after activity a
 * spin of non-blocking polls; then up to the next timer or {@linkcode MAX_BLOCK_MS}) → dispatch
 * handlers → run due timers → yield to the JS event loop (`setImmediate`; after a busy round
 * only a microtask checkpoint, unless 0.5 ms passed since the last `setImmediate` or the loop
 * is held awake; when idle, at most every 100 ms a full turn with `setTimeout(0)`, so Deno's
 * own I/O driver — `postMessage`, child processes — is polled too, and two full turns right
 * after another thread signals the wake fd). Handlers are level-triggered.
 *
 * Code running on a reactor thread must do its I/O through the reactor: Deno-native async I/O
 * only progresses while the loop yields, and the loop may block in `epoll_wait` for up to
 * MAX_BLOCK_MS. Another thread wakes the loop with `signalWaker(reactor.wakeFd)`.
 *
 * A reactor made with `{ sharedThread: true }` shares its thread with other work (the main
 * thread's Clash API, signals, timers): it never blocks the thread. Whenever it would sleep it
 * waits with `Poller.waitAsync` (`epoll_wait` on Deno's blocking pool), so the event loop runs
 * freely meanwhile; after a wake-up, and at least every {@linkcode SHARED_TURN_EVERY_MS} while
 * busy, it takes such a wait with timeout 0, which gives the event loop a full turn. A busy
 * loop's `setImmediate` yields let timers and message ports through, but not Deno's own sockets:
 * with a never-drained fd, a loopback echo over `Deno.connect` took 60 ms without these turns
 * and one or two turns (10–20 ms, sometimes under 1 ms) with them. Timers, holds and fds added while a wait is in flight (by code that
 * ran meanwhile: a Clash API call, a message) wake it through the loop's own wake fd.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { getLogger } from "@logtape/logtape";
import {
  EV_ERROR,
  EV_HUP,
  EV_RDHUP,
  EV_READ,
  EV_WRITE,
  Poller,
  signalWaker,
  Waker,
} from "./sys.ts";
import { type Timer, TimerQueue } from "./timer_queue.ts";

export { EV_ERROR, EV_HUP, EV_RDHUP, EV_READ, EV_WRITE };

/** Longest time the loop blocks in `epoll_wait` without a timer or wake-up. */
export const MAX_BLOCK_MS = 50;

/** Called with the ready event mask (EV_* bits). */
export type IoHandler = (events: number) => void;

const log = getLogger(["tunbox", "io"]);

/** Lets promises and macrotasks run between busy rounds (about 1 µs). */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A full turn of Deno's event loop, including its I/O driver (messages from other threads,
 * child processes, Deno-native sockets), which `setImmediate` alone reaches only every few
 * dozen turns. `setTimeout(0)` is clamped to 1–2 ms, so it is taken only when the loop is idle
 * and at most every {@linkcode FULL_TURN_EVERY_MS}: a transfer that drains the loop for one
 * round must not stall for milliseconds.
 */
function fullTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Least time between two full event-loop turns taken by an idle loop. */
const FULL_TURN_EVERY_MS = 100;

/**
 * Longest time between two macrotask yields (`setImmediate`) of a busy loop; busy rounds in
 * between end with a microtask checkpoint only. A round after which the loop may spin or sleep
 * always yields, and work queued with `setImmediate` that must not wait (TLS) holds the loop
 * awake, which yields every round.
 */
const YIELD_EVERY_MS = 0.5;

/**
 * Longest time a busy loop on a shared thread runs without giving the thread's event loop a
 * full turn (an `epoll_wait` on the blocking pool with timeout 0, about 36 µs, so 0.4% of a
 * busy loop): the Clash API's sockets wait at most about this long under load.
 */
export const SHARED_TURN_EVERY_MS = 10;

/**
 * After activity, a loop on a shared thread still waits on its own thread (a synchronous
 * `epoll_wait`, after the spin) until this long has passed, then on the blocking pool: a wake-up
 * from the pool costs a thread hop (about 36 µs) that request/response and connection-per-request
 * traffic would pay on most packets (mixed stack, one run each: rr p50 169 vs 147 µs and 4,704 vs
 * 5,821 connections/s against a Deno Worker). The thread's event loop waits at most this long.
 */
const SHARED_DOZE_MS = 2;

/** How a reactor uses its thread. */
export interface ReactorOptions {
  /**
   * The thread also serves other work (the main thread): never block it in a synchronous
   * `epoll_wait`; see the module documentation.
   */
  sharedThread?: boolean;
}

/** Awaited for a microtask checkpoint between rounds (no allocation per round). */
const RESOLVED: Promise<void> = Promise.resolve();

/**
 * After activity, keep polling without blocking for this long before sleeping in `epoll_wait`:
 * the answer to a request usually arrives within tens of microseconds, and waking a sleeping
 * thread costs about as much. Measured on the idle 2-core VM (64-byte request/response through
 * tunbox and danted): p50 158–197 µs without spinning, 80–92 µs with 50 µs of spinning. It costs
 * at most that much CPU per burst of activity. `TUNBOX_SPIN_US` overrides it (0 turns it off).
 */
const SPIN_MS = (() => {
  const v = Number(Deno.env.get("TUNBOX_SPIN_US") ?? "50");
  return Number.isFinite(v) && v >= 0 ? v / 1000 : 0.05;
})();

/**
 * Whether the spin after activity is worth its CPU, learnt from how the last spins ended (as an
 * adaptive mutex does): a spin that finds work saves a wake-up; one that runs out burns
 * `SPIN_MS` for nothing. When the upstream answers slower than the spin lasts (a proxy server
 * that sends a chunk every 90 µs, a far host), every spin runs out, and those spins cost a
 * shadowsocks download about 1.5 ms of CPU per MB on a machine where the server needs that CPU.
 *
 * The hit rate is a moving average with weight 1/8 per spin; below 1/5 only every 16th chance
 * spins (a probe, so the rate recovers when the traffic changes).
 *
 * ```ts
 * const p = new SpinPolicy();
 * if (p.shouldSpin()) p.record(spinFoundWork);
 * ```
 */
export class SpinPolicy {
  /** Moving average of spins that found work, 0..1. */
  hitRate = 1;
  #skipped = 0;

  /** True when the loop should spin before sleeping now. */
  shouldSpin(): boolean {
    if (this.hitRate >= SPIN_MIN_HIT_RATE) return true;
    this.#skipped = (this.#skipped + 1) & (SPIN_PROBE_EVERY - 1);
    return this.#skipped === 0;
  }

  /** How a spin ended: it found work (`true`) or ran out. */
  record(hit: boolean): void {
    this.hitRate += ((hit ? 1 : 0) - this.hitRate) / 8;
  }
}

/** Below this share of spins finding work, the loop mostly sleeps at once. */
const SPIN_MIN_HIT_RATE = 0.2;
/** While spins do not pay, one chance in this many (a power of two) still spins. */
const SPIN_PROBE_EVERY = 16;

/** The per-thread event loop. */
export class Reactor {
  readonly poller: Poller;
  readonly timers = new TimerQueue();
  /** Decides whether the loop spins after activity (see {@linkcode SpinPolicy}). */
  readonly spinPolicy = new SpinPolicy();
  /** Other threads wake this loop (e.g. after `postMessage`) with `signalWaker(wakeFd)`. */
  readonly wakeFd: number;
  #waker: Waker;
  #handlers: (IoHandler | undefined)[] = [];
  #interest: number[] = [];
  #running = false;
  #stopRequested = false;
  #onWake: (() => void) | undefined;
  #stopped: Promise<void> | undefined;
  #awake = 0;
  /** Full event-loop turns still to take because another thread signalled the wake fd. */
  #turnWanted = 0;
  /** Handler exceptions caught by the loop (they are logged and the fd's handler continues). */
  handlerErrors = 0;
  /**
   * Runs after each round's handlers and timers (e.g. to flush batched output or re-arm a
   * stack timer once per round instead of once per event).
   */
  afterRound: (() => void) | null = null;
  /** Set with {@linkcode ReactorOptions.sharedThread}. */
  readonly sharedThread: boolean;
  /**
   * While a `waitAsync` is in flight: the time it ends at the latest; -Infinity when none is in
   * flight or it was already woken.
   */
  #waitingUntil = -Infinity;

  constructor(capacity = 256, options: ReactorOptions = {}) {
    this.sharedThread = options.sharedThread === true;
    this.poller = new Poller(capacity);
    this.#waker = new Waker();
    this.wakeFd = this.#waker.signalFd;
    this.add(this.#waker.fd, EV_READ, () => {
      this.#waker.drain();
      // The thread that woke us has usually posted a message, which Deno delivers only on a
      // full event-loop turn; one turn alone missed it about once in a hundred wake-ups.
      this.#turnWanted = 2;
      this.#onWake?.();
    });
  }

  /** Current time in milliseconds (monotonic). */
  now(): number {
    return performance.now();
  }

  /** Registers `fd` with an interest mask (EV_READ | EV_WRITE) and a handler. */
  add(fd: number, interest: number, handler: IoHandler): void {
    this.#handlers[fd] = handler;
    this.#interest[fd] = interest;
    this.poller.add(fd, interest);
    this.#wakeWaitBefore(-Infinity);
  }

  /** Changes the interest mask of a registered fd (no syscall when unchanged). */
  setInterest(fd: number, interest: number): void {
    if (this.#interest[fd] === interest) return;
    this.#interest[fd] = interest;
    this.poller.modify(fd, interest);
    this.#wakeWaitBefore(-Infinity);
  }

  interestOf(fd: number): number {
    return this.#interest[fd] ?? 0;
  }

  /** Unregisters `fd` (call before closing it). */
  remove(fd: number): void {
    if (this.#handlers[fd] === undefined) return;
    this.#handlers[fd] = undefined;
    this.#interest[fd] = 0;
    this.poller.remove(fd);
  }

  /** Runs `callback` at `now() + delayMs`. */
  setTimeout(delayMs: number, callback: () => void): Timer {
    const deadline = this.now() + delayMs;
    this.#wakeWaitBefore(deadline);
    return this.timers.schedule(deadline, callback);
  }

  /** Runs `callback` at an absolute deadline on this reactor's clock. */
  at(deadline: number, callback: () => void): Timer {
    this.#wakeWaitBefore(deadline);
    return this.timers.schedule(deadline, callback);
  }

  /**
   * Ends an in-flight `waitAsync` that would last past `deadline` (code running on a shared
   * thread while the loop waits scheduled earlier work). A worker's loop never has one in
   * flight: it does not pay for this beyond one comparison.
   */
  #wakeWaitBefore(deadline: number): void {
    // -Infinity (a change of the fd set, a hold) wakes any wait in flight; with none in flight
    // `#waitingUntil` is -Infinity, so nothing does.
    if (deadline >= this.#waitingUntil) return;
    this.#waitingUntil = -Infinity;
    signalWaker(this.wakeFd);
  }

  /**
   * Keeps the loop from sleeping in `epoll_wait` until the returned function is called: it
   * polls without blocking and yields to the JS event loop every round. For work that
   * progresses outside the reactor's fds and timers — Node's TLS completes writes from
   * `setImmediate`, which would otherwise wait up to {@linkcode MAX_BLOCK_MS} behind an idle
   * `epoll_wait`. Hold it only while such work is queued, never while waiting for the network.
   */
  holdAwake(): () => void {
    this.#awake++;
    this.#wakeWaitBefore(-Infinity);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#awake--;
    };
  }

  /** Holds taken with {@linkcode holdAwake} and not yet released. */
  get awakeHolds(): number {
    return this.#awake;
  }

  /** Called on the loop thread whenever another thread signals {@linkcode wakeFd}. */
  onWake(callback: () => void): void {
    this.#onWake = callback;
  }

  /** Starts the loop; the returned promise settles when `stop()` has taken effect. */
  run(): Promise<void> {
    if (this.#stopped) return this.#stopped;
    this.#running = true;
    this.#stopped = this.#loop();
    return this.#stopped;
  }

  /** Asks the loop to finish after the current round. */
  stop(): void {
    this.#stopRequested = true;
    this.#wakeWaitBefore(-Infinity);
  }

  get running(): boolean {
    return this.#running;
  }

  /** Closes the epoll set and the wake fd. Registered fds are not closed. */
  close(): void {
    this.poller.close();
    this.#waker.close();
  }

  /** One round without blocking (tests drive the reactor with this). */
  poll(timeoutMs = 0): number {
    const n = this.poller.wait(timeoutMs);
    this.#dispatch(n);
    this.timers.runDue(this.now());
    this.#afterRound();
    return n;
  }

  #afterRound(): void {
    if (this.afterRound === null) return;
    try {
      this.afterRound();
    } catch (error) {
      this.handlerErrors++;
      log.error("Reactor round hook failed: {error}", { error });
    }
  }

  async #loop(): Promise<void> {
    let busy = true;
    let lastFullTurn = this.now();
    let lastActive = this.now();
    let lastYield = this.now();
    /** Shared thread: the next wait goes through the blocking pool even with timeout 0. */
    let turnDue = false;
    const shared = this.sharedThread;
    const spin = this.spinPolicy;
    /** The spin after the latest activity is over (done or skipped). */
    let spun = false;
    try {
      while (!this.#stopRequested) {
        let timeout = 0;
        const idle: boolean = !busy && this.#awake === 0;
        let spinning = false;
        if (idle && !spun && this.now() - lastActive < SPIN_MS) {
          spinning = spin.shouldSpin();
          spun = true;
        }
        if (idle && !spinning) {
          const next = this.timers.nextDeadline();
          timeout = next === Infinity
            ? MAX_BLOCK_MS
            : Math.max(0, Math.min(MAX_BLOCK_MS, Math.ceil(next - this.now())));
        }
        let n: number;
        if (spinning) {
          n = this.#spin(lastActive + SPIN_MS);
          spin.record(n > 0);
        } else if (shared && (timeout > 0 || turnDue)) {
          const dozeLeft = lastActive + SHARED_DOZE_MS - this.now();
          if (!turnDue && dozeLeft >= 1) {
            // Shortly after activity the next packet usually comes soon: wait on this thread
            // (a direct wake-up) for a little while before handing the wait to the pool.
            n = this.poller.wait(Math.min(timeout, Math.floor(dozeLeft)));
          } else {
            turnDue = false;
            n = await this.#waitAsync(timeout);
            lastFullTurn = lastYield = this.now();
          }
        } else n = this.poller.wait(timeout);
        this.#dispatch(n);
        const ran = this.timers.runDue(this.now());
        this.#afterRound();
        busy = n > 0 || ran > 0 || this.#awake > 0;
        if (busy) {
          lastActive = this.now();
          spun = false;
        }
        if (shared) {
          // The next wait is on the blocking pool when the loop may sleep (timeout > 0), and
          // also while busy when a full turn is due or the wake fd was signalled.
          if (this.#turnWanted > 0 || this.now() - lastFullTurn >= SHARED_TURN_EVERY_MS) {
            if (this.#turnWanted > 0) this.#turnWanted--;
            turnDue = true;
            continue;
          }
        } else if (
          this.#turnWanted > 0 || (!busy && this.now() - lastFullTurn >= FULL_TURN_EVERY_MS)
        ) {
          if (this.#turnWanted > 0) this.#turnWanted--;
          await fullTurn();
          lastFullTurn = lastYield = this.now();
          continue;
        }
        if (!busy || this.#awake > 0 || this.now() - lastYield >= YIELD_EVERY_MS) {
          // Before the loop may sleep, queued macrotasks (Deno ops, timers) get their turn.
          await yieldToEventLoop();
          lastYield = this.now();
        } else {
          // Busy: promises resolved by this round's handlers run now; macrotasks wait for the
          // next yield (a `setImmediate` costs ~1.5 µs and ~1 KB of garbage, this ~0.1 µs).
          await RESOLVED;
        }
      }
    } finally {
      this.#running = false;
    }
  }

  /** An `epoll_wait` on the blocking pool; code that schedules earlier work meanwhile ends it. */
  async #waitAsync(timeoutMs: number): Promise<number> {
    this.#waitingUntil = timeoutMs === 0 ? -Infinity : this.now() + timeoutMs;
    try {
      return await this.poller.waitAsync(timeoutMs);
    } finally {
      this.#waitingUntil = -Infinity;
    }
  }

  /**
   * The spin after activity: polls without blocking, and without yielding to the JS event loop
   * (nothing in this isolate runs meanwhile, so nothing new can be queued for it), until an fd
   * is ready, a timer is due or `until`. A yield per poll cost about 1 KB of garbage (Promise
   * and Immediate): a 50 µs spin made tens of KB per request/response and a scavenge every few
   * milliseconds, a tail-latency spike each.
   */
  #spin(until: number): number {
    const end = Math.min(until, this.timers.nextDeadline());
    const poller = this.poller;
    for (;;) {
      const n = poller.wait(0);
      if (n !== 0 || this.now() >= end) return n;
    }
  }

  #dispatch(n: number): void {
    const fds = this.poller.readyFds;
    const events = this.poller.readyEvents;
    for (let i = 0; i < n; i++) {
      const fd = fds[i]!;
      const handler = this.#handlers[fd];
      if (handler === undefined) continue;
      try {
        handler(events[i]!);
      } catch (error) {
        this.handlerErrors++;
        log.error("I/O handler for fd {fd} failed: {error}", { fd, error });
      }
    }
  }
}
