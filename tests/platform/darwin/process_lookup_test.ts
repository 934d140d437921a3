// macOS process lookup against the recording fake libc: pcblist_n lists built byte by byte
// (tests/ffi/darwin/_pcblist.ts), the exact sysctlbyname/proc_pidpath calls, and the Platform.

import assert from "node:assert/strict";
import { DARWIN_ERRNO } from "../../../ffi/darwin/constants.ts";
import { parsePcbList } from "../../../ffi/darwin/pcblist.ts";
import { SysError } from "../../../ffi/errno.ts";
import { parseIp } from "../../../src/net/ip.ts";
import { DarwinProcessFinder, pickPcbSocket } from "../../../src/platform/darwin/process_lookup.ts";
import { type FakePcb, pcbList } from "../../ffi/darwin/_pcblist.ts";
import { FakeDarwinLibc } from "./_fake_libc.ts";
import { testPlatform } from "./_platform.ts";

const ip = (text: string) => parseIp(text)!;

const TCP: FakePcb[] = [
  { lport: 52044, laddr: ip("10.0.0.9"), pid: 11, uid: 1 }, // same port, other address
  { lport: 52044, laddr: ip("192.168.1.20"), pid: 812, uid: 501 },
  { lport: 52045, laddr: ip("fd00::5"), pid: 813, uid: 502 },
  { lport: 52046, laddr: ip("::ffff:192.168.1.20"), pid: 814, uid: 503 }, // v4-mapped, IPv6 only
];
const UDP: FakePcb[] = [
  { lport: 5353, laddr: ip("::"), dualStack: true, pid: 90, uid: 65 },
  { lport: 5353, laddr: ip("192.168.1.20"), pid: 91, uid: 66 },
  { lport: 6000, laddr: ip("::"), pid: 92, uid: 67 }, // IPv6-only wildcard
];

Deno.test("pickPcbSocket() takes the exact local address over another on the same port", () => {
  const s = pickPcbSocket(parsePcbList(pcbList(TCP, true)), ip("192.168.1.20"), 52044);
  assert.equal(s?.pid, 812);
  assert.equal(pickPcbSocket(parsePcbList(pcbList(TCP, true)), ip("10.0.0.9"), 52044)?.pid, 11);
});

Deno.test("pickPcbSocket() finds nothing for a port no socket has, or the other family", () => {
  const sockets = parsePcbList(pcbList(TCP, true));
  assert.equal(pickPcbSocket(sockets, ip("192.168.1.20"), 52099), null);
  // fd00::5 is an IPv6 socket: an IPv4 flow on its port does not match it.
  assert.equal(pickPcbSocket(sockets, ip("192.168.1.20"), 52045), null);
  // And an IPv4 socket does not answer for an IPv6 flow.
  assert.equal(pickPcbSocket(sockets, ip("fd00::1"), 52044), null);
  assert.equal(pickPcbSocket(sockets, ip("fd00::5"), 52045)?.pid, 813);
});

Deno.test("pickPcbSocket() matches an IPv4 flow to an IPv6 socket bound to its v4-mapped address", () => {
  const sockets = parsePcbList(pcbList(TCP, true));
  assert.equal(pickPcbSocket(sockets, ip("192.168.1.20"), 52046)?.pid, 814);
});

Deno.test("pickPcbSocket() prefers the exact UDP socket, else the wildcard one of the flow's family", () => {
  const sockets = parsePcbList(pcbList(UDP, false));
  assert.equal(pickPcbSocket(sockets, ip("192.168.1.20"), 5353)?.pid, 91);
  // A dual-stack socket bound to :: carries IPv4 (INP_IPV4 with a zero address) and IPv6.
  assert.equal(pickPcbSocket(sockets, ip("10.1.1.1"), 5353)?.pid, 90);
  assert.equal(pickPcbSocket(sockets, ip("fd00::7"), 5353)?.pid, 90);
  // An IPv6-only wildcard never answers for IPv4.
  assert.equal(pickPcbSocket(sockets, ip("10.1.1.1"), 6000), null);
  assert.equal(pickPcbSocket(sockets, ip("fd00::7"), 6000)?.pid, 92);
});

function fakeWithLists(): FakeDarwinLibc {
  const fake = new FakeDarwinLibc();
  fake.sysctlNames.set("net.inet.tcp.pcblist_n", pcbList(TCP, true));
  fake.sysctlNames.set("net.inet.udp.pcblist_n", pcbList(UDP, false));
  fake.processPaths.set(812, "/Applications/Safari.app/Contents/MacOS/Safari");
  fake.processPaths.set(91, "/usr/sbin/mDNSResponder");
  return fake;
}

