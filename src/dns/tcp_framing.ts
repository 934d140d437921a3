/**
 * DNS over TCP framing (RFC 1035 §4.2.2, RFC 7766): every message is preceded by its length as
 * a 16-bit big-endian number. Used by the TCP transport and by inbounds that hijack TCP DNS.
 *
 * @module
 */

/** The largest DNS message a 2-byte length can announce. */
export const MAX_TCP_MESSAGE = 0xffff;

/** `message` with its 2-byte length prefix. */
export function frameMessage(message: Uint8Array): Uint8Array {
  if (message.length > MAX_TCP_MESSAGE) {
    throw new RangeError(`DNS message of ${message.length} bytes is too long for TCP framing`);
  }
  const out = new Uint8Array(message.length + 2);
  out[0] = message.length >>> 8;
  out[1] = message.length & 0xff;
  out.set(message, 2);
  return out;
}

/** Splits a byte stream into DNS messages. */
export class FrameReader {
  #buf = new Uint8Array(4096);
  #start = 0;
  #end = 0;

  /** Appends received bytes (copied). */
  push(chunk: Uint8Array): void {
    const live = this.#end - this.#start;
    if (this.#end + chunk.length > this.#buf.length) {
      if (live + chunk.length > this.#buf.length) {
        const next = new Uint8Array(Math.max(this.#buf.length * 2, live + chunk.length));
        next.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = next;
      } else {
        this.#buf.copyWithin(0, this.#start, this.#end);
      }
      this.#start = 0;
      this.#end = live;
    }
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  /** The next complete message (a copy), or null when more bytes are needed. */
  next(): Uint8Array | null {
    const avail = this.#end - this.#start;
    if (avail < 2) return null;
    const len = (this.#buf[this.#start]! << 8) | this.#buf[this.#start + 1]!;
    if (avail < 2 + len) return null;
    const msg = this.#buf.slice(this.#start + 2, this.#start + 2 + len);
    this.#start += 2 + len;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    return msg;
  }

  /** Bytes held that do not form a whole message yet. */
  get buffered(): number {
    return this.#end - this.#start;
  }
}
