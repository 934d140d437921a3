// Byte-exact tests for the rtnetlink codec. Expected bytes are written out by hand from the
// header layouts (little-endian integers, network-order addresses).

import assert from "node:assert/strict";
import {
  align4,
  attrNested,
  attrString,
  attrU16,
  attrU32,
  attrU8,
  buildMessage,
  decodeFibRuleHdr,
  decodeIfAddrMsg,
  decodeIfInfoMsg,
  decodeNlMsgErr,
  decodeRtMsg,
  encodeAttr,
  encodeFibRuleHdr,
  encodeIfAddrMsg,
  encodeIfInfoMsg,
  encodeNlMsgErr,
  encodeRtMsg,
  encodeSockaddrNl,
  NLA_F_NESTED,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLMSG_ERROR,
  parseAttrs,
  parseMessages,
  readNlMsgHeader,
  readString,
  readU32,
  writeNlMsgHeader,
} from "../../../ffi/linux/netlink.ts";

const bytes = (...b: number[]) => Uint8Array.from(b);

Deno.test("`align4()` rounds up to a multiple of 4", () => {
  assert.deepEqual([0, 1, 3, 4, 5, 8, 13].map(align4), [0, 4, 4, 4, 8, 8, 16]);
});

Deno.test("`writeNlMsgHeader()` lays out len, type, flags, seq, pid little-endian", () => {
  const buf = new Uint8Array(16);
  writeNlMsgHeader(buf, 0, {
    len: 0x24,
    type: 24,
    flags: 0x0605,
    seq: 0x01020304,
    pid: 0xa0b0c0d0,
  });
  assert.deepEqual(
    buf,
    bytes(
      0x24,
      0,
      0,
      0, // len
      24,
      0, // type RTM_NEWROUTE
      0x05,
      0x06, // flags REQUEST|ACK|CREATE|EXCL
      0x04,
      0x03,
      0x02,
      0x01, // seq
      0xd0,
      0xc0,
      0xb0,
      0xa0, // pid
    ),
  );
  assert.deepEqual(readNlMsgHeader(buf), {
    len: 0x24,
    type: 24,
    flags: 0x0605,
    seq: 0x01020304,
    pid: 0xa0b0c0d0,
  });
});

Deno.test("`readNlMsgHeader()` rejects a short buffer", () => {
  assert.throws(() => readNlMsgHeader(new Uint8Array(15)), RangeError);
});

Deno.test("`encodeAttr()` writes the unpadded length and zero-pads the payload", () => {
  assert.deepEqual(encodeAttr(1, bytes(0xaa, 0xbb, 0xcc)), bytes(7, 0, 1, 0, 0xaa, 0xbb, 0xcc, 0));
  assert.deepEqual(encodeAttr(9, new Uint8Array(0)), bytes(4, 0, 9, 0));
});

Deno.test("integer and string attributes encode host-endian and NUL-terminated", () => {
  assert.deepEqual(attrU8(22, 17), bytes(5, 0, 22, 0, 17, 0, 0, 0));
  assert.deepEqual(attrU16(7, 0x1234), bytes(6, 0, 7, 0, 0x34, 0x12, 0, 0));
  assert.deepEqual(attrU32(15, 2022), bytes(8, 0, 15, 0, 0xe6, 0x07, 0, 0));
  // "lo\0" = 3 bytes → len 7, padded to 8.
  assert.deepEqual(attrString(3, "lo"), bytes(7, 0, 3, 0, 0x6c, 0x6f, 0, 0));
  // "tun0\0" = 5 bytes → len 9, padded to 12.
  assert.deepEqual(
    attrString(3, "tun0"),
    bytes(9, 0, 3, 0, 0x74, 0x75, 0x6e, 0x30, 0, 0, 0, 0),
  );
});

