import assert from "node:assert/strict";
import { decodeDhcp, DHCP_DISCOVER, DHCP_OFFER, encodeDiscover } from "../../src/dns/dhcp_wire.ts";

const MAC = new Uint8Array([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);

Deno.test("`encodeDiscover()` is a broadcast BOOTREQUEST asking for DNS servers", () => {
  const m = encodeDiscover(0xdeadbeef, MAC);
  assert.equal(m.length, 300);
  assert.deepEqual([...m.subarray(0, 4)], [1, 1, 6, 0]); // op, htype, hlen, hops
  assert.deepEqual([...m.subarray(4, 8)], [0xde, 0xad, 0xbe, 0xef]);
  assert.deepEqual([...m.subarray(10, 12)], [0x80, 0]); // broadcast flag
  assert.deepEqual([...m.subarray(28, 34)], [...MAC]);
  assert.deepEqual([...m.subarray(236, 240)], [99, 130, 83, 99]);
  // 53 (DISCOVER), 55 (1 3 6 15 119), 57 (1500), end.
  assert.deepEqual([...m.subarray(240, 256)], [
    53,
    1,
    DHCP_DISCOVER,
    55,
    5,
    1,
    3,
    6,
    15,
    119,
    57,
    2,
    5,
    220,
    255,
    0,
  ]);
});

/** An OFFER as a server would send it (built by hand, independently of the decoder). */
function offer(xid: number, options: number[]): Uint8Array {
  const m = new Uint8Array(240 + options.length);
  m[0] = 2;
  m[1] = 1;
  m[2] = 6;
  new DataView(m.buffer).setUint32(4, xid);
  m.set(MAC, 28);
  m.set([99, 130, 83, 99], 236);
  m.set(options, 240);
  return m;
}

Deno.test("`decodeDhcp()` reads the type, DNS servers and domain of an offer", () => {
  const r = decodeDhcp(offer(7, [
    53,
    1,
    DHCP_OFFER,
    0, // a pad
    6,
    8,
    10,
    0,
    0,
    53,
    10,
    0,
    0,
    54,
    15,
    5,
    ...new TextEncoder().encode("lan\0\0"),
    255,
  ]))!;
  assert.equal(r.xid, 7);
  assert.equal(r.type, DHCP_OFFER);
  assert.deepEqual(r.dnsServers.map((a) => [...a].join(".")), ["10.0.0.53", "10.0.0.54"]);
  assert.equal(r.domain, "lan");
  assert.deepEqual([...r.chaddr], [...MAC]);
});

Deno.test("`decodeDhcp()` refuses requests, short messages, a wrong cookie and overrunning options", () => {
  const ok = offer(1, [53, 1, 2, 255]);
  assert.notEqual(decodeDhcp(ok), null);
  const request = ok.slice();
  request[0] = 1;
  assert.equal(decodeDhcp(request), null);
  assert.equal(decodeDhcp(ok.subarray(0, 239)), null);
  const cookie = ok.slice();
  cookie[239] = 0;
  assert.equal(decodeDhcp(cookie), null);
  assert.equal(decodeDhcp(offer(1, [6, 40, 10, 0])), null);
});
