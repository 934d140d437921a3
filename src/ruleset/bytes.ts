/**
 * Bounds-checked big-endian reading and growable writing, with Go's `encoding/binary` varints
 * (`ReadUvarint`/`PutUvarint`): what the binary rule-set format is made of.
 *
 * @module
 */

/** Thrown for data that ends early or holds an impossible value. */
export class FormatError extends RangeError {
  override name = "FormatError";
}

/** Reads a byte array front to back; every read checks the bounds first. */
export class ByteReader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  #need(n: number, what: string): void {
    if (n > this.buf.length - this.pos) {
      throw new FormatError(
        `truncated data: ${what} needs ${n} byte(s) at offset ${this.pos}, ${this.remaining} left`,
      );
    }
  }

  u8(what = "a byte"): number {
    this.#need(1, what);
    return this.buf[this.pos++]!;
  }

  u16(what = "a 16-bit number"): number {
    this.#need(2, what);
    const v = (this.buf[this.pos]! << 8) | this.buf[this.pos + 1]!;
    this.pos += 2;
    return v;
  }

  /** A big-endian uint64; throws when it does not fit a safe integer. */
  u64(what = "a 64-bit number"): number {
    this.#need(8, what);
    let v = 0;
    for (let i = 0; i < 8; i++) v = v * 256 + this.buf[this.pos + i]!;
    if (!Number.isSafeInteger(v)) throw new FormatError(`${what} is too large at ${this.pos}`);
    this.pos += 8;
    return v;
  }

  /** Go's `binary.ReadUvarint` (at most 10 bytes); values past 2^53 are refused. */
  uvarint(what = "a varint"): number {
    let v = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.u8(what);
      v += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (i === 9 && b > 1) throw new FormatError(`${what} overflows 64 bits`);
        if (!Number.isSafeInteger(v)) throw new FormatError(`${what} is too large`);
        return v;
      }
      scale *= 128;
    }
    throw new FormatError(`${what} overflows 64 bits`);
  }

  /** A count read as a varint, checked against the bytes left (each element ≥ `minSize`). */
  count(what: string, minSize = 1): number {
    const at = this.pos;
    const n = this.uvarint(what);
    if (n * minSize > this.remaining) {
      throw new FormatError(
        `${what} ${n} at offset ${at} is more than the ${this.remaining} byte(s) left can hold`,
      );
    }
    return n;
  }

  bytes(n: number, what = "bytes"): Uint8Array {
    this.#need(n, what);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** A varint length and that many bytes, as text (invalid UTF-8 becomes U+FFFD). */
  string(what = "a string"): string {
    const n = this.count(`${what} length`);
    return DECODER.decode(this.bytes(n, what));
  }
}

const DECODER = new TextDecoder();
const ENCODER = new TextEncoder();

/** Appends to a growing byte array. */
export class ByteWriter {
  #buf = new Uint8Array(256);
  #len = 0;

  #room(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
  }

  get length(): number {
    return this.#len;
  }

  u8(v: number): void {
    this.#room(1);
    this.#buf[this.#len++] = v;
  }

  u16(v: number): void {
    this.#room(2);
    this.#buf[this.#len++] = v >>> 8;
    this.#buf[this.#len++] = v & 0xff;
  }

  u64(v: number): void {
    this.#room(8);
    for (let i = 7; i >= 0; i--) {
      this.#buf[this.#len + i] = v % 256;
      v = Math.floor(v / 256);
    }
    this.#len += 8;
  }

  uvarint(v: number): void {
    while (v >= 0x80) {
      this.u8((v % 128) | 0x80);
      v = Math.floor(v / 128);
    }
    this.u8(v);
  }

  bytes(b: Uint8Array): void {
    this.#room(b.length);
    this.#buf.set(b, this.#len);
    this.#len += b.length;
  }

  /** A varint length and the UTF-8 bytes. */
  string(s: string): void {
    const b = ENCODER.encode(s);
    this.uvarint(b.length);
    this.bytes(b);
  }

  /** The bytes written (a copy). */
  finish(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }
}