Deno.test("`attrNested()` sets NLA_F_NESTED and wraps padded children", () => {
  const nested = attrNested(18, [attrString(1, "tun")]);
  assert.deepEqual(
    nested,
    bytes(12, 0, 18, 0x80, /* child */ 8, 0, 1, 0, 0x74, 0x75, 0x6e, 0),
  );
  const [outer] = parseAttrs(nested);
  assert.equal(outer!.type, 18);
  assert.equal(outer!.rawType, 18 | NLA_F_NESTED);
  const [inner] = parseAttrs(outer!.value);
  assert.equal(readString(inner!.value), "tun");
  assert.deepEqual(attrNested(8, [attrU32(2, 1500)], false).subarray(0, 4), bytes(12, 0, 8, 0));
});

Deno.test("`parseAttrs()` walks padded attributes and rejects an overlong one", () => {
  const run = new Uint8Array([...attrU8(1, 9), ...attrU32(2, 7), ...attrString(3, "abcd")]);
  const attrs = parseAttrs(run);
  assert.deepEqual(attrs.map((a) => a.type), [1, 2, 3]);
  assert.equal(attrs[0]!.value.byteLength, 1);
  assert.equal(readU32(attrs[1]!.value), 7);
  assert.equal(readString(attrs[2]!.value), "abcd");
  assert.throws(() => parseAttrs(bytes(12, 0, 1, 0, 0, 0, 0, 0)), RangeError);
});

Deno.test("`encodeIfInfoMsg()` matches struct ifinfomsg", () => {
  const b = encodeIfInfoMsg({ family: 0, type: 0xfffe, index: 7, flags: 1, change: 1 });
  assert.deepEqual(
    b,
    bytes(
      0,
      0, // family, pad
      0xfe,
      0xff, // type ARPHRD_NONE
      7,
      0,
      0,
      0, // index
      1,
      0,
      0,
      0, // flags IFF_UP
      1,
      0,
      0,
      0, // change IFF_UP
    ),
  );
  assert.deepEqual(decodeIfInfoMsg(b), { family: 0, type: 0xfffe, index: 7, flags: 1, change: 1 });
});

Deno.test("`encodeIfAddrMsg()` matches struct ifaddrmsg", () => {
  const b = encodeIfAddrMsg({ family: 10, prefixlen: 126, flags: 0x02, scope: 0, index: 5 });
  assert.deepEqual(b, bytes(10, 126, 0x02, 0, 5, 0, 0, 0));
  assert.deepEqual(decodeIfAddrMsg(b), {
    family: 10,
    prefixlen: 126,
    flags: 2,
    scope: 0,
    index: 5,
  });
});

Deno.test("`encodeRtMsg()` matches struct rtmsg", () => {
  const m = {
    family: 2,
    dstLen: 24,
    srcLen: 0,
    tos: 0,
    table: 254,
    protocol: 3,
    scope: 253,
    type: 1,
    flags: 0x10,
  };
  const b = encodeRtMsg(m);
  assert.deepEqual(b, bytes(2, 24, 0, 0, 254, 3, 253, 1, 0x10, 0, 0, 0));
  assert.deepEqual(decodeRtMsg(b), m);
});

Deno.test("`encodeFibRuleHdr()` keeps res1/res2 zero and puts the action at offset 7", () => {
  const m = { family: 10, dstLen: 0, srcLen: 1, tos: 0, table: 0, action: 2, flags: 2 };
  const b = encodeFibRuleHdr(m);
  assert.deepEqual(b, bytes(10, 0, 1, 0, 0, 0, 0, 2, 2, 0, 0, 0));
  assert.deepEqual(decodeFibRuleHdr(b), m);
});

Deno.test("`buildMessage()` fills nlmsg_len and pads the family header", () => {
  const msg = buildMessage(
    { type: 32, flags: 0x0605, seq: 1, pid: 0 },
    encodeFibRuleHdr({ family: 2, dstLen: 0, srcLen: 0, tos: 0, table: 0, action: 3, flags: 0 }),
    [attrU32(6, 9010)],
  );
  assert.deepEqual(
    msg,
    bytes(
      36,
      0,
      0,
      0,
      32,
      0,
      0x05,
      0x06,
      1,
      0,
      0,
      0,
      0,
      0,
      0,
      0, // nlmsghdr
      2,
      0,
      0,
      0,
      0,
      0,
      0,
      3,
      0,
      0,
      0,
      0, // fib_rule_hdr, action NOP
      8,
      0,
      6,
      0,
      0x32,
      0x23,
      0,
      0, // FRA_PRIORITY 9010
    ),
  );
});

