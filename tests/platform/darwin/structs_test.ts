// Byte-exact tests of the Darwin struct encoders/decoders against fixtures written out by hand
// from the xnu header layouts (offsets in the comments; integers little-endian, addresses and
// ports network order).

import assert from "node:assert/strict";
import {
  decodeCtlInfo,
  decodeIfaliasreq,
  decodeIfreq,
  decodeIn6Aliasreq,
  decodeRouteMessage,
  decodeSockaddrCtl,
  encodeCtlInfo,
  encodeIfaliasreq,
  encodeIfreqFlags,
  encodeIfreqMtu,
  encodeIn6Aliasreq,
  encodeRouteMessage,
  encodeSockaddrCtl,
  encodeSockaddrDl,
  encodeSockaddrInet,
  maskBits,
  prefixMask,
  roundup32,
  walkRoutingMessages,
} from "../../../ffi/darwin/structs.ts";
import { RTA, RTF, RTM, UTUN_CONTROL_NAME } from "../../../ffi/darwin/constants.ts";
import { routeMessage } from "../../../src/platform/darwin/route_socket.ts";
import { parseIp, parsePrefix } from "../../../src/net/ip.ts";
import { dump, hex, zeros } from "./_hex.ts";

const ip = (t: string) => parseIp(t)!;
const prefix = (t: string) => parsePrefix(t)!;

function assertBytes(actual: Uint8Array, expected: Uint8Array): void {
  assert.deepEqual(dump(actual), dump(expected));
}

// "utun8" as a 16-byte ifr_name / ifra_name.
const UTUN8 = "75 74 75 6e 38" + zeros(11);

Deno.test("`encodeCtlInfo()` writes ctl_id @0 and the NUL-padded 96-byte ctl_name @4", () => {
  const expected = hex(
    "00 00 00 00", // @0 ctl_id: 0, filled in by the kernel
    // @4 ctl_name "com.apple.net.utun_control" (26 bytes) ...
    "63 6f 6d 2e 61 70 70 6c 65 2e 6e 65 74 2e 75 74 75 6e 5f 63 6f 6e 74 72 6f 6c",
    zeros(70), // @30 ... NUL padding to 4 + 96 = 100 bytes
  );
  assert.deepEqual(expected.length, 100);
  assertBytes(encodeCtlInfo(UTUN_CONTROL_NAME), expected);
});

Deno.test("`decodeCtlInfo()` reads the ctl_id the kernel filled in", () => {
  const filled = hex("cd ab 00 00", "63 6f 6d", zeros(93)); // ctl_id 0xabcd, name "com"
  assert.deepEqual(decodeCtlInfo(filled), { id: 0xabcd, name: "com" });
  assert.throws(() => decodeCtlInfo(new Uint8Array(99)), RangeError);
  assert.throws(() => encodeCtlInfo("x".repeat(96)), RangeError);
});

Deno.test("`encodeSockaddrCtl()` lays out sockaddr_ctl for utun8 (unit 9)", () => {
  const expected = hex(
    "20", // @0 sc_len 32
    "20", // @1 sc_family AF_SYSTEM (32)
    "02 00", // @2 ss_sysaddr AF_SYS_CONTROL (2)
    "2a 00 00 00", // @4 sc_id 42 (from CTLIOCGINFO)
    "09 00 00 00", // @8 sc_unit 9 = 8 + 1 for utun8
    zeros(20), // @12 sc_reserved[5]
  );
  assertBytes(encodeSockaddrCtl(42, 9), expected);
  assert.deepEqual(decodeSockaddrCtl(expected), {
    len: 32,
    family: 32,
    sysaddr: 2,
    id: 42,
    unit: 9,
  });
});

Deno.test("`encodeIfreqMtu()` puts the name @0 and ifr_mtu @16 in a 32-byte ifreq", () => {
  const expected = hex(
    UTUN8, // @0 ifr_name "utun8"
    "28 23 00 00", // @16 ifr_mtu 9000 (0x2328)
    zeros(12), // @20 rest of the 16-byte union
  );
  assertBytes(encodeIfreqMtu("utun8", 9000), expected);
  assert.deepEqual(decodeIfreq(expected).mtu, 9000);
});

