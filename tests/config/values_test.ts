import assert from "node:assert/strict";
import {
  Invalid,
  looksLikePlaceholder,
  parseAddress,
  parseDuration,
  parsePortRange,
  parsePrefixText,
  parseUintAuto,
  splitHostPort,
} from "../../src/config/values.ts";
import { closest, editDistance } from "../../src/config/suggest.ts";
import { formatPrefix } from "../../src/net/ip.ts";

Deno.test("parseDuration() reads Go durations in milliseconds", () => {
  assert.equal(parseDuration("5m"), 300_000);
  assert.equal(parseDuration("10s"), 10_000);
  assert.equal(parseDuration("1h30m"), 5_400_000);
  assert.equal(parseDuration("300ms"), 300);
  assert.equal(parseDuration("1.5s"), 1500);
  assert.equal(parseDuration("1d"), 86_400_000);
  assert.equal(parseDuration("500us"), 0.5);
  assert.equal(parseDuration("0"), 0);
});

Deno.test("parseDuration() rejects numbers without units and other text", () => {
  assert.ok(parseDuration("5") instanceof Invalid);
  assert.equal(
    (parseDuration("5") as Invalid).reason,
    'missing unit (write "5s", "5ms", "5m", ...)',
  );
  assert.ok(parseDuration("five minutes") instanceof Invalid);
  assert.ok(parseDuration("") instanceof Invalid);
  assert.ok(parseDuration("5m3") instanceof Invalid);
});

Deno.test("parseUintAuto() reads decimal, hex, octal and binary like strconv.ParseUint(s, 0, 32)", () => {
  assert.equal(parseUintAuto("0x2023", 0xffffffff), 0x2023);
  assert.equal(parseUintAuto("8227", 0xffffffff), 8227);
  assert.equal(parseUintAuto("0o17", 0xffffffff), 15);
  assert.equal(parseUintAuto("017", 0xffffffff), 15);
  assert.equal(parseUintAuto("0b101", 0xffffffff), 5);
  assert.ok(parseUintAuto("0x1ffffffff", 0xffffffff) instanceof Invalid);
  assert.ok(parseUintAuto("-1", 0xffffffff) instanceof Invalid);
});

Deno.test("parsePortRange() reads start:end, :end and start:", () => {
  assert.deepEqual(parsePortRange("1000:2000"), { start: 1000, end: 2000 });
  assert.deepEqual(parsePortRange(":3000"), { start: 0, end: 3000 });
  assert.deepEqual(parsePortRange("4000:"), { start: 4000, end: 65535 });
  assert.deepEqual(parsePortRange("53"), { start: 53, end: 53 });
  assert.equal((parsePortRange("70000:") as Invalid).reason, "70000 is larger than 65535");
  assert.ok(parsePortRange(":") instanceof Invalid);
  assert.ok(parsePortRange("a:b") instanceof Invalid);
});

Deno.test("parsePrefixText() accepts bare addresses only where allowed", () => {
  assert.equal(formatPrefix(parsePrefixText("1.2.3.4", true) as never), "1.2.3.4/32");
  assert.equal(formatPrefix(parsePrefixText("2001:db8::1", true) as never), "2001:db8::1/128");
  assert.ok(parsePrefixText("1.2.3.4", false) instanceof Invalid);
  assert.equal(formatPrefix(parsePrefixText("fc00::/7", false) as never), "fc00::/7");
  assert.equal(
    (parsePrefixText("10.0.0.0/08", false) as Invalid).reason,
    'prefix length "08" has a leading zero',
  );
  assert.equal(
    (parsePrefixText("fe80::1%eth0/64", false) as Invalid).reason,
    "zones (%) are not allowed here",
  );
});

Deno.test("looksLikePlaceholder() spots redacted addresses and nothing real", () => {
  for (
    const p of [
      "3.xxx.xx.82/32",
      "x.x.x.x",
      "1.2.3.*",
      "2001:db8::xxxx",
      "<server-ip>",
      "YOUR_SERVER_IP",
    ]
  ) {
    assert.ok(looksLikePlaceholder(p), p);
  }
  for (const p of ["3.1.2.82/32", "10.0.0.0/8", "fc00::/7", "example.com", "dns.google"]) {
    assert.ok(!looksLikePlaceholder(p), p);
  }
});

Deno.test("splitHostPort() splits IPv4, bracketed IPv6 and bare hosts", () => {
  assert.deepEqual(splitHostPort("1.1.1.1:53"), { host: "1.1.1.1", port: 53 });
  assert.deepEqual(splitHostPort("[2001:db8::1]:853"), { host: "2001:db8::1", port: 853 });
  assert.deepEqual(splitHostPort("2001:db8::1"), { host: "2001:db8::1" });
  assert.deepEqual(splitHostPort("dns.google"), { host: "dns.google" });
  assert.ok(splitHostPort("1.1.1.1:99999") instanceof Invalid);
});

Deno.test("editDistance() and closest() find plausible typos only", () => {
  assert.equal(editDistance("strict_rout", "strict_route"), 1);
  assert.equal(editDistance("sytem", "system"), 1);
  assert.equal(editDistance("abcd", "abdc"), 1);
  assert.equal(closest("strict_rout", ["auto_route", "strict_route", "stack"]), "strict_route");
  assert.equal(closest("Outbounds", ["outbounds"]), "outbounds");
  assert.equal(closest("server", ["tag", "type", "detour"]), undefined);
});

Deno.test('parseAddress() and parsePrefixText() say "" is refused as sing-box refuses it', () => {
  const empty = 'empty (sing-box refuses "" too; leave the key out for the default)';
  assert.equal((parseAddress("") as Invalid).reason, empty);
  assert.equal((parsePrefixText("", true) as Invalid).reason, empty);
  assert.equal((parsePrefixText("", false) as Invalid).reason, empty);
  assert.equal((parseDuration("") as Invalid).reason, empty);
});
