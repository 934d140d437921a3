/**
 * A bounded LRU map whose entries may expire, on an injected millisecond clock (the reactor's
 * in production, a fake one in tests). Used for the DNS answer cache and the reverse mapping.
 *
 * Expired entries are dropped when read; the least recently used entry is evicted when the map
 * is full. Reads refresh recency (a `Map` keeps insertion order, so a hit re-inserts the key).
 *
 * @module
 */

interface Entry<V> {
  value: V;
  /** Absolute expiry on the clock; Infinity for entries that never expire. */
  expiresAt: number;
}

/** An LRU map with per-entry lifetimes. */
export class ExpiringLru<K, V> {
  readonly #map = new Map<K, Entry<V>>();

  constructor(readonly capacity: number, readonly now: () => number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`LRU capacity must be a positive integer, got ${capacity}`);
    }
  }

  get size(): number {
    return this.#map.size;
  }

  /** The value and its expiry, or undefined when absent or expired (then it is removed). */
  getEntry(key: K): { value: V; expiresAt: number } | undefined {
    const e = this.#map.get(key);
    if (!e) return undefined;
    if (e.expiresAt <= this.now()) {
      this.#map.delete(key);
      return undefined;
    }
    this.#map.delete(key);
    this.#map.set(key, e);
    return e;
  }

  get(key: K): V | undefined {
    return this.getEntry(key)?.value;
  }

  /** Stores `value` for `lifetimeMs` (Infinity: no expiry), evicting the oldest when full. */
  set(key: K, value: V, lifetimeMs = Infinity): void {
    this.#map.delete(key);
    if (this.#map.size >= this.capacity) {
      const oldest = this.#map.keys().next();
      if (!oldest.done) this.#map.delete(oldest.value);
    }
    this.#map.set(key, { value, expiresAt: this.now() + lifetimeMs });
  }

  delete(key: K): void {
    this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
  }
}
