// Byte-exact tests for the veth/namespace link encoders. The expected bytes are what
// iproute2 6.1 sends for `ip link add v0 type veth peer name v1 netns <ns>` (captured with
// strace; the namespace fd was 4), checked field by field against include/uapi/linux/
// if_link.h and veth.h.

import assert from "node:assert/strict";
import {
  attrBytesOfString,
  encodeVethLinkInfo,
  IFLA_INFO_DATA,
  IFLA_NET_NS_FD,
  IFLA_NET_NS_PID,
  parseAttrs,
  readString,
  readU32,
  VETH_INFO_PEER,
} from "../../../ffi/linux/netlink.ts";

const bytes = (...b: number[]) => Uint8Array.from(b);
const zeros = (n: number) => new Array<number>(n).fill(0);

Deno.test("link attribute numbers match the kernel headers", () => {
  assert.deepEqual(
    [IFLA_NET_NS_PID, IFLA_NET_NS_FD, IFLA_INFO_DATA, VETH_INFO_PEER],
    [19, 28, 2, 1],
  );
});

Deno.test("`attrBytesOfString()` writes the string without a NUL, padded", () => {
  assert.deepEqual(attrBytesOfString(1, "veth"), bytes(8, 0, 1, 0, 0x76, 0x65, 0x74, 0x68));
  assert.deepEqual(attrBytesOfString(1, "tun"), bytes(7, 0, 1, 0, 0x74, 0x75, 0x6e, 0));
});

Deno.test("`encodeVethLinkInfo()` with a peer namespace matches iproute2 byte for byte", () => {
  assert.deepEqual(
    encodeVethLinkInfo("v1", 4),
    bytes(
      ...[0x34, 0, 0x12, 0], // IFLA_LINKINFO, 52 bytes
      ...[8, 0, 1, 0, 0x76, 0x65, 0x74, 0x68], // IFLA_INFO_KIND "veth"
      ...[0x28, 0, 2, 0], // IFLA_INFO_DATA, 40 bytes
      ...[0x24, 0, 1, 0], // VETH_INFO_PEER, 36 bytes
      ...zeros(16), // the peer's ifinfomsg
      ...[8, 0, 0x1c, 0, 4, 0, 0, 0], // IFLA_NET_NS_FD 4
      ...[7, 0, 3, 0, 0x76, 0x31, 0, 0], // IFLA_IFNAME "v1\0"
    ),
  );
});

Deno.test("`encodeVethLinkInfo()` without a namespace leaves IFLA_NET_NS_FD out", () => {
  const info = encodeVethLinkInfo("peer0");
  const [linkinfo] = parseAttrs(info);
  assert.equal(linkinfo!.type, 18);
  const [kind, data] = parseAttrs(linkinfo!.value);
  assert.equal(new TextDecoder().decode(kind!.value), "veth");
  const [peer] = parseAttrs(data!.value);
  assert.equal(peer!.type, VETH_INFO_PEER);
  const attrs = parseAttrs(peer!.value, 16);
  assert.deepEqual(attrs.map((a) => a.type), [3]);
  assert.equal(readString(attrs[0]!.value), "peer0");
});

Deno.test("`encodeVethLinkInfo()` never sets NLA_F_NESTED (as iproute2)", () => {
  const walk = (buf: Uint8Array, from: number): number[] =>
    parseAttrs(buf, from).map((a) => a.rawType);
  const info = encodeVethLinkInfo("v1", 9);
  const top = parseAttrs(info)[0]!;
  const data = parseAttrs(top.value)[1]!;
  const peer = parseAttrs(data.value)[0]!;
  for (const t of [top.rawType, data.rawType, peer.rawType, ...walk(peer.value, 16)]) {
    assert.equal(t & 0x8000, 0);
  }
  assert.equal(readU32(parseAttrs(peer.value, 16)[0]!.value), 9);
});
