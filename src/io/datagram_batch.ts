/**
 * A batch of UDP datagrams for one `recvmmsg(2)`/`sendmmsg(2)` call on Linux: `capacity` slots
 * of `slotSize` bytes, each with its peer's address, and the kernel's `struct mmsghdr` array
 * pointing at them (built once: every buffer here has its own `ArrayBuffer`, whose memory V8
 * never moves). On macOS the same object is filled and drained one datagram per call
 * (`sys_darwin.ts`), so callers are written once.
 *
 * ```ts
 * const batch = new DatagramBatch(16, 2048);
 * const n = sock.recvBatch(batch);             // WOULD_BLOCK, or datagrams received
 * for (let i = 0; i < n; i++) use(batch.payload(i), batch.peer(i));
 *
 * batch.clear();
 * batch.add(datagram, { addr, port });          // copies; false when full or too large
 * sock.sendBatch(batch);                        // one sendmmsg for all of them
 * ```
 *
 * @module
 */

import {
  decodeSockaddr,
  encodeSockaddr,
  type SockAddr,
  SOCKADDR_IN6_SIZE,
  SOCKADDR_STORAGE_SIZE,
} from "../../ffi/sockaddr.ts";

/** `struct mmsghdr` on 64-bit Linux: a `struct msghdr` (56 bytes) and `unsigned msg_len`. */
export const MMSGHDR_SIZE = 64;
/** Offsets in `struct msghdr` (64-bit). */
const MSG_NAME = 0, MSG_NAMELEN = 8, MSG_IOV = 16, MSG_IOVLEN = 24, MSG_FLAGS = 48;
/** `msg_len` follows the `struct msghdr`. */
const MSG_LEN = 56;
/** `msg_flags` bit: the datagram was larger than the buffer. */
const MSG_TRUNC = 0x20;
/** `struct iovec`: base pointer and length. */
const IOVEC_SIZE = 16;

function address(buf: Uint8Array): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)));
}

/** See the module documentation. */
export class DatagramBatch {
  /** The slots' bytes, `slotSize` each. */
  readonly data: Uint8Array;
  /** A `sockaddr_storage` per slot. */
  readonly names: Uint8Array;
  /** `struct mmsghdr[capacity]` (Linux layout), for the `*mmsg` calls. */
  readonly headers: Uint8Array;
  readonly #hv: DataView;
  readonly #iov: Uint8Array;
  readonly #iv: DataView;
  /** Each slot's datagram length (received, or queued to send). */
  readonly lengths: Uint32Array;
  /** Datagrams held: received by the last receive, or queued to send. */
  count = 0;
  /** The iovec lengths are the slot size (a receive); false after an add(). */
  #receiveReady = false;

