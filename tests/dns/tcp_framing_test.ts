import assert from "node:assert/strict";
import fc from "fast-check";
import { frameMessage, FrameReader } from "../../src/dns/tcp_framing.ts";

Deno.test("`frameMessage()` prefixes the 16-bit length", () => {
  assert.deepEqual([...frameMessage(new Uint8Array([7, 8, 9]))], [0, 3, 7, 8, 9]);
  assert.throws(() => frameMessage(new Uint8Array(65536)), RangeError);
});

Deno.test("`FrameReader` reassembles messages from any split of the stream", () => {
  fc.assert(fc.property(
    fc.array(fc.uint8Array({ maxLength: 5000 }), { maxLength: 8 }),
    fc.array(fc.integer({ min: 1, max: 7000 }), { minLength: 1, maxLength: 20 }),
    (messages, cuts) => {
      const stream = new Uint8Array(messages.reduce((n, m) => n + m.length + 2, 0));
      let off = 0;
      for (const m of messages) {
        stream.set(frameMessage(m), off);
        off += m.length + 2;
      }
      const reader = new FrameReader();
      const out: Uint8Array[] = [];
      let pos = 0;
      for (let i = 0; pos < stream.length; i++) {
        const n = cuts[i % cuts.length]!;
        reader.push(stream.subarray(pos, pos + n));
        pos += n;
        for (let m = reader.next(); m; m = reader.next()) out.push(m);
      }
      assert.deepEqual(out, messages);
      assert.equal(reader.buffered, 0);
    },
  ));
});
