/**
 * Fault injection at the TUN device, for testing on kernels without `sch_netem`.
 *
 * `TUNBOX_IMPAIR="loss=5%,reorder=25%,duplicate=1%"` makes each packet worker impair the
 * packets it reads from the TUN — the same packets a `tc qdisc ... netem` on the TUN device
 * would affect (its egress, towards tunbox):
 * - `loss=P%`: drop the packet;
 * - `duplicate=P%`: deliver it twice;
 * - `reorder=P%`: hold it and deliver it after the next packet (or after `delay`, default 1 ms,
 *   when no packet follows), as netem's `delay 1ms reorder P%` does;
 * - `seed=N`: the pseudo-random sequence (default: random).
 *
 * It is off unless the variable is set, and costs one branch per packet when off.
 *
 * @module
 */

import type { Reactor } from "../io/reactor.ts";

/** Parsed impairment settings (probabilities in 0..1). */
export interface ImpairSettings {
  loss: number;
  duplicate: number;
  reorder: number;
  delayMs: number;
  seed: number;
}

/** Parses the `TUNBOX_IMPAIR` syntax; throws a TypeError naming a bad item. */
export function parseImpair(text: string): ImpairSettings {
  const out: ImpairSettings = {
    loss: 0,
    duplicate: 0,
    reorder: 0,
    delayMs: 1,
    seed: (Math.random() * 2 ** 32) >>> 0,
  };
  for (const item of text.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
    const m = /^(loss|duplicate|reorder|delay|seed)=([0-9.]+)(%|ms)?$/.exec(item);
    if (!m) throw new TypeError(`TUNBOX_IMPAIR: cannot parse "${item}"`);
    const value = Number(m[2]);
    if (m[1] === "seed") out.seed = value >>> 0;
    else if (m[1] === "delay") out.delayMs = value;
    else {
      if (m[3] !== "%") {
        throw new TypeError(`TUNBOX_IMPAIR: "${item}" needs a percentage (${m[1]}=5%)`);
      }
      if (value > 100) throw new TypeError(`TUNBOX_IMPAIR: "${item}" is over 100%`);
      out[m[1] as "loss" | "duplicate" | "reorder"] = value / 100;
    }
  }
  return out;
}

/** Applies loss, duplication and reordering to a stream of packets. */
export class Impairment {
  #state: number;
  #held: Uint8Array | null = null;
  #timer: { cancel(): void } | null = null;
  dropped = 0;
  duplicated = 0;
  reordered = 0;

  constructor(
    readonly settings: ImpairSettings,
    readonly reactor: Reactor,
    /** Delivers a packet (the view is only valid during the call). */
    readonly deliver: (packet: Uint8Array) => void,
  ) {
    this.#state = settings.seed || 1;
  }

  #random(): number {
    let x = this.#state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#state = x >>> 0;
    return this.#state / 2 ** 32;
  }

  /** Takes one packet read from the TUN (a view into a reused buffer). */
  input(packet: Uint8Array): void {
    const s = this.settings;
    if (s.loss > 0 && this.#random() < s.loss) {
      this.dropped++;
      return;
    }
    const copies = s.duplicate > 0 && this.#random() < s.duplicate ? 2 : 1;
    if (copies === 2) this.duplicated++;
    if (this.#held === null && s.reorder > 0 && this.#random() < s.reorder) {
      this.reordered++;
      this.#held = packet.slice();
      this.#timer = this.reactor.setTimeout(s.delayMs, () => this.#release());
      if (copies === 2) this.deliver(packet);
      return;
    }
    // The delivery may rewrite the packet in place (the system stack's NAT does): the duplicate
    // is a copy of the packet as read, as netem's duplicate is.
    const twin = copies === 2 ? packet.slice() : null;
    this.deliver(packet);
    if (twin !== null) this.deliver(twin);
    this.#release();
  }

  #release(): void {
    const held = this.#held;
    if (held === null) return;
    this.#held = null;
    this.#timer?.cancel();
    this.#timer = null;
    this.deliver(held);
  }
}
