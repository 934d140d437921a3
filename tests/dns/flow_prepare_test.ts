import assert from "node:assert/strict";
import { dnsFlowPrepare, type DnsNames } from "../../src/dns/flow_prepare.ts";
import { newConnMetadata } from "../../src/route/metadata.ts";
import { config } from "./_helpers.ts";

const FAKE = new Uint8Array([198, 18, 0, 9]);
const STALE = new Uint8Array([198, 18, 0, 10]);
const REAL = new Uint8Array([93, 184, 216, 34]);

/** A DNS module that knows one fake address and one reverse mapping. */
const names: DnsNames = {
  isFakeIp: (a) => a[0] === 198 && a[1] === 18,
  lookupFake: (a) => a[3] === 9 ? "fake.example" : undefined,
  lookupReverse: (a) => a[0] === 93 ? "real.example" : undefined,
};

function meta(addr: Uint8Array, port = 443) {
  return newConnMetadata({
    id: 1,
    inbound: "tun-in",
    inboundType: "tun",
    network: "tcp",
    source: { addr: new Uint8Array([172, 19, 0, 1]), port: 40000 },
    destination: { addr, port },
  });
}

const FAKEIP = {
  dns: {
    servers: [
      { type: "local", tag: "local" },
      { type: "fakeip", tag: "fake", inet4_range: "198.18.0.0/15" },
    ],
  },
};

Deno.test("dnsFlowPrepare() is null without a fakeip server or reverse_mapping", () => {
  assert.deepEqual(dnsFlowPrepare(config({}), names), null);
  assert.deepEqual(dnsFlowPrepare(config({ dns: { servers: [{ type: "local" }] } }), names), null);
});

Deno.test("dnsFlowPrepare() turns a FakeIP destination into its domain and keeps the fake address", () => {
  const prepare = dnsFlowPrepare(config(FAKEIP), names)!;
  const m = meta(FAKE, 8443);
  assert.deepEqual(prepare(m), null);
  assert.deepEqual(m.destination, { addr: new Uint8Array(0), port: 8443, fqdn: "fake.example" });
  assert.deepEqual(m.originalDestination, { addr: FAKE, port: 8443 });
});

Deno.test("dnsFlowPrepare() refuses a FakeIP address without a record and leaves the metadata", () => {
  const prepare = dnsFlowPrepare(config(FAKEIP), names)!;
  const m = meta(STALE);
  const refusal = prepare(m);
  assert.deepEqual(refusal?.startsWith("missing fakeip record for 198.18.0.10:"), true);
  assert.deepEqual(m.destination, { addr: STALE, port: 443 });
  assert.deepEqual(m.originalDestination, null);
});

Deno.test("dnsFlowPrepare() fills an empty domain from reverse mapping only when it is on", () => {
  const withoutReverse = meta(REAL);
  assert.deepEqual(dnsFlowPrepare(config(FAKEIP), names)!(withoutReverse), null);
  assert.deepEqual(withoutReverse.domain, "");

  const prepare = dnsFlowPrepare(config({ dns: { reverse_mapping: true } }), names)!;
  const m = meta(REAL);
  assert.deepEqual(prepare(m), null);
  assert.deepEqual(m.domain, "real.example");
  assert.deepEqual(m.destination, { addr: REAL, port: 443 });

  const sniffed = meta(REAL);
  sniffed.domain = "sniffed.example";
  prepare(sniffed);
  assert.deepEqual(sniffed.domain, "sniffed.example");
});
