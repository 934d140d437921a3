/**
 * Small helpers for the suite's Deno TCP tools: exact reads and a SOCKS5 CONNECT client.
 *
 * @module
 */

/**
 * Reads exactly `n` bytes from `conn`.
 *
 * @throws {Deno.errors.UnexpectedEof} when the stream ends first.
 */
export async function readExact(
  conn: Deno.Conn,
  n: number,
  into?: Uint8Array,
): Promise<Uint8Array> {
  const buf = into ?? new Uint8Array(n);
  let off = 0;
  while (off < n) {
    const got = await conn.read(buf.subarray(off, n));
    if (got === null) {
      throw new Deno.errors.UnexpectedEof(`stream ended after ${off} of ${n} bytes`);
    }
    off += got;
  }
  return buf;
}

/** Writes all of `data` to `conn`. */
export async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}

/** The SOCKS5 greeting offering only "no authentication" (RFC 1928 §3). */
export const SOCKS5_GREETING: Uint8Array = Uint8Array.of(5, 1, 0);

/**
 * The SOCKS5 CONNECT request for IPv4 `host:port` (RFC 1928 §4).
 *
 * @throws {RangeError} when `host` is not a dotted-quad IPv4 address or `port` is out of range.
 */
export function socks5ConnectRequest(host: string, port: number): Uint8Array {
  const octets = host.split(".").map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) {
    throw new RangeError(`Cannot encode SOCKS5 address "${host}": not an IPv4 address`);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`Cannot encode SOCKS5 port ${port}: out of range`);
  }
  return Uint8Array.of(5, 1, 0, 1, ...octets, port >> 8, port & 0xff);
}

/**
 * Bytes of the SOCKS5 reply that follow its first 4 (VER REP RSV ATYP): the bound address and
 * port, whose length depends on ATYP (and, for a domain, on the next byte).
 *
 * @throws {SyntaxError} for an unknown ATYP.
 */
export function socks5ReplyRestLength(atyp: number, domainLength = 0): number {
  switch (atyp) {
    case 1:
      return 4 + 2;
    case 4:
      return 16 + 2;
    case 3:
      return 1 + domainLength + 2;
    default:
      throw new SyntaxError(`SOCKS5 reply has unknown address type ${atyp}`);
  }
}

/**
 * Opens a TCP connection to `target` through the SOCKS5 server at `socks` (no authentication).
 *
 * @throws {Error} naming the SOCKS5 reply code when the server refuses.
 */
export async function socks5Connect(
  socks: Deno.ConnectOptions,
  target: { hostname: string; port: number },
): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ ...socks, transport: "tcp" });
  try {
    conn.setNoDelay(true);
    // Greeting, then the request once the method is chosen, as common clients do.
    await writeAll(conn, SOCKS5_GREETING);
    const method = await readExact(conn, 2);
    if (method[0] !== 5 || method[1] !== 0) {
      throw new Error(`SOCKS5 server ${socks.hostname}:${socks.port} refused method "none"`);
    }
    await writeAll(conn, socks5ConnectRequest(target.hostname, target.port));
    const head = await readExact(conn, 4);
    if (head[1] !== 0) {
      throw new Error(
        `SOCKS5 CONNECT to ${target.hostname}:${target.port} failed: reply code ${head[1]}`,
      );
    }
    const atyp = head[3]!;
    const dlen = atyp === 3 ? (await readExact(conn, 1))[0]! : 0;
    await readExact(conn, socks5ReplyRestLength(atyp, dlen) - (atyp === 3 ? 1 : 0));
    return conn;
  } catch (e) {
    conn.close();
    throw e;
  }
}
