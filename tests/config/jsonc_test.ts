import assert from "node:assert/strict";
import { Diagnostics } from "../../src/config/diagnostic.ts";
import { LineIndex, MAX_DEPTH, parseJsonc, scanJsonc, toPlain } from "../../src/config/jsonc.ts";

function parse(text: string) {
  const diag = new Diagnostics();
  const root = parseJsonc(text, "f.json", diag);
  return {
    root,
    errors: diag.errors.map((e) => e.format()),
    warnings: diag.warnings.map((w) => w.format()),
  };
}

Deno.test("scanJsonc() blanks # comments with spaces of the same length", () => {
  const text =
    '{\n\t## comment "with quotes"\n  "a": "#not a comment", # tail\n  "b": 1 // also # here\n}';
  const { text: masked, hashComments } = scanJsonc(text);
  assert.equal(masked.length, text.length);
  assert.equal(
    masked,
    `{\n\t${" ".repeat(24)}\n  "a": "#not a comment", ${" ".repeat(6)}\n  "b": 1 // also # here\n}`,
  );
  assert.deepEqual(hashComments.map(([s, e]) => text.slice(s, e)), [
    '## comment "with quotes"',
    "# tail",
  ]);
});

Deno.test("scanJsonc() ignores # inside block comments and strings with escaped quotes", () => {
  const text = '{"a": "x\\"#y", /* # */ "b": 2}';
  assert.equal(scanJsonc(text).text, text);
});

Deno.test("scanJsonc() finds nesting deeper than the limit without recursion", () => {
  const deep = "[".repeat(100_000) + "]".repeat(100_000);
  assert.equal(scanJsonc(deep).tooDeepAt, MAX_DEPTH);
  assert.equal(scanJsonc("[".repeat(MAX_DEPTH) + "]".repeat(MAX_DEPTH)).tooDeepAt, undefined);
});

Deno.test("LineIndex.pos() counts 1-based lines and code-point columns", () => {
  const text = 'ab\n\u{1F600}x"\ny';
  const idx = new LineIndex(text, "f");
  assert.deepEqual(idx.pos(0), { file: "f", line: 1, column: 1 });
  assert.deepEqual(idx.pos(3), { file: "f", line: 2, column: 1 });
  // After the emoji (two UTF-16 units) "x" is the second character.
  assert.deepEqual(idx.pos(5), { file: "f", line: 2, column: 2 });
  assert.deepEqual(idx.pos(text.length - 1), { file: "f", line: 3, column: 1 });
});

Deno.test("parseJsonc() reads //, /* */ and # comments", () => {
  const { root, errors } = parse(
    '# top\n{\n  // line\n  "a": /* inline */ 1, # after\n  "b": [true, null]\n}\n',
  );
  assert.deepEqual(errors, []);
  assert.deepEqual(toPlain(root!), { a: 1, b: [true, null] });
});

Deno.test("parseJsonc() gives every value its position", () => {
  const { root } = parse('{\n\t## x\n  "k": [1, "two"]\n}');
  assert.ok(root?.kind === "object");
  const prop = root.props[0]!;
  assert.deepEqual(prop.keyPos, { file: "f.json", line: 3, column: 3 });
  assert.ok(prop.value.kind === "array");
  // `  "k": [1, "two"]`: the string starts in column 12.
  assert.deepEqual(prop.value.items[1]!.pos, { file: "f.json", line: 3, column: 12 });
});

Deno.test("parseJsonc() keeps the later of duplicate keys and warns", () => {
  const { root, warnings } = parse('{"a": 1,\n "a": 2}');
  assert.deepEqual(toPlain(root!), { a: 2 });
  assert.deepEqual(warnings, [
    'f.json:2:2: duplicate key "a" (also at line 1); the later value is used, as in sing-box',
  ]);
});

Deno.test("parseJsonc() reports one clean error for too-deep nesting", () => {
  const { root, errors } = parse("[".repeat(100_000) + "]".repeat(100_000));
  assert.equal(root, undefined);
  assert.deepEqual(errors, ["f.json:1:513: arrays and objects are nested deeper than 512 levels"]);
});

Deno.test("parseJsonc() reports an empty or comment-only file", () => {
  assert.deepEqual(parse("").errors, ["f.json: the file is empty (expected a JSON object)"]);
  assert.deepEqual(parse("  // nothing\n# here\n").errors, [
    "f.json: the file is empty (expected a JSON object)",
  ]);
});

Deno.test("parseJsonc() reports content after the value", () => {
  assert.deepEqual(parse('{"a": 1}\n{"b": 2}').errors, [
    "f.json:2:1: unexpected content after the end of the JSON value",
  ]);
});

Deno.test("parseJsonc() accepts a byte order mark", () => {
  const { root, errors } = parse('\uFEFF{"a": 1}');
  assert.deepEqual(errors, []);
  assert.deepEqual(toPlain(root!), { a: 1 });
});
