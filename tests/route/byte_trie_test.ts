import assert from "node:assert/strict";
import fc from "fast-check";
import { ByteTrie } from "../../src/route/byte_trie.ts";

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

Deno.test("`ByteTrie.build()` numbers nodes depth first with sorted children", () => {
  // Keys "nc\n" and "nc.a": root -n-> 1 -c-> 2, 2 -\n-> 3 (leaf), 2 -.-> 4 -a-> 5 (leaf).
  const t = ByteTrie.build(["nc.a", "nc\n"]);
  assert.equal(t.nodeCount, 6);
  assert.deepEqual([...t.labels], [0x6e, 0x63, 0x0a, 0x2e, 0x61]);
  assert.deepEqual([...t.first], [0, 1, 2, 4, 4, 5, 5]);
  assert.deepEqual([...t.child], [1, 2, 3, 4, 5]);
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((n) => t.isLeaf(n)), [
    false,
    false,
    false,
    true,
    false,
    true,
  ]);
});

Deno.test("`ByteTrie` numbers a subtree before the next sibling and keeps a node's edges together", () => {
  // "ab", "ax", "b": root -a-> 1 (-b-> 2, -x-> 3), root -b-> 4.
  const t = ByteTrie.build(["b", "ax", "ab"]);
  assert.deepEqual([...t.labels], [0x61, 0x62, 0x62, 0x78]);
  assert.deepEqual([...t.first], [0, 2, 4, 4, 4, 4]);
  assert.deepEqual([...t.child], [1, 4, 2, 3]);
});

Deno.test("`ByteTrie.toLouds()` writes sing-box's bitmaps word for word", () => {
  const louds = ByteTrie.build(["nc.a", "nc\n"]).toLouds();
  // Label bitmap bits 0..10: 0 1 0 1 0 0 1 1 0 1 1 → ones at 1,3,6,7,9,10 = 0x6ca.
  assert.equal(hex(louds.labelBitmap), "00000000000006ca");
  // Leaves: nodes 3 and 5 = 0x28.
  assert.equal(hex(louds.leaves), "0000000000000028");
  assert.equal(hex(louds.labels), "6e630a2e61");
});

Deno.test("`ByteTrie.fromLouds()` reads what `toLouds()` wrote", () => {
  const keys = ["moc.elpmaxe", "moc.elpmaxe.www", "gro.x\n", "ten.\r", "a"];
  const t = ByteTrie.build(keys);
  const back = ByteTrie.fromLouds(t.toLouds());
  assert.deepEqual(back.keys(), [...keys].sort());
  assert.deepEqual([...back.first], [...t.first]);
  assert.deepEqual([...back.child], [...t.child]);
  assert.deepEqual([...back.labels], [...t.labels]);
});

Deno.test("`ByteTrie.fromLouds()` rejects a bitmap whose label count does not match", () => {
  const louds = ByteTrie.build(["ab", "ac"]).toLouds();
  assert.throws(
    () => ByteTrie.fromLouds({ ...louds, labels: louds.labels.subarray(1) }),
    /4 nodes need 3 labels, found 2/,
  );
});

Deno.test("`ByteTrie.fromLouds()` rejects a node whose children would not come after it", () => {
  // Bits "1 1 0 ...": node 0 has no child, node 1's child would be node 1 itself.
  const bitmap = new Uint8Array(8);
  bitmap[7] = 0b0011; // bits 0 and 1 set
  bitmap[7] |= 0b1000; // bit 3: node 2 ends (bit 2 = a label of node 1)
  assert.throws(
    () =>
      ByteTrie.fromLouds({
        leaves: new Uint8Array(8),
        labelBitmap: bitmap,
        labels: new Uint8Array([0x61, 0x62]),
      }),
    /node 2 has children before it/,
  );
});

Deno.test("`ByteTrie.fromLouds()` rejects leaf bits past the last node", () => {
  const louds = ByteTrie.build(["a"]).toLouds();
  const leaves = new Uint8Array(8);
  leaves[7] = 0b100; // node 2 does not exist
  assert.throws(() => ByteTrie.fromLouds({ ...louds, leaves }), /leaf bit 2 past the last node/);
});

Deno.test("`ByteTrie.build()` puts the arrays in shared memory when asked", () => {
  const t = ByteTrie.build(["abc"], true);
  assert.ok(t.labels.buffer instanceof SharedArrayBuffer);
  assert.ok(t.first.buffer instanceof SharedArrayBuffer);
  assert.deepEqual(ByteTrie.fromData(t.data).keys(), ["abc"]);
});

Deno.test("`ByteTrie` keeps any set of byte-string keys through build, LOUDS and back", () => {
  const byteString = fc.array(fc.integer({ min: 1, max: 255 }), { minLength: 1, maxLength: 12 })
    .map((a) => String.fromCharCode(...a));
  fc.assert(
    fc.property(fc.array(byteString, { minLength: 1, maxLength: 60 }), (keys) => {
      const t = ByteTrie.build(keys);
      const expected = [...new Set(keys)].sort();
      assert.deepEqual(t.keys(), expected);
      assert.deepEqual(ByteTrie.fromLouds(t.toLouds()).keys(), expected);
    }),
    { numRuns: 300 },
  );
});
