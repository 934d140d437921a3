/**
 * Opens N TCP connections at once to an HTTP server, sends one keep-alive request on each,
 * checks every response, holds them all open together, then closes them. Prints a JSON summary.
 * Usage: deno run -A _many_conns.ts <host> <port> <count>
 */
const [host, portText, countText] = Deno.args;
const port = Number(portText), count = Number(countText);
const request = new TextEncoder().encode(`GET /small HTTP/1.1\r\nHost: ${host}\r\n\r\n`);

async function one(): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: host!, port });
  await conn.write(request);
  const buf = new Uint8Array(4096);
  let text = "";
  while (!text.includes("\r\n\r\n") || !text.endsWith("ok")) {
    const n = await conn.read(buf);
    if (n === null) throw new Error(`closed after ${text.length} bytes`);
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  if (!text.startsWith("HTTP/1.1 200")) throw new Error(`bad response: ${text.slice(0, 40)}`);
  return conn;
}

const results = await Promise.allSettled(Array.from({ length: count }, one));
const ok = results.filter((r) => r.status === "fulfilled").length;
const errors = results.flatMap((r) => r.status === "rejected" ? [String(r.reason)] : []);
for (const r of results) if (r.status === "fulfilled") r.value.close();
console.log(JSON.stringify({ ok, failed: count - ok, errors: errors.slice(0, 5) }));
