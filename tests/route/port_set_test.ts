import assert from "node:assert/strict";
import { PortSet } from "../../src/route/port_set.ts";

Deno.test("`PortSet.has()` covers single ports and inclusive ranges", () => {
  const set = new PortSet([80, 443], [{ start: 1000, end: 2000 }, { start: 65535, end: 65535 }]);
  for (const p of [80, 443, 1000, 1500, 2000, 65535]) assert.equal(set.has(p), true, `${p}`);
  for (const p of [0, 79, 81, 442, 999, 2001, 65534]) assert.equal(set.has(p), false, `${p}`);
});

Deno.test("`PortSet` handles open ranges decoded as 0..n and n..65535", () => {
  const set = new PortSet([], [{ start: 0, end: 3000 }, { start: 60000, end: 65535 }]);
  assert.equal(set.has(0), true);
  assert.equal(set.has(3000), true);
  assert.equal(set.has(3001), false);
  assert.equal(set.has(60000), true);
});

Deno.test("`PortSet` with an inverted range matches nothing, as sing-box", () => {
  const set = new PortSet([], [{ start: 2000, end: 1000 }]);
  assert.equal(set.has(1500), false);
});

Deno.test("`PortSet` rejects ports outside 0..65535", () => {
  assert.throws(() => new PortSet([70000], []), RangeError);
  assert.throws(() => new PortSet([], [{ start: -1, end: 5 }]), /-1:5/);
});
