import assert from "node:assert/strict";
import { dialDestination, newConnMetadata } from "../../src/route/metadata.ts";
import { ip } from "./_helpers.ts";

function meta(dst: Uint8Array, src = ip("172.19.0.1")) {
  return newConnMetadata({
    id: 9,
    inbound: "tun-in",
    inboundType: "tun",
    network: "udp",
    source: { addr: src, port: 5353 },
    destination: { addr: dst, port: 53 },
  });
}

Deno.test("`newConnMetadata()` starts every flow with the same empty fields", () => {
  const m = meta(ip("8.8.8.8"));
  assert.deepEqual(m, {
    id: 9,
    inbound: "tun-in",
    inboundType: "tun",
    network: "udp",
    ipVersion: 4,
    source: { addr: ip("172.19.0.1"), port: 5353 },
    destination: { addr: ip("8.8.8.8"), port: 53 },
    originalDestination: null,
    domain: "",
    protocol: "",
    client: "",
    destinationAddresses: [],
    routeOptions: {},
    outbound: "",
    process: undefined,
    ruleCursor: 0,
  });
  assert.equal(meta(ip("2001:db8::1")).ipVersion, 6);
});

Deno.test("`newConnMetadata()` unmaps IPv4-mapped IPv6 source and destination", () => {
  const m = meta(ip("::ffff:8.8.4.4"), ip("::ffff:10.0.0.2"));
  assert.deepEqual(m.destination.addr, ip("8.8.4.4"));
  assert.deepEqual(m.source.addr, ip("10.0.0.2"));
  assert.equal(m.ipVersion, 4);
  assert.deepEqual(meta(ip("::1")).destination.addr, ip("::1"));
});

Deno.test("`dialDestination()` gives the IP, or the override domain, never the sniffed domain", () => {
  const m = meta(ip("1.1.1.1"));
  m.domain = "sniffed.example";
  assert.deepEqual(dialDestination(m), { addr: ip("1.1.1.1"), port: 53 });
  m.destination = { addr: new Uint8Array(0), port: 853, fqdn: "dns.example" };
  assert.deepEqual(dialDestination(m), { domain: "dns.example", port: 853 });
});
