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
 * @module
 */

import { setImmediate } from "node:timers";
import { getLogger } from "@logtape/logtape";
import { EV_ERROR, EV_HUP, EV_RDHUP, EV_READ, EV_WRITE, Poller, Waker } from "./sys.ts";
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

/** The per-thread event loop. */
export class Reactor {
  readonly poller: Poller;
  readonly timers = new TimerQueue();
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

  constructor(capacity = 256) {
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
  }

  /** Changes the interest mask of a registered fd (no syscall when unchanged). */
  setInterest(fd: number, interest: number): void {
    if (this.#interest[fd] === interest) return;
    this.#interest[fd] = interest;
    this.poller.modify(fd, interest);
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
    return this.timers.schedule(this.now() + delayMs, callback);
  }

  /** Runs `callback` at an absolute deadline on this reactor's clock. */
  at(deadline: number, callback: () => void): Timer {
    return this.timers.schedule(deadline, callback);
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
    try {
      while (!this.#stopRequested) {
        let timeout = 0;
        const idle: boolean = !busy && this.#awake === 0;
        const spinning: boolean = idle && this.now() - lastActive < SPIN_MS;
        if (idle && !spinning) {
          const next = this.timers.nextDeadline();
          timeout = next === Infinity
            ? MAX_BLOCK_MS
            : Math.max(0, Math.min(MAX_BLOCK_MS, Math.ceil(next - this.now())));
        }
        const n: number = spinning ? this.#spin(lastActive + SPIN_MS) : this.poller.wait(timeout);
        this.#dispatch(n);
        const ran = this.timers.runDue(this.now());
        this.#afterRound();
        busy = n > 0 || ran > 0 || this.#awake > 0;
        if (busy) lastActive = this.now();
        if (this.#turnWanted > 0 || (!busy && this.now() - lastFullTurn >= FULL_TURN_EVERY_MS)) {
          if (this.#turnWanted > 0) this.#turnWanted--;
          await fullTurn();
          lastFullTurn = lastYield = this.now();
        } else if (!busy || this.#awake > 0 || this.now() - lastYield >= YIELD_EVERY_MS) {
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