Deno.test("DarwinProcessFinder.find() asks for the list's size, reads it, then proc_pidpath", () => {
  const fake = fakeWithLists();
  const finder = new DarwinProcessFinder(fake);
  assert.deepEqual(finder.find("tcp", { addr: ip("192.168.1.20"), port: 52044 }), {
    pid: 812,
    uid: 501,
    path: "/Applications/Safari.app/Contents/MacOS/Safari",
  });
  const size = 24 + 4 * 616 + 24;
  assert.deepEqual(fake.calls, [
    `sysctlbyname("net.inet.tcp.pcblist_n", size) = 0 (${size} bytes)`,
    `sysctlbyname("net.inet.tcp.pcblist_n", 65536 bytes) = 0 (${size} bytes)`,
    "proc_pidpath(812, 4096) = 46",
  ]);
  fake.calls.length = 0;
  assert.deepEqual(finder.find("udp", { addr: ip("192.168.1.20"), port: 5353 }), {
    pid: 91,
    uid: 66,
    path: "/usr/sbin/mDNSResponder",
  });
  assert.deepEqual(fake.calls.map((c) => c.split(" = ")[0]), [
    'sysctlbyname("net.inet.udp.pcblist_n", size)',
    'sysctlbyname("net.inet.udp.pcblist_n", 65536 bytes)',
    "proc_pidpath(91, 4096)",
  ]);
});

Deno.test("DarwinProcessFinder.find() is null for an unknown port, without asking for a path", () => {
  const fake = fakeWithLists();
  assert.equal(
    new DarwinProcessFinder(fake).find("tcp", { addr: ip("192.168.1.20"), port: 1 }),
    null,
  );
  assert.ok(!fake.calls.some((c) => c.startsWith("proc_pidpath")));
});

Deno.test("DarwinProcessFinder.find() keeps pid and uid when the process has gone (empty path)", () => {
  const fake = fakeWithLists();
  assert.deepEqual(
    new DarwinProcessFinder(fake).find("tcp", { addr: ip("fd00::5"), port: 52045 }),
    { pid: 813, uid: 502, path: "" },
  );
  assert.equal(fake.calls.at(-1), "proc_pidpath(813, 4096) = 0 ESRCH");
});

Deno.test("DarwinProcessFinder grows its buffer for a list larger than 64 KiB", () => {
  const fake = new FakeDarwinLibc();
  const many: FakePcb[] = Array.from(
    { length: 200 },
    (_, i) => ({ lport: 20000 + i, laddr: ip("192.168.1.20"), pid: 1000 + i, uid: 501 }),
  );
  fake.sysctlNames.set("net.inet.tcp.pcblist_n", pcbList(many, true));
  const found = new DarwinProcessFinder(fake).find("tcp", {
    addr: ip("192.168.1.20"),
    port: 20199,
  });
  assert.equal(found?.pid, 1199);
  const size = 24 + 200 * 616 + 24;
  assert.equal(
    fake.calls[1],
    `sysctlbyname("net.inet.tcp.pcblist_n", ${size} bytes) = 0 (${size} bytes)`,
  );
});

Deno.test("DarwinProcessFinder asks again when sockets appear between the two calls (ENOMEM)", () => {
  const fake = fakeWithLists();
  fake.listGrowsOnce = true;
  const found = new DarwinProcessFinder(fake).find("tcp", {
    addr: ip("192.168.1.20"),
    port: 52044,
  });
  assert.equal(found?.pid, 812);
  assert.deepEqual(fake.calls.map((c) => c.split(" (")[0]), [
    'sysctlbyname("net.inet.tcp.pcblist_n", size) = 0',
    'sysctlbyname("net.inet.tcp.pcblist_n", 65536 bytes) = -1 ENOMEM',
    'sysctlbyname("net.inet.tcp.pcblist_n", size) = 0',
    'sysctlbyname("net.inet.tcp.pcblist_n", 65536 bytes) = 0',
    "proc_pidpath(812, 4096) = 46",
  ]);
});

Deno.test("DarwinProcessFinder throws a SysError naming the sysctl when the list cannot be read", () => {
  const fake = fakeWithLists().failOn('sysctlbyname("net.inet.udp', DARWIN_ERRNO.EPERM);
  assert.throws(
    () => new DarwinProcessFinder(fake).find("udp", { addr: ip("10.1.1.1"), port: 5353 }),
    (e: unknown) =>
      e instanceof SysError && e.message.startsWith(
        "list udp sockets (sysctl net.inet.udp.pcblist_n) failed: EPERM",
      ),
  );
});

Deno.test("the macOS Platform's findProcess() looks flows up through the fake libc", () => {
  const fake = fakeWithLists();
  const { platform } = testPlatform(fake);
  assert.ok(platform.findProcess);
  assert.deepEqual(platform.findProcess("tcp", { addr: ip("192.168.1.20"), port: 52044 }), {
    pid: 812,
    uid: 501,
    path: "/Applications/Safari.app/Contents/MacOS/Safari",
  });
  assert.equal(platform.findProcess("udp", { addr: ip("10.1.1.1"), port: 5353 })?.pid, 90);
  assert.equal(platform.findProcess("tcp", { addr: ip("10.1.1.1"), port: 4 }), null);
});

Deno.test("the macOS Platform's userId() asks getpwnam (directory users included)", () => {
  const fake = new FakeDarwinLibc();
  const { platform } = testPlatform(fake);
  assert.equal(platform.userId?.("alice"), 501);
  assert.equal(platform.userId?.("mallory"), null);
  assert.deepEqual(fake.calls, [
    'getpwnam("alice") = passwd{uid 501}',
    'getpwnam("mallory") = NULL',
  ]);
});
