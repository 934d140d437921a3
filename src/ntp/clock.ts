/**
 * The time tunbox's NTP client found, shared by every worker: the offset to add to the system
 * clock, in a `SharedArrayBuffer` made by the main thread. One worker (the first to claim it)
 * runs the NTP service and writes the offset; every thread reads it.
 *
 * Where the time is used: protocols that put timestamps on the wire read {@linkcode
 * SharedClock.now}; TLS certificate validity is checked by Deno's TLS stack against the system
 * clock, which tunbox can set from NTP (`ntp.write_to_system`, as sing-box does), and tunbox
 * warns when the system clock is off by more than {@linkcode CLOCK_SKEW_WARN_MS}.
 *
 * ```ts
 * const clock = new SharedClock(SharedClock.memory());
 * clock.update(1500);
 * clock.now(); // Date.now() + 1500
 * ```
 *
 * @module
 */

/** A system clock off by more than this from NTP time makes certificate checks unreliable. */
export const CLOCK_SKEW_WARN_MS = 60_000;

// Layout: offset f64 @0; synced i32 @8 (0 = never); owner i32 @12 (0 = unclaimed).
const SIZE = 16;

/** The shared offset (see the module description). */
export class SharedClock {
  readonly #offset: Float64Array;
  readonly #flags: Int32Array;

  constructor(readonly memory: SharedArrayBuffer) {
    this.#offset = new Float64Array(memory, 0, 1);
    this.#flags = new Int32Array(memory, 8, 2);
  }

  /** Memory for a new clock. */
  static memory(): SharedArrayBuffer {
    return new SharedArrayBuffer(SIZE);
  }

  /** True for the one caller that gets to run the NTP service. */
  claim(): boolean {
    return Atomics.compareExchange(this.#flags, 1, 0, 1) === 0;
  }

  /** Records a new offset (ms to add to the system clock). */
  update(offsetMs: number): void {
    this.#offset[0] = offsetMs;
    Atomics.add(this.#flags, 0, 1);
  }

  /** Whether NTP time was obtained at least once. */
  get synced(): boolean {
    return Atomics.load(this.#flags, 0) > 0;
  }

  /** The offset from the system clock (0 before the first answer). */
  get offsetMs(): number {
    return this.synced ? this.#offset[0]! : 0;
  }

  /** NTP time when known, else the system time (Unix ms). */
  now(): number {
    return Date.now() + this.offsetMs;
  }
}
