import assert from "node:assert/strict";
import type { DnsTransport } from "../../src/dns/transport.ts";
import { LazyTransport } from "../../src/dns/transport_lazy.ts";

/** A transport that answers each query with its first byte doubled, and counts closes. */
function fake(log: string[]): DnsTransport {
  return {
    tag: "t",
    type: "https",
    exchange: (q) => {
      log.push(`exchange ${q[0]}`);
      return Promise.resolve(Uint8Array.of(q[0]! * 2));
    },
    close: () => log.push("close"),
  };
}

Deno.test("`LazyTransport` loads its transport once, on the first exchange", async () => {
  const log: string[] = [];
  let loads = 0;
  const t = new LazyTransport("cf", "https", () => {
    loads++;
    return Promise.resolve(fake(log));
  });
  assert.equal(loads, 0);
  assert.equal(t.tag, "cf");
  assert.equal(t.type, "https");
  const [a, b] = await Promise.all([
    t.exchange(Uint8Array.of(2), 1000),
    t.exchange(Uint8Array.of(5), 1000),
  ]);
  assert.deepEqual([...a, ...b], [4, 10]);
  assert.equal(loads, 1);
  t.close();
  await Promise.resolve();
  assert.deepEqual(log, ["exchange 2", "exchange 5", "close"]);
  await assert.rejects(t.exchange(Uint8Array.of(1), 1000), /DNS server "cf": transport closed/);
});

Deno.test("`LazyTransport` closed before use never loads; a failed load fails the exchange", async () => {
  let loads = 0;
  const unused = new LazyTransport("a", "https", () => {
    loads++;
    return Promise.resolve(fake([]));
  });
  unused.close();
  await assert.rejects(unused.exchange(Uint8Array.of(1), 1000), /transport closed/);
  assert.equal(loads, 0);
  const broken = new LazyTransport("b", "https", () => Promise.reject(new Error("import failed")));
  await assert.rejects(broken.exchange(Uint8Array.of(1), 1000), /import failed/);
  broken.close();
});