Deno.test("`encodeIfreqFlags()` puts ifr_flags (a short) @16", () => {
  const expected = hex(UTUN8, "51 80", zeros(14)); // @16 flags 0x8051 (UP|POINTOPOINT|...)
  assertBytes(encodeIfreqFlags("utun8", 0x8051), expected);
  assert.deepEqual(decodeIfreq(expected).flags, 0x8051);
  assert.throws(() => encodeIfreqFlags("utun1234567890123", 1), RangeError);
});

Deno.test("`encodeIfaliasreq()` sets addr = dst = the TUN address and the mask from the prefix", () => {
  const expected = hex(
    UTUN8, // @0 ifra_name
    "10 02 00 00 c6 12 00 01", // @16 ifra_addr: sin_len 16, AF_INET, port 0, 198.18.0.1
    zeros(8), //                    sin_zero
    "10 02 00 00 c6 12 00 01", // @32 ifra_broadaddr (p2p destination): 198.18.0.1
    zeros(8),
    "10 02 00 00 ff ff 00 00", // @48 ifra_mask: 255.255.0.0
    zeros(8),
  );
  assert.deepEqual(expected.length, 64);
  assertBytes(encodeIfaliasreq("utun8", ip("198.18.0.1"), 16), expected);
  const decoded = decodeIfaliasreq(expected);
  assert.deepEqual(decoded.name, "utun8");
  assert.deepEqual([...decoded.addr, ...decoded.dst, ...decoded.mask], [
    198,
    18,
    0,
    1,
    198,
    18,
    0,
    1,
    255,
    255,
    0,
    0,
  ]);
});

Deno.test("`encodeIn6Aliasreq()` lays out in6_aliasreq: no dstaddr, NODAD|SECURED, infinite lifetimes", () => {
  const expected = hex(
    UTUN8, // @0 ifra_name
    // @16 ifra_addr (sockaddr_in6, 28 bytes)
    "1c 1e 00 00", //   sin6_len 28, AF_INET6 (30), port 0
    "00 00 00 00", //   sin6_flowinfo
    "fd fe dc ba 98 76 00 00 00 00 00 00 00 00 00 01", // sin6_addr fdfe:dcba:9876::1
    "00 00 00 00", //   sin6_scope_id
    zeros(28), // @44 ifra_dstaddr: unset (only a /128 gets one)
    // @72 ifra_prefixmask
    "1c 1e 00 00",
    "00 00 00 00",
    "ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff fc", // /126
    "00 00 00 00",
    "20 04 00 00", // @100 ifra_flags IN6_IFF_NODAD (0x20) | IN6_IFF_SECURED (0x400)
    zeros(8), // @104 ia6t_expire (time_t)
    zeros(8), // @112 ia6t_preferred (time_t)
    "ff ff ff ff", // @120 ia6t_vltime ND6_INFINITE_LIFETIME
    "ff ff ff ff", // @124 ia6t_pltime ND6_INFINITE_LIFETIME
  );
  assert.deepEqual(expected.length, 128);
  assertBytes(encodeIn6Aliasreq("utun8", ip("fdfe:dcba:9876::1"), 126), expected);
  const d = decodeIn6Aliasreq(expected);
  assert.deepEqual(d.dst, null);
  assert.deepEqual(d.flags, 0x420);
  assert.deepEqual([d.expire, d.preferred, d.vltime, d.pltime], [0n, 0n, 0xffffffff, 0xffffffff]);
});

Deno.test("`encodeIn6Aliasreq()` sets dstaddr to the next address for a /128", () => {
  const out = encodeIn6Aliasreq("utun8", ip("fd00::1"), 128);
  assertBytes(
    out.subarray(44, 100),
    hex(
      "1c 1e 00 00 00 00 00 00", // @44 ifra_dstaddr header
      "fd 00 00 00 00 00 00 00 00 00 00 00 00 00 00 02", // fd00::2
      "00 00 00 00",
      "1c 1e 00 00 00 00 00 00", // @72 ifra_prefixmask: all ones
      "ff".repeat(16),
      "00 00 00 00",
    ),
  );
  assert.deepEqual([...decodeIn6Aliasreq(out).dst!], [...ip("fd00::2")]);
});

