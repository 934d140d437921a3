import assert from "node:assert/strict";
import { Iperf3Error, parseIperf3Json } from "../../bench/e2e/iperf3.ts";

const fixture = (name: string) =>
  Deno.readTextFileSync(new URL(`./fixtures/${name}`, import.meta.url));

Deno.test("`parseIperf3Json()` reads the receiver's rate and bytes from a recorded -R -P 2 run", () => {
  const r = parseIperf3Json(fixture("iperf3_reverse_p2.json"));
  assert.equal(r.bytes, 4815323136);
  assert.ok(Math.abs(r.gbps - 19.261090302551826) < 1e-9);
  assert.ok(Math.abs(r.senderGbps - 19.2811515578018) < 1e-9);
  assert.equal(r.seconds, 2.000021);
  assert.equal(r.streams, 2);
  assert.equal(r.reverse, true);
  assert.equal(r.retransmits, 3);
});

Deno.test("`parseIperf3Json()` returns one summed rate per interval", () => {
  const r = parseIperf3Json(fixture("iperf3_reverse_p2.json"));
  assert.equal(r.intervalsGbps.length, 2);
  for (const g of r.intervalsGbps) assert.ok(g > 1 && g < 100, `interval rate ${g}`);
});

Deno.test("`parseIperf3Json()` throws Iperf3Error with iperf3's message for a refused connection", () => {
  assert.throws(
    () => parseIperf3Json(fixture("iperf3_refused.json")),
    (e: unknown) => e instanceof Iperf3Error && /Connection refused/.test(e.message),
  );
});

Deno.test("`parseIperf3Json()` rejects empty output and JSON without results", () => {
  assert.throws(() => parseIperf3Json(""), SyntaxError);
  assert.throws(() => parseIperf3Json("{}"), /start is not an object/);
  assert.throws(
    () =>
      parseIperf3Json(JSON.stringify({
        start: { test_start: { num_streams: 1 } },
        end: { sum_sent: { bits_per_second: 1 }, sum_received: { bits_per_second: "x" } },
      })),
    /sum_received.bits_per_second is not a number/,
  );
});
