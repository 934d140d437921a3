/**
 * Promise helpers for short protocol handshakes (SOCKS, HTTP CONNECT) on any {@linkcode Stream}.
 *
 * They check after every wait that the stream is still open, so a handshake whose stream was
 * closed by a timeout fails at once instead of touching a closed (and possibly reused) fd. None
 * of them reads past what the protocol says belongs to the handshake: bytes after it stay in the
 * stream for the relay. `readSome`/`readExact`/`writeAll`/`peekSome` are `src/io/stream.ts`'s.
 *
 * @module
 */

import { E, SysError } from "../../ffi/errno.ts";
import type { Reactor } from "./reactor.ts";
import { peekSome, type Stream } from "./stream.ts";

export {
  peekSome,
  readExact,
  readSome,
  StreamClosedError as SocketClosedError,
  writeAll,
} from "./stream.ts";

const CR = 13, LF = 10;

/**
 * Reads an HTTP header block (through the blank line) and nothing after it: it peeks, consumes
 * exactly the bytes up to and including `\r\n\r\n`, and leaves later bytes (tunnel data, a
 * request body) in the socket. Throws a `RangeError` when the block exceeds `maxSize`.
 */
export async function readHeaderBlock(
  sock: Stream,
  what: string,
  maxSize = 16384,
): Promise<Uint8Array> {
  const acc = new Uint8Array(maxSize);
  let len = 0;
  const peekBuf = new Uint8Array(maxSize);
  for (;;) {
    const room = maxSize - len;
    if (room === 0) throw new RangeError(`${what}: header larger than ${maxSize} bytes`);
    const n = await peekSome(sock, peekBuf.subarray(0, room), what);
    if (n === 0) {
      throw new SysError(`${what}: connection closed after ${len} header bytes`, E.ECONNRESET);
    }
    // Find the end of the block in acc[len-3..] + peeked bytes.
    let take = n;
    for (let i = 0; i < n; i++) {
      if (peekBuf[i] !== LF) continue;
      const at = len + i; // index of this LF in the combined stream
      const b = (k: number) => (k < len ? acc[k] : peekBuf[k - len]);
      if (at >= 3 && b(at - 1) === CR && b(at - 2) === LF && b(at - 3) === CR) {
        take = i + 1;
        break;
      }
    }
    const got = sock.read(acc.subarray(len, len + take));
    if (got !== take) {
      throw new SysError(`${what}: reading ${take} peeked bytes returned ${got}`, E.EIO);
    }
    len += take;
    if (take < n || endsWithBlank(acc, len)) return acc.slice(0, len);
  }
}

function endsWithBlank(buf: Uint8Array, len: number): boolean {
  return len >= 4 && buf[len - 1] === LF && buf[len - 2] === CR && buf[len - 3] === LF &&
    buf[len - 4] === CR;
}

/**
 * Runs a handshake on `sock` with a deadline on the reactor clock: at `ms` the socket is closed
 * (which fails the pending reads) and the promise rejects with ETIMEDOUT naming `what`.
 */
export function withDeadline<T>(
  reactor: Reactor,
  sock: Stream,
  ms: number,
  what: string,
  run: () => Promise<T>,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const timer = reactor.setTimeout(ms, () => {
      if (done) return;
      done = true;
      sock.close();
      reject(new SysError(`${what} (no answer within ${ms} ms)`, E.ETIMEDOUT));
    });
    run().then((v) => {
      if (done) return;
      done = true;
      timer.cancel();
      resolve(v);
    }, (e) => {
      if (done) return;
      done = true;
      timer.cancel();
      reject(e);
    });
  });
}
