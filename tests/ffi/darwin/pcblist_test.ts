import assert from "node:assert/strict";
import { parsePcbList, roundup64 } from "../../../ffi/darwin/pcblist.ts";
import { type FakePcb, pcbItem, pcbList } from "./_pcblist.ts";

const v4 = (...b: number[]) => new Uint8Array(b);
const v6 = (last: number, first = 0xfd) => {
  const a = new Uint8Array(16);
  a[0] = first;
  a[15] = last;
  return a;
};

const SOCKETS: FakePcb[] = [
  { lport: 52044, laddr: v4(192, 168, 1, 20), pid: 812, uid: 501 },
  { lport: 52045, laddr: v6(5), pid: 813, uid: 502 },
  { lport: 5353, laddr: new Uint8Array(16), dualStack: true, pid: 90, uid: 0 },
  { lport: 40000, laddr: v4(10, 0, 0, 2), pid: 7, uid: 65534 },
];

const EXPECTED = [
  { localPort: 52044, v4: v4(192, 168, 1, 20), v6: null, pid: 812, uid: 501 },
  { localPort: 52045, v4: null, v6: v6(5), pid: 813, uid: 502 },
  { localPort: 5353, v4: v4(0, 0, 0, 0), v6: new Uint8Array(16), pid: 90, uid: 0 },
  { localPort: 40000, v4: v4(10, 0, 0, 2), v6: null, pid: 7, uid: 65534 },
];

Deno.test("parsePcbList() reads every socket of a TCP list (xtcpcb_n records skipped)", () => {
  assert.deepEqual(parsePcbList(pcbList(SOCKETS, true)), EXPECTED);
});

Deno.test("parsePcbList() reads every socket of a UDP list (no xtcpcb_n)", () => {
  assert.deepEqual(parsePcbList(pcbList(SOCKETS, false)), EXPECTED);
});

Deno.test("parsePcbList() reads macOS 12's 80-byte xsocket_n records by their length", () => {
  assert.deepEqual(parsePcbList(pcbList(SOCKETS, true, true)), EXPECTED);
  assert.deepEqual(parsePcbList(pcbList(SOCKETS, false, true)), EXPECTED);
});

Deno.test("a socket's records take the strides sing-box hard-codes (408/616, 384/592 before macOS 13)", () => {
  assert.equal(pcbItem(SOCKETS[0]!, false).length, 408);
  assert.equal(pcbItem(SOCKETS[0]!, true).length, 408 + 208);
  assert.equal(pcbItem(SOCKETS[0]!, false, true).length, 384);
  assert.equal(pcbItem(SOCKETS[0]!, true, true).length, 384 + 208);
});

Deno.test("parsePcbList() gives a user-space flow (no pcb or socket handle) uid -1, not root", () => {
  const list = pcbList([{
    lport: 443,
    laddr: v4(192, 168, 1, 20),
    pid: 321,
    uid: 0,
    userland: true,
  }], false);
  assert.deepEqual(parsePcbList(list), [
    { localPort: 443, v4: v4(192, 168, 1, 20), v6: null, pid: 321, uid: -1 },
  ]);
});

Deno.test("parsePcbList() on a truncated list keeps only the sockets whose records are all there", () => {
  const list = pcbList(SOCKETS, true);
  const item = 616;
  // Cut inside the second socket's xsocket_n: only the first is complete.
  assert.deepEqual(parsePcbList(list, 24 + item + 104 + 50), EXPECTED.slice(0, 1));
  // The same through a shorter buffer rather than a shorter length.
  assert.deepEqual(parsePcbList(list.slice(0, 24 + item + 104 + 50)), EXPECTED.slice(0, 1));
  // Cut inside the first xinpcb_n, inside the header, or nothing at all.
  assert.deepEqual(parsePcbList(list, 24 + 60), []);
  assert.deepEqual(parsePcbList(list, 10), []);
  assert.deepEqual(parsePcbList(new Uint8Array(0)), []);
  // Every length from 0 to the whole list parses without throwing, to a prefix of the sockets.
  for (let n = 0; n <= list.length; n++) {
    const got = parsePcbList(list, n);
    assert.deepEqual(got, EXPECTED.slice(0, got.length), `length ${n}`);
  }
});

Deno.test("parsePcbList() stops at a record length that would run past the bytes or loop", () => {
  const list = pcbList(SOCKETS, false);
  const dv = new DataView(list.buffer);
  // The second socket's xinpcb_n claims 1 MiB: the walk ends after the first socket.
  dv.setUint32(24 + 408, 1 << 20, true);
  assert.deepEqual(parsePcbList(list), EXPECTED.slice(0, 1));
  // A zero length (an xinpgen-sized record or less) ends the list instead of looping.
  dv.setUint32(24 + 408, 0, true);
  assert.deepEqual(parsePcbList(list), EXPECTED.slice(0, 1));
  // A header that is not an xinpgen: nothing.
  const bad = pcbList(SOCKETS, false);
  new DataView(bad.buffer).setUint32(0, 8, true);
  assert.deepEqual(parsePcbList(bad), []);
});

Deno.test("parsePcbList() survives random bytes", () => {
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
  for (let i = 0; i < 200; i++) {
    const buf = Uint8Array.from({ length: 24 + (i * 37) % 2000 }, rand);
    new DataView(buf.buffer).setUint32(0, 24, true);
    for (const s of parsePcbList(buf)) assert.ok(s.localPort >= 0 && s.localPort < 65536);
  }
});

Deno.test("roundup64() is ROUNDUP64 (P2ROUNDUP to 8)", () => {
  assert.deepEqual([0, 1, 7, 8, 9, 24, 80, 104, 136, 204].map(roundup64), [
    0,
    8,
    8,
    8,
    16,
    24,
    80,
    104,
    136,
    208,
  ]);
});
