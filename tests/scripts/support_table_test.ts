import assert from "node:assert/strict";
import { BEGIN, END, renderSupportTable, updateReadme } from "../../scripts/support_table.ts";
import { FEATURES } from "../../src/config/support.ts";

Deno.test("README's support table is generated from FEATURES and up to date", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  assert.ok(readme.includes(BEGIN) && readme.includes(END));
  assert.equal(
    await updateReadme(readme),
    readme,
    "README.md is stale: run `deno run -A scripts/support_table.ts`",
  );
});

Deno.test("renderSupportTable() lists every feature that is not supported, with its note", () => {
  const table = renderSupportTable();
  for (const f of Object.values(FEATURES)) {
    assert.ok(table.includes(f.name.replaceAll("|", "\\|")), f.name);
    if (f.level !== "supported") assert.ok(table.includes(`${f.level}: ${f.note}`), f.name);
  }
});
