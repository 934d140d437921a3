import assert from "node:assert/strict";
import { decodeConfigText } from "../../src/config/decode.ts";

function config(tunAddress: string): string {
  return JSON.stringify(
    {
      inbounds: [{ type: "tun", tag: "tun-in", address: tunAddress, auto_route: true }],
      outbounds: [{ type: "direct", tag: "direct" }],
      route: { auto_detect_interface: true },
      dns: {
        servers: [
          { tag: "local", type: "local" },
          { tag: "fake", type: "fakeip", inet4_range: "198.18.0.0/15" },
        ],
      },
    },
    null,
    2,
  );
}

Deno.test("`check` warns when a FakeIP range overlaps the TUN's address, naming both", () => {
  const r = decodeConfigText(config("198.18.0.1/30"), "c.json");
  assert.deepEqual(r.errors, []);
  const w = r.warnings.map((d) => d.format());
  assert.deepEqual(w, [
    "c.json:28:24: dns.servers[1].inet4_range: FakeIP range 198.18.0.0/15 overlaps the address 198.18.0.1/30 of inbound \"tun-in\": fake addresses would collide with the TUN's own; give the TUN another range (sing-box's examples use 172.19.0.1/30)",
  ]);
});

Deno.test("`check` is quiet when the FakeIP range and the TUN address are apart", () => {
  const r = decodeConfigText(config("172.19.0.1/30"), "c.json");
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.warnings, []);
});
