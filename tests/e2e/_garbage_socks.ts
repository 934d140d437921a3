/**
 * A broken "SOCKS server" on 127.0.0.1:1080 for end-to-end tests: every connection gets random
 * bytes in place of a method selection reply, then is closed.
 */
const listener = Deno.listen({ hostname: "127.0.0.1", port: 1080 });
for await (const conn of listener) {
  (async () => {
    try {
      await conn.read(new Uint8Array(512));
      await conn.write(crypto.getRandomValues(new Uint8Array(64)));
    } catch { /* the client may reset */ }
    try {
      conn.close();
    } catch { /* closed */ }
  })();
}
