import { equal, ok } from "node:assert/strict";
import fc from "fast-check";
import { FlowNode, FlowTable } from "../../src/stack/flow_table.ts";

function node(i: number, v6: boolean): { n: FlowNode; pkt: Uint8Array } {
  const pkt = new Uint8Array(40);
  const dv = new DataView(pkt.buffer);
  if (v6) {
    dv.setUint32(8, 0xfd000000);
    dv.setUint32(20, i);
    dv.setUint32(24, 0x20010db8);
    dv.setUint32(36, 1);
  } else {
    dv.setUint32(12, 0x0a000000 | (i & 0xffff));
    dv.setUint32(16, 0x5db8d822);
  }
  const n = new FlowNode();
  n.setTupleFrom(pkt, v6 ? 6 : 4, v6 ? 8 : 12, v6 ? 24 : 16, 1000 + (i >>> 16), 443);
  return { n, pkt };
}

Deno.test("`FlowTable` agrees with a Map under random inserts and removes (property)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(300), fc.boolean(), fc.boolean()), { maxLength: 600 }),
      fc.nat(),
      (ops, seed) => {
        const t = new FlowTable<FlowNode>(seed, 4);
        const model = new Map<string, FlowNode>();
        const made = new Map<string, { n: FlowNode; pkt: Uint8Array }>();
        for (const [i, v6, remove] of ops) {
          const key = `${v6}:${i}`;
          let e = made.get(key);
          if (!e) made.set(key, e = node(i * 7919, v6));
          if (remove) {
            const cur = model.get(key);
            if (cur) t.remove(cur);
            model.delete(key);
          } else if (!model.has(key)) {
            t.insert(e.n);
            model.set(key, e.n);
          }
        }
        equal(t.size, model.size);
        for (const [key, e] of made) {
          const v6 = key.startsWith("true");
          const found = t.lookup(
            e.pkt,
            v6 ? 6 : 4,
            v6 ? 8 : 12,
            v6 ? 24 : 16,
            e.n.remotePort,
            e.n.localPort,
          );
          equal(found, model.get(key));
        }
        equal([...t.values()].length, model.size);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("`FlowTable` gives its slots back after a burst and still finds what is left", () => {
  const t = new FlowTable<FlowNode>(0x1234);
  const start = t.capacity;
  const nodes = Array.from({ length: 10_000 }, (_, i) => node(i, i % 3 === 0));
  for (const e of nodes) t.insert(e.n);
  ok(t.capacity >= 20_000, `grew to ${t.capacity}`);
  for (const e of nodes.slice(10)) t.remove(e.n);
  equal(t.size, 10);
  ok(t.capacity <= 128, `shrank to ${t.capacity}`);
  for (const e of nodes.slice(0, 10)) {
    const v6 = e.n.version === 6;
    equal(
      t.lookup(e.pkt, e.n.version, v6 ? 8 : 12, v6 ? 24 : 16, e.n.remotePort, e.n.localPort),
      e.n,
    );
  }
  for (const e of nodes.slice(0, 10)) t.remove(e.n);
  equal(t.capacity, start);
});
