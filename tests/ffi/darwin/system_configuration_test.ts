// The CoreFoundation/SystemConfiguration binding over a fake at the FFI symbol level (packed
// pointer arrays, C strings, number cells, reference counts): property lists round-trip, every
// object created or copied is released once, and the dynamic store is used as configd expects.

import assert from "node:assert/strict";
import {
  bindDynamicStore,
  CF_SYMBOLS,
  CoreFoundation,
  type Plist,
  SC_SYMBOLS,
} from "../../../ffi/darwin/system_configuration.ts";
import { FakeCoreFoundation } from "./_fake_cf.ts";

function setup() {
  const fake = new FakeCoreFoundation();
  const cf = new CoreFoundation(fake.cf, fake.constants);
  return { fake, cf };
}

const SAMPLE: Plist = {
  ServerAddresses: ["198.18.0.2", "fdfe:dcba:9876::2"],
  ConfirmedServiceID: "tunbox-utun8",
  OverridePrimary: 1,
  Weight: -2.5,
  Enabled: true,
  Disabled: false,
  Nested: { Empty: [], Deep: [{ "Ünïcode ✓": "日本語" }] },
};

Deno.test("a property list goes to CF objects and back unchanged, and nothing leaks", () => {
  const { fake, cf } = setup();
  const made = cf.create(SAMPLE);
  assert.deepEqual(cf.read(made.ref), SAMPLE);
  assert.equal(made.owned, true);
  cf.release(made.ref);
  assert.deepEqual(fake.live(), []);
});

Deno.test("strings with NUL are refused before reaching CoreFoundation", () => {
  const { fake, cf } = setup();
  assert.throws(() => cf.create({ a: ["ok", "bad\0"] }), /cannot hold NUL/);
  assert.deepEqual(fake.live(), []); // what was built before the failure was released
});

Deno.test("the dynamic store: set, get, keys, remove; a missing key is not an error", () => {
  const { fake, cf } = setup();
  const store = bindDynamicStore(cf, fake.sc, "tunbox-utun8", { sessionKeys: true });
  assert.deepEqual(fake.calls, ["create tunbox-utun8 (session keys)"]);
  const key = "State:/Network/Service/tunbox-utun8/DNS";
  assert.equal(store.get(key), null);
  store.set(key, SAMPLE);
  assert.deepEqual(store.get(key), SAMPLE);
  store.set("State:/Network/Service/tunbox-utun8/IPv4", { Router: "198.18.0.1" });
  assert.deepEqual(store.keys("^State:/Network/Service/tunbox-utun8/"), [
    key,
    "State:/Network/Service/tunbox-utun8/IPv4",
  ]);
  store.remove(key);
  store.remove(key); // kSCStatusNoKey: fine
  assert.equal(store.get(key), null);
  store.close();
  store.close();
  // Only the value still held by the store remains.
  assert.deepEqual(fake.live(), []);
  assert.throws(() => store.get(key), /closed/);
});

Deno.test("a failed SC call names the key and the status", () => {
  const { fake, cf } = setup();
  const sc = { ...fake.sc };
  const store = bindDynamicStore(cf, sc, "t");
  sc.SCDynamicStoreSetValue = () => (fake.scError = 1003, 0);
  assert.throws(
    () => store.set("State:/X", { a: 1 }),
    /set dynamic store key State:\/X failed: SC status 1003/,
  );
  sc.SCDynamicStoreRemoveValue = () => (fake.scError = 1001, 0);
  assert.throws(() => store.remove("State:/X"), /remove dynamic store key State:\/X failed/);
  store.close();
  assert.deepEqual(fake.live(), []);
});

Deno.test("no CF/SC symbol is declared with a variadic-sensitive shape (all fixed prototypes)", () => {
  // CFStringCreateWithFormat & co. are variadic and deliberately not used.
  for (const name of Object.keys({ ...CF_SYMBOLS, ...SC_SYMBOLS })) {
    assert.ok(!/Format|WithArguments/.test(name), name);
  }
  // CFIndex (signed long) is 8 bytes; CFStringEncoding (UInt32) 4; Boolean (unsigned char) 1.
  assert.deepEqual(CF_SYMBOLS.CFArrayCreate.parameters, ["pointer", "buffer", "i64", "pointer"]);
  assert.deepEqual(CF_SYMBOLS.CFStringCreateWithCString.parameters, ["pointer", "buffer", "u32"]);
  assert.equal(SC_SYMBOLS.SCDynamicStoreSetValue.result, "u8");
});