Deno.test("`parseMessages()` splits a datagram holding several messages", () => {
  const a = buildMessage({ type: 16, flags: 2, seq: 5, pid: 9 }, new Uint8Array(16), [
    attrString(3, "x"),
  ]);
  const b = buildMessage({ type: 3, flags: 2, seq: 5, pid: 9 }, bytes(0, 0, 0, 0));
  const dgram = new Uint8Array([...a, ...b]);
  const msgs = parseMessages(dgram);
  assert.equal(msgs.length, 2);
  assert.equal(msgs[0]!.header.type, 16);
  assert.equal(msgs[0]!.payload.byteLength, a.byteLength - 16);
  assert.equal(msgs[1]!.header.type, 3);
  assert.deepEqual(msgs[1]!.payload, bytes(0, 0, 0, 0));
  assert.throws(() => parseMessages(dgram.subarray(0, a.byteLength - 4)), RangeError);
});

Deno.test("`decodeNlMsgErr()` reads the errno and the extended-ack message (capped)", () => {
  const request = buildMessage({ type: 24, flags: 0x0605, seq: 77, pid: 0 }, new Uint8Array(12));
  // Hand-built capped error: error -17, request header copy, NLMSGERR_ATTR_MSG "Nope".
  const payload = bytes(
    0xef,
    0xff,
    0xff,
    0xff, // error = -17 (EEXIST)
    28,
    0,
    0,
    0,
    24,
    0,
    0x05,
    0x06,
    77,
    0,
    0,
    0,
    0,
    0,
    0,
    0, // request nlmsghdr
    9,
    0,
    1,
    0,
    0x4e,
    0x6f,
    0x70,
    0x65,
    0,
    0,
    0,
    0, // NLMSGERR_ATTR_MSG "Nope\0"
  );
  assert.deepEqual(encodeNlMsgErr(17, request, { message: "Nope" }), payload);
  const err = decodeNlMsgErr(payload, NLM_F_CAPPED | NLM_F_ACK_TLVS);
  assert.equal(err.errno, 17);
  assert.equal(err.request.seq, 77);
  assert.equal(err.request.type, 24);
  assert.equal(err.message, "Nope");
});

Deno.test("`decodeNlMsgErr()` skips the full request copy when not capped", () => {
  const request = buildMessage({ type: 32, flags: 5, seq: 3, pid: 0 }, new Uint8Array(12), [
    attrU32(6, 9000),
  ]);
  const payload = encodeNlMsgErr(
    22,
    request,
    { message: "Invalid goto target", offset: 28 },
    false,
  );
  assert.equal(payload.byteLength, 4 + request.byteLength + 24 + 8);
  const err = decodeNlMsgErr(payload, NLM_F_ACK_TLVS);
  assert.equal(err.errno, 22);
  assert.equal(err.message, "Invalid goto target");
  assert.equal(err.offset, 28);
});

Deno.test("`decodeNlMsgErr()` reads a plain ACK without TLVs", () => {
  const payload = bytes(0, 0, 0, 0, 16, 0, 0, 0, 16, 0, 5, 0, 1, 0, 0, 0, 0, 0, 0, 0);
  const err = decodeNlMsgErr(payload, NLM_F_CAPPED);
  assert.equal(err.errno, 0);
  assert.equal(err.message, undefined);
  assert.equal(NLMSG_ERROR, 2);
});

Deno.test("`encodeSockaddrNl()` matches struct sockaddr_nl", () => {
  assert.deepEqual(
    encodeSockaddrNl(0, 0x451),
    bytes(16, 0, 0, 0, 0, 0, 0, 0, 0x51, 0x04, 0, 0),
  );
});
