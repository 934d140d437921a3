import assert from "node:assert/strict";
import { formatJsonc } from "../../src/config/format.ts";

Deno.test("formatJsonc() indents with two spaces and keeps every kind of comment", () => {
  const text = '{"a":1, # hash\n// line\n"b":[1,2], /* block */ "c":{"d":"#x"}}';
  assert.equal(
    formatJsonc(text),
    '{\n  "a": 1, # hash\n  // line\n  "b": [\n    1,\n    2\n  ], /* block */\n  "c": {\n    "d": "#x"\n  }\n}\n',
  );
});

Deno.test("formatJsonc() leaves an existing //# comment alone", () => {
  const out = formatJsonc('{\n//# keep the slashes\n"a": 1 # plain\n}');
  assert.equal(out, '{\n  //# keep the slashes\n  "a": 1 # plain\n}\n');
});

Deno.test("formatJsonc() is idempotent", () => {
  const once = formatJsonc('{\n\t## tab-indented\n\t\t"x": [ {"y": true} ]}');
  assert.equal(formatJsonc(once), once);
  assert.ok(once.includes("  ## tab-indented\n"));
});