Deno.test("`roundup32()` pads sockaddr lengths to 4 bytes and gives length 0 four bytes", () => {
  assert.deepEqual([0, 1, 2, 4, 5, 7, 8, 16, 20, 28].map(roundup32), [
    4,
    4,
    4,
    4,
    8,
    8,
    8,
    16,
    20,
    28,
  ]);
});

Deno.test("`routeMessage()` encodes RTM_ADD 0.0.0.0/1 via 198.18.0.1 as rt_msghdr + 3 sockaddrs", () => {
  const expected = hex(
    "8c 00", // @0 rtm_msglen 140 = 92 + 3 × 16
    "05", // @2 rtm_version RTM_VERSION
    "01", // @3 rtm_type RTM_ADD
    "00 00", // @4 rtm_index 0 (not interface-scoped)
    "00 00", // @6 padding before the int fields
    "03 08 00 00", // @8 rtm_flags RTF_UP|RTF_GATEWAY|RTF_STATIC (0x803)
    "07 00 00 00", // @12 rtm_addrs RTA_DST|RTA_GATEWAY|RTA_NETMASK
    "00 00 00 00", // @16 rtm_pid (the kernel fills it in)
    "01 00 00 00", // @20 rtm_seq 1
    "00 00 00 00", // @24 rtm_errno
    "00 00 00 00", // @28 rtm_use
    "00 00 00 00", // @32 rtm_inits
    zeros(56), // @36 rtm_rmx (14 × u_int32_t)
    "10 02 00 00 00 00 00 00", // @92 RTA_DST: sockaddr_in 0.0.0.0
    zeros(8),
    "10 02 00 00 c6 12 00 01", // @108 RTA_GATEWAY: 198.18.0.1 (the TUN address)
    zeros(8),
    "10 02 00 00 80 00 00 00", // @124 RTA_NETMASK: 128.0.0.0
    zeros(8),
  );
  assertBytes(routeMessage(RTM.ADD, prefix("0.0.0.0/1"), ip("198.18.0.1"), 1), expected);
});

Deno.test("`routeMessage()` encodes RTM_DELETE 8000::/1 with 28-byte sockaddr_in6s", () => {
  const sin6 = (addr: string) => "1c 1e 00 00 00 00 00 00" + addr + "00 00 00 00";
  const expected = hex(
    "b0 00", // @0 rtm_msglen 176 = 92 + 3 × 28
    "05 02", // @2 RTM_VERSION, RTM_DELETE
    "00 00 00 00", // @4 rtm_index, padding
    "02 08 00 00", // @8 rtm_flags RTF_GATEWAY|RTF_STATIC (0x802)
    "07 00 00 00", // @12 rtm_addrs DST|GATEWAY|NETMASK
    "00 00 00 00", // @16 rtm_pid
    "07 00 00 00", // @20 rtm_seq 7
    zeros(12), // @24 rtm_errno, rtm_use, rtm_inits
    zeros(56), // @36 rtm_rmx
    sin6("80 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"), // @92 DST 8000::
    sin6("fd fe dc ba 98 76 00 00 00 00 00 00 00 00 00 01"), // @120 GATEWAY fdfe:dcba:9876::1
    sin6("80 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"), // @148 NETMASK /1
  );
  assertBytes(
    routeMessage(RTM.DELETE, prefix("8000::/1"), ip("fdfe:dcba:9876::1"), 7),
    expected,
  );
});

