import assert from "node:assert/strict";
import { compilePredefined, parseRecord } from "../../../src/net/dns/predefined.ts";
import { parseMessage } from "../../../src/net/dns/wire.ts";
import { formatIp } from "../../../src/net/ip.ts";
import { decode, query } from "../../dns/_helpers.ts";

function action(answer: string[], rcode = "NOERROR", ns: string[] = [], extra: string[] = []) {
  return { action: "predefined" as const, rcode, answer, ns, extra };
}

Deno.test("`parseRecord()` reads zone-file records with optional TTL and class", () => {
  assert.deepEqual(parseRecord("localhost. IN A 127.0.0.1"), {
    name: "localhost",
    type: "A",
    class: "IN",
    ttl: 3600,
    data: "127.0.0.1",
  });
  assert.deepEqual(parseRecord("x.test 60 AAAA 2001:db8::0:1"), {
    name: "x.test",
    type: "AAAA",
    class: "IN",
    ttl: 60,
    data: "2001:db8::1",
  });
  assert.deepEqual(parseRecord('t.test. IN 5 TXT "a b" c').data, ["a b", "c"]);
  assert.deepEqual(parseRecord("m.test. MX 10 mail.test.").data, {
    preference: 10,
    exchange: "mail.test",
  });
  assert.deepEqual(parseRecord("_s._tcp.test. SRV 1 2 443 host.test.").data, {
    priority: 1,
    weight: 2,
    port: 443,
    target: "host.test",
  });
  assert.equal(parseRecord("c.test. CNAME target.test.").data, "target.test");
});

Deno.test("`parseRecord()` names what is wrong", () => {
  assert.throws(() => parseRecord("x.test A 300.1.1.1"), /invalid IPv4 address "300\.1\.1\.1"/);
  assert.throws(() => parseRecord("x.test BOGUS 1"), /unknown record type "BOGUS"/);
  assert.throws(() => parseRecord("x.test HTTPS 1 . alpn=h2"), /not supported in predefined/);
  assert.throws(() => parseRecord("x.test MX mail.test"), /MX record needs 2 value/);
  assert.throws(() => parseRecord("bad!name. A 1.2.3.4"), /owner name/);
});

Deno.test("`compilePredefined()` answers every record whatever the question type", () => {
  const p = compilePredefined(
    action(
      ["*.ex.test. 10 IN A 10.0.0.1", "*.ex.test. 10 IN AAAA fd00::1"],
      "NOERROR",
      ["ex.test. 60 IN NS ns.ex.test."],
      ["ns.ex.test. 60 IN A 10.0.0.53"],
    ),
    "dns.rules[0]",
  );
  assert.equal(p.rcode, 0);
  assert.deepEqual(p.addresses.map(formatIp), ["10.0.0.1", "fd00::1"]);
  const q = query("Deep.Ex.Test", "TXT", 321);
  const m = decode(p.respond(q, parseMessage(q)));
  assert.equal(m.id, 321);
  assert.equal(m.flag_aa, true);
  assert.deepEqual(m.answers.map((a: { name: string; type: string }) => `${a.name} ${a.type}`), [
    "Deep.Ex.Test A",
    "Deep.Ex.Test AAAA",
  ]);
  assert.equal(m.authorities[0].data, "ns.ex.test");
  assert.equal(m.additionals[0].name, "ns.ex.test");
  // A question outside the wildcard keeps the record's own owner.
  const other = query("other.test");
  assert.equal(decode(p.respond(other, parseMessage(other))).answers[0].name, "*.ex.test");
  assert.match(p.text, /^predefined\(NOERROR,\*\.ex\.test\. 10 IN A 10\.0\.0\.1,/);
});

Deno.test("`compilePredefined()` errors name the rule and the record", () => {
  assert.throws(
    () => compilePredefined(action(["ok.test A 1.2.3.4", "x.test A nope"]), "dns.rules[3]"),
    /^TypeError: dns\.rules\[3\]\.answer\[1\]: invalid IPv4 address "nope"/,
  );
});
