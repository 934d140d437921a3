import assert from "node:assert/strict";
import { nginxConfig, parseWrk, wrkArgv, wrkDurationUs } from "../../bench/e2e/wrk.ts";

const WRK_OUT = `Running 3s test @ http://203.0.113.10:8080/
  2 threads and 1000 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    96.31ms  212.40ms   1.98s    93.61%
    Req/Sec     2.10k   451.13     3.02k    70.00%
  Latency Distribution
     50%   96.31ms
     75%  120.00ms
     90%  310.50us
     99%    1.52s
  12522 requests in 3.00s, 1.83MB read
  Socket errors: connect 0, read 3, write 0, timeout 17
  Non-2xx or 3xx responses: 2
Requests/sec:   4174.12
Transfer/sec:    624.32KB
`;

Deno.test("`parseWrk()` reads requests, req/s, percentiles in their units and errors", () => {
  const w = parseWrk(WRK_OUT);
  assert.equal(w.requests, 12522);
  assert.equal(w.seconds, 3);
  assert.equal(w.perSecond, 4174.12);
  assert.equal(w.p50Us, 96310);
  assert.equal(w.p90Us, 310.5);
  assert.equal(w.p99Us, 1_520_000);
  assert.deepEqual(w.errors, { connect: 0, read: 3, write: 0, timeout: 17, non2xx: 2 });
});

Deno.test("`parseWrk()` rejects output without a summary or without --latency", () => {
  assert.throws(() => parseWrk("unable to connect to 203.0.113.10:8080"), /no summary/);
  assert.throws(
    () => parseWrk(WRK_OUT.replace(/ {5}99%.*\n/, "")),
    /no 99% latency/,
  );
});

Deno.test("`wrkDurationUs()` rejects a value without a unit", () => {
  assert.equal(wrkDurationUs("2m"), 120e6);
  assert.throws(() => wrkDurationUs("12"), /not a wrk duration: "12"/);
});

Deno.test("`wrkArgv()` sends Connection: close only in close mode", () => {
  const ka = wrkArgv("keepalive", 1000, 3);
  assert.deepEqual(ka.slice(0, 7), ["wrk", "--latency", "-t", "2", "-c", "1000", "-d"]);
  assert.ok(!ka.includes("Connection: close"));
  const cl = wrkArgv("close", 100, 3);
  assert.deepEqual(cl.slice(-3), ["-H", "Connection: close", "http://203.0.113.10:8080/"]);
});

Deno.test("`nginxConfig()` keeps every file nginx writes under the run's directory", () => {
  const conf = nginxConfig("/tmp/tb-x", "203.0.113.10", 8080);
  for (const m of conf.matchAll(/(?:pid|error_log|_temp_path) (\S+)/g)) {
    assert.ok(m[1]!.startsWith("/tmp/tb-x/"), m[0]);
  }
  assert.match(conf, /listen 203\.0\.113\.10:8080 /);
  assert.match(conf, /access_log off;/);
});