  constructor(readonly capacity: number, readonly slotSize: number) {
    if (!(capacity >= 1 && capacity <= 1024) || !(slotSize >= 1 && slotSize <= 65536)) {
      throw new RangeError(`a datagram batch of ${capacity} x ${slotSize} bytes is out of range`);
    }
    this.data = new Uint8Array(new ArrayBuffer(capacity * slotSize));
    this.names = new Uint8Array(new ArrayBuffer(capacity * SOCKADDR_STORAGE_SIZE));
    this.headers = new Uint8Array(new ArrayBuffer(capacity * MMSGHDR_SIZE));
    this.#iov = new Uint8Array(new ArrayBuffer(capacity * IOVEC_SIZE));
    this.lengths = new Uint32Array(capacity);
    this.#hv = new DataView(this.headers.buffer);
    this.#iv = new DataView(this.#iov.buffer);
    if (Deno.build.os !== "linux") return;
    const data = address(this.data), names = address(this.names), iov = address(this.#iov);
    for (let i = 0; i < capacity; i++) {
      const h = i * MMSGHDR_SIZE;
      this.#hv.setBigUint64(h + MSG_NAME, names + BigInt(i * SOCKADDR_STORAGE_SIZE), true);
      this.#hv.setBigUint64(h + MSG_IOV, iov + BigInt(i * IOVEC_SIZE), true);
      this.#hv.setBigUint64(h + MSG_IOVLEN, 1n, true);
      this.#iv.setBigUint64(i * IOVEC_SIZE, data + BigInt(i * slotSize), true);
    }
  }

  /** The bytes of datagram `i` (valid until the batch is used again). */
  payload(i: number): Uint8Array {
    const at = i * this.slotSize;
    return this.data.subarray(at, at + this.lengths[i]!);
  }

  /**
   * The sender of received datagram `i`, or null for a non-IP address. The same object as the
   * previous call's when the address is the same (a tunnel's datagrams all come from one peer):
   * read-only.
   */
  peer(i: number): SockAddr | null {
    const at = i * SOCKADDR_STORAGE_SIZE;
    const raw = this.names.subarray(at, at + SOCKADDR_IN6_SIZE);
    const last = this.#lastRaw;
    if (this.#last) {
      let same = true;
      for (let k = 0; k < SOCKADDR_IN6_SIZE; k++) {
        if (raw[k] !== last[k]) {
          same = false;
          break;
        }
      }
      if (same) return this.#last;
    }
    const sa = decodeSockaddr(this.names.subarray(at, at + SOCKADDR_STORAGE_SIZE));
    if (sa) {
      last.set(raw);
      this.#last = sa;
    }
    return sa;
  }

  #last: SockAddr | null = null;
  readonly #lastRaw = new Uint8Array(SOCKADDR_IN6_SIZE);

  /** Empties the batch. */
  clear(): void {
    this.count = 0;
  }

  /** Queues a copy of `payload` for `dest`; false when the batch is full or the datagram too large. */
  add(payload: Uint8Array, dest: SockAddr): boolean {
    const i = this.count;
    if (i >= this.capacity || payload.length > this.slotSize) return false;
    this.data.set(payload, i * this.slotSize);
    this.lengths[i] = payload.length;
    const at = i * SOCKADDR_STORAGE_SIZE;
    const len = encodeSockaddr(dest, this.names.subarray(at, at + SOCKADDR_STORAGE_SIZE));
    if (Deno.build.os === "linux") {
      this.#receiveReady = false;
      const h = i * MMSGHDR_SIZE;
      this.#hv.setUint32(h + MSG_NAMELEN, len, true);
      this.#hv.setInt32(h + MSG_FLAGS, 0, true);
      this.#iv.setBigUint64(i * IOVEC_SIZE + 8, BigInt(payload.length), true);
    }
    this.count = i + 1;
    return true;
  }

  /** The destination of queued datagram `i` (a fresh object). */
  destination(i: number): SockAddr {
    const at = i * SOCKADDR_STORAGE_SIZE;
    return decodeSockaddr(this.names.subarray(at, at + SOCKADDR_STORAGE_SIZE))!;
  }

  /** @internal Readies every slot for a `recvmmsg` (Linux). */
  prepareReceive(): void {
    const hv = this.#hv;
    for (let i = 0; i < this.capacity; i++) {
      hv.setUint32(i * MMSGHDR_SIZE + MSG_NAMELEN, SOCKADDR_STORAGE_SIZE, true);
    }
    if (this.#receiveReady) return;
    this.#receiveReady = true;
    const size = BigInt(this.slotSize);
    for (let i = 0; i < this.capacity; i++) this.#iv.setBigUint64(i * IOVEC_SIZE + 8, size, true);
  }

  /**
   * @internal Takes the lengths `recvmmsg` wrote for the first `n` slots (Linux). A datagram
   * larger than its slot (`MSG_TRUNC`) gets length 0: nothing of it is passed on.
   */
  received(n: number): void {
    for (let i = 0; i < n; i++) {
      const h = i * MMSGHDR_SIZE;
      const truncated = (this.#hv.getInt32(h + MSG_FLAGS, true) & MSG_TRUNC) !== 0;
      this.lengths[i] = truncated ? 0 : this.#hv.getUint32(h + MSG_LEN, true);
    }
    this.count = n;
  }
}
