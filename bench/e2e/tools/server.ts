/**
 * The suite's TCP services, run in the server namespace:
 *
 * - echo (`--echo PORT`): writes back whatever it reads (request/response and connection tests);
 * - hold (`--hold PORT`): answers one byte with one byte, then holds the connection open until
 *   the client closes it (RSS with many open connections);
 * - bulk (`--bulk PORT`): first byte `U` = sink: counts bytes until EOF, then writes the count as
 *   a big-endian u64 and closes; `D` + u32 milliseconds = source: sends for that long, then closes.
 *
 * Usage: `deno run -A server.ts --host 203.0.113.10 --echo 7000 --hold 7001 --bulk 7002`.
 * Prints `ready` once every listener is bound.
 *
 * @module
 */

import { createSocket } from "node:dgram";
import { readExact } from "./socket_io.ts";

const args = new Map<string, string>();
for (let i = 0; i + 1 < Deno.args.length; i += 2) args.set(Deno.args[i]!, Deno.args[i + 1]!);
const hostname = args.get("--host") ?? "127.0.0.1";

async function echo(conn: Deno.TcpConn): Promise<void> {
  conn.setNoDelay(true);
  const buf = new Uint8Array(65536);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      let off = 0;
      while (off < n) off += await conn.write(buf.subarray(off, n));
    }
  } catch { /* peer reset */ }
  try {
    conn.close();
  } catch { /* closed */ }
}

async function hold(conn: Deno.TcpConn): Promise<void> {
  const buf = new Uint8Array(64);
  try {
    const n = await conn.read(buf);
    if (n !== null) {
      await conn.write(buf.subarray(0, 1));
      while ((await conn.read(buf)) !== null) { /* hold until the client closes */ }
    }
  } catch { /* peer reset */ }
  try {
    conn.close();
  } catch { /* closed */ }
}

async function bulk(conn: Deno.TcpConn): Promise<void> {
  const buf = new Uint8Array(256 * 1024);
  try {
    const mode = await readExact(conn, 1);
    if (mode[0] === 0x55 /* U */) {
      let total = 0n;
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        total += BigInt(n);
      }
      const out = new Uint8Array(8);
      new DataView(out.buffer).setBigUint64(0, total);
      await conn.write(out);
    } else if (mode[0] === 0x44 /* D */) {
      const ms = new DataView((await readExact(conn, 4)).buffer).getUint32(0);
      const end = performance.now() + ms;
      while (performance.now() < end) {
        let off = 0;
        while (off < buf.length) off += await conn.write(buf.subarray(off));
      }
    }
  } catch { /* peer reset */ }
  try {
    conn.close();
  } catch { /* closed */ }
}

const handlers: Array<[string, (c: Deno.TcpConn) => Promise<void>]> = [
  ["--echo", echo],
  ["--hold", hold],
  ["--bulk", bulk],
];
const loops: Promise<void>[] = [];
for (const [flag, handler] of handlers) {
  const port = args.get(flag);
  if (port === undefined) continue;
  const listener = Deno.listen({ hostname, port: Number(port), transport: "tcp" });
  loops.push((async () => {
    for await (const conn of listener) handler(conn);
  })());
}
const udpPort = args.get("--udp-echo");
if (udpPort !== undefined) {
  // Echoes every datagram to its sender (the soak test's UDP sessions).
  const sock = createSocket("udp4");
  sock.on("message", (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address));
  await new Promise<void>((ok) => sock.bind(Number(udpPort), hostname, ok));
}
console.log("ready");
await Promise.all(loops);
