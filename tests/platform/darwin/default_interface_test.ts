import assert from "node:assert/strict";
import { darwinDefaultInterface } from "../../../src/platform/darwin/default_interface.ts";
import { FakeDarwinLibc } from "./_fake_libc.ts";
import { RECORD_DEFAULT_EN0, RECORD_SCOPED_DEFAULT_EN5 } from "./_route_dump.ts";

Deno.test("`darwinDefaultInterface()` skips the excluded interface", () => {
  const fake = new FakeDarwinLibc();
  fake.dump = new Uint8Array([...RECORD_DEFAULT_EN0]);
  assert.deepEqual(darwinDefaultInterface(fake), { name: "en0", index: 6 });
  assert.equal(darwinDefaultInterface(fake, "en0"), null);
});

Deno.test("`darwinDefaultInterface()` falls back to a scoped default when the unscoped one is ours", () => {
  const fake = new FakeDarwinLibc();
  fake.dump = new Uint8Array([...RECORD_SCOPED_DEFAULT_EN5, ...RECORD_DEFAULT_EN0]);
  assert.deepEqual(darwinDefaultInterface(fake), { name: "en0", index: 6 });
  // With en0 filtered out (as tunbox filters its own utun), the scoped en5 default is next.
  assert.deepEqual(darwinDefaultInterface(fake, (n) => n !== "en0"), { name: "en5", index: 12 });
});
