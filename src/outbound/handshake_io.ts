/**
 * Promise helpers for short protocol handshakes (SOCKS, HTTP CONNECT) on reactor sockets.
 *
 * Unlike the helpers on {@linkcode TcpSocket}, these check after every wait that the socket is
 * still open, so a handshake whose socket was closed by a timeout fails at once instead of
 * touching a closed (and possibly reused) fd. None of them reads past what the protocol says
 * belongs to the handshake: bytes after it stay in the socket for the relay.
 *
 * @module
 */

import { E, SysError } from "../../ffi/errno.ts";
import type { Reactor } from "../io/reactor.ts";
import { type TcpSocket, WOULD_BLOCK } from "../io/socket.ts";

/** Thrown when the socket was closed (by a timeout or `close()`) while a handshake waited. */
export class SocketClosedError extends Error {
  override name = "SocketClosedError";
}

function closedError(sock: TcpSocket, what: string): SocketClosedError {
  return new SocketClosedError(`${what}: socket fd ${sock.fd} was closed`);
}

/** Reads at least one byte; 0 at EOF. */
export async function readSome(sock: TcpSocket, buf: Uint8Array, what: string): Promise<number> {
  for (;;) {
    if (sock.closed) throw closedError(sock, what);
    const n = sock.read(buf);
    if (n !== WOULD_BLOCK) return n;
    await sock.readable();
  }
}

/** Fills `buf` exactly; throws when the peer closes first (naming how much arrived). */
export async function readExact(sock: TcpSocket, buf: Uint8Array, what: string): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const n = await readSome(sock, off === 0 ? buf : buf.subarray(off), what);
    if (n === 0) {
      throw new SysError(
        `${what}: connection closed after ${off} of ${buf.length} bytes`,
        E.ECONNRESET,
      );
    }
    off += n;
  }
}

/** Writes all of `buf`. */
export async function writeAll(sock: TcpSocket, buf: Uint8Array, what: string): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    if (sock.closed) throw closedError(sock, what);
    const n = sock.write(off === 0 ? buf : buf.subarray(off));
    if (n === WOULD_BLOCK) {
      await sock.writable();
      continue;
    }
    off += n;
  }
}

/** Peeks at pending bytes, waiting until at least one is there; 0 at EOF. */
export async function peekSome(sock: TcpSocket, buf: Uint8Array, what: string): Promise<number> {
  for (;;) {
    if (sock.closed) throw closedError(sock, what);
    const n = sock.peek(buf);
    if (n !== WOULD_BLOCK) return n;
    await sock.readable();
  }
}

const CR = 13, LF = 10;

/**
 * Reads an HTTP header block (through the blank line) and nothing after it: it peeks, consumes
 * exactly the bytes up to and including `\r\n\r\n`, and leaves later bytes (tunnel data, a
 * request body) in the socket. Throws a `RangeError` when the block exceeds `maxSize`.
 */
export async function readHeaderBlock(
  sock: TcpSocket,
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
  sock: TcpSocket,
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
