import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeConfigText } from "../../src/config/decode.ts";
import { formatJsonc } from "../../src/config/format.ts";

const seedText = Deno.readTextFileSync(
  new URL("../fixtures/config/seed_real_ip.jsonc", import.meta.url),
);
const seed = JSON.parse(seedText.replace(/^\s*##.*$/gm, ""));

/** Every path to a value inside `v`. */
function paths(v: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out = [prefix];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...prefix, i])));
  else if (v && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, k]));
  }
  return out;
}

function replaceAt(v: unknown, path: (string | number)[], value: unknown): unknown {
  if (path.length === 0) return value;
  const copy = structuredClone(v) as Record<string | number, unknown>;
  let cur = copy;
  for (const k of path.slice(0, -1)) cur = cur[k] as Record<string | number, unknown>;
  cur[path[path.length - 1]!] = value;
  return copy;
}

const seedPaths = paths(seed);

Deno.test("decodeConfigText() never throws on arbitrary JSON", () => {
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      const r = decodeConfigText(JSON.stringify(v), "f.json", { os: "linux" });
      // Whatever the input, the result is either options or at least one positioned error.
      assert.ok(r.options !== undefined || r.errors.length > 0);
      for (const e of r.errors) assert.match(e.format(), /^f\.json(:\d+:\d+)?: /);
    }),
    { numRuns: 300 },
  );
});

Deno.test("decodeConfigText() never throws when any part of the seed is replaced", () => {
  fc.assert(
    fc.property(fc.constantFrom(...seedPaths), fc.jsonValue({ maxDepth: 3 }), (path, value) => {
      const text = JSON.stringify(replaceAt(seed, path, value), null, 2);
      const r = decodeConfigText(text, "f.json", { os: "darwin" });
      for (const e of r.errors) {
        assert.ok(e.line >= 1 && e.column >= 1, e.format());
      }
    }),
    { numRuns: 500 },
  );
});

Deno.test("decodeConfigText() never throws on arbitrary text, and formatJsonc() keeps valid input valid", () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (s) => {
      const r = decodeConfigText(s, "f.json");
      assert.ok(r.options !== undefined || r.errors.length > 0);
      if (r.options) assert.deepEqual(decodeConfigText(formatJsonc(s), "f.json").errors, []);
    }),
    { numRuns: 500 },
  );
});
