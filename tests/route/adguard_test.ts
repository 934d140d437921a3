import assert from "node:assert/strict";
import { AdGuardMatcher } from "../../src/route/adguard.ts";

function check(lines: string[], yes: string[], no: string[]): void {
  const m = new AdGuardMatcher(lines);
  for (const name of yes) assert.equal(m.match(name), true, `${lines} should match ${name}`);
  for (const name of no) assert.equal(m.match(name), false, `${lines} should not match ${name}`);
}

Deno.test("`AdGuardMatcher` `||x^` matches the domain and its subdomains", () => {
  check(["||ads.example^"], ["ads.example", "a.ads.example"], [
    "xads.example",
    "ads.example.net",
  ]);
});

Deno.test("`AdGuardMatcher` `|x^` matches the exact name only", () => {
  check(["|ads.example^"], ["ads.example"], ["a.ads.example", "notads.example"]);
});

Deno.test("`AdGuardMatcher` a pattern without anchors matches inside names", () => {
  check(["ads.example^"], ["ads.example", "myads.example", "a.ads.example"], [
    "ads.example.net",
  ]);
  check(["ads.example"], ["ads.example", "ads.example.net", "xads.example.net"], [
    "ads.exampl",
  ]);
});

Deno.test("`AdGuardMatcher` `*` matches any run of characters, dots included", () => {
  check(["||*tracker.example^"], ["tracker.example", "mytracker.example", "a.b.tracker.example"], [
    "tracker.example.net",
  ]);
  check(["||ad*s.example^"], ["ads.example", "adverts.example", "x.ad1s.example"], [
    "ads.example.org",
  ]);
  check(["||metrics.*^"], ["metrics.example", "metrics.co.uk", "a.metrics.net"], [
    "nometrics.example",
    "metricsexample",
  ]);
  check(["||ad*example^"], ["ad.example", "ad.x.example", "ad1example"], ["ad.example.net"]);
});

Deno.test("`AdGuardMatcher.dump()` gives the filter lines back", () => {
  const lines = ["||a.example^", "|b.example^", "c.example^", "||d.example", "|e.example", "f"];
  assert.deepEqual(new AdGuardMatcher(lines).dump(), [...lines].sort());
});

Deno.test("`AdGuardMatcher` stops on deeply recursive wildcards in bounded time", () => {
  // Splitting 40 a's among 20 wildcards has about 10^11 ways; the step budget stops it.
  const m = new AdGuardMatcher(["||x" + "*a".repeat(20) + "^"]);
  assert.equal(m.match("x" + "a".repeat(25)), true);
  const t0 = performance.now();
  assert.equal(m.match("y" + "a".repeat(40)), false);
  assert.ok(performance.now() - t0 < 5_000);
});