Deno.test("`encodeRouteMessage()` pads odd and empty sockaddrs to 4 bytes in RTA order", () => {
  const msg = encodeRouteMessage({
    type: RTM.GET,
    flags: RTF.UP,
    seq: 3,
    index: 6,
    // Given out of order on purpose: the encoder must emit DST, GATEWAY, NETMASK, GENMASK.
    addrs: {
      genmask: new Uint8Array(0), // sa_len 0 → 4 zero bytes
      netmask: hex("05 ff ff ff ff"), // trimmed /8 mask, sa_len 5 → 8 bytes
      gateway: encodeSockaddrDl(6, "", 6), // 20-byte sockaddr_dl
      dst: encodeSockaddrInet(ip("10.0.0.0")),
    },
  });
  const expected = hex(
    "8c 00 05 04", // @0 msglen 140 = 92 + 16 + 20 + 8 + 4, version 5, RTM_GET
    "06 00 00 00", // @4 rtm_index 6, padding
    "01 00 00 00", // @8 rtm_flags RTF_UP
    "0f 00 00 00", // @12 rtm_addrs DST|GATEWAY|NETMASK|GENMASK
    "00 00 00 00 03 00 00 00", // @16 pid 0, seq 3
    zeros(12 + 56), // @24 errno, use, inits, rmx
    "10 02 00 00 0a 00 00 00", // @92 DST 10.0.0.0
    zeros(8),
    "14 12 06 00 06 00 00 00", // @108 GATEWAY sockaddr_dl: len 20, AF_LINK, index 6, IFT_ETHER
    zeros(12), //                  sdl_data[12]
    "05 ff ff ff ff 00 00 00", // @128 NETMASK (5 bytes + 3 padding)
    "00 00 00 00", // @136 GENMASK (empty, 4 bytes)
  );
  assertBytes(msg, expected);
  const decoded = decodeRouteMessage(msg);
  assert.deepEqual(decoded.addrs, RTA.DST | RTA.GATEWAY | RTA.NETMASK | RTA.GENMASK);
  assert.deepEqual(decoded.sockaddrs[0], { kind: "inet", family: 4, addr: ip("10.0.0.0") });
  assert.deepEqual(decoded.sockaddrs[1], {
    kind: "link",
    index: 6,
    type: 6,
    name: "",
    lladdr: new Uint8Array(0),
  });
  assert.deepEqual(decoded.sockaddrs[2], {
    kind: "mask",
    family: 4,
    mask: ip("255.0.0.0"),
    bits: 8,
  });
  assert.deepEqual(decoded.sockaddrs[3], { kind: "mask", family: 4, mask: ip("0.0.0.0"), bits: 0 });
});

Deno.test("`decodeRouteMessage()` rejects a message longer than the buffer", () => {
  const msg = routeMessage(RTM.ADD, prefix("0.0.0.0/1"), ip("198.18.0.1"), 1);
  assert.throws(() => decodeRouteMessage(msg.subarray(0, msg.length - 1)), RangeError);
  assert.throws(() => decodeRouteMessage(msg.subarray(0, 40)), RangeError);
});

Deno.test("`walkRoutingMessages()` splits a routing-socket read into its messages", () => {
  const a = routeMessage(RTM.ADD, prefix("0.0.0.0/1"), ip("198.18.0.1"), 1);
  const ifinfo = hex("08 00 05 0e 00 00 00 00"); // a short non-route message, RTM_IFINFO
  const both = new Uint8Array([...a, ...ifinfo]);
  assert.deepEqual(walkRoutingMessages(both), [
    { offset: 0, msglen: 140, version: 5, type: RTM.ADD },
    { offset: 140, msglen: 8, version: 5, type: RTM.IFINFO },
  ]);
});

Deno.test("`prefixMask()` and `maskBits()` convert between prefix lengths and masks", () => {
  assert.deepEqual([...prefixMask(20, 4)], [255, 255, 240, 0]);
  assert.deepEqual(maskBits(prefixMask(126, 16)), 126);
  assert.deepEqual(maskBits(hex("ff 00 ff 00")), null);
  assert.deepEqual(maskBits(hex("f0 80 00 00")), null);
  assert.throws(() => prefixMask(33, 4), RangeError);
});
