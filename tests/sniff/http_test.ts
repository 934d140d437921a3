import assert from "node:assert/strict";
import fc from "fast-check";
import { sniffHttp } from "../../src/sniff/http.ts";

const enc = (s: string) => new TextEncoder().encode(s);

function hostOf(req: string): string {
  const r = sniffHttp(enc(req));
  assert.equal(r.status, "match", `${JSON.stringify(req)} → ${JSON.stringify(r)}`);
  assert.ok(r.status === "match" && r.protocol === "http");
  return r.domain;
}

Deno.test("`sniffHttp()` takes the domain from Host without the port", () => {
  const table: [string, string][] = [
    ["GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", "example.com"],
    ["GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n", "example.com"],
    ["GET / HTTP/1.1\r\nhost:   Example.COM  \r\nAccept: */*\r\n\r\n", "Example.COM"],
    ["GET / HTTP/1.1\r\nHOST: [2001:db8::1]:80\r\n\r\n", "2001:db8::1"],
    ["GET / HTTP/1.1\r\nHost: [2001:db8::1]\r\n\r\n", "2001:db8::1"],
    ["GET / HTTP/1.1\r\nHost: 10.0.0.1:80\r\n\r\n", "10.0.0.1"],
    ["POST /x?y=1 HTTP/1.0\r\nContent-Length: 3\r\nHost: a.b\r\n\r\nabc", "a.b"],
    ["GET / HTTP/1.1\r\nHost: first.example\r\nHost: second.example\r\n\r\n", "first.example"],
    ["GET / HTTP/1.1\nHost: lf.example\n\n", "lf.example"],
    ["GET / HTTP/1.1\r\nX-Long: a\r\n  folded\r\nHost: fold.example\r\n\r\n", "fold.example"],
  ];
  for (const [req, host] of table) assert.equal(hostOf(req), host, req);
});

Deno.test("`sniffHttp()` prefers an absolute-form target and a CONNECT authority over Host", () => {
  assert.equal(
    hostOf("GET http://abs.example:81/p HTTP/1.1\r\nHost: other\r\n\r\n"),
    "abs.example",
  );
  assert.equal(hostOf("GET http://user@abs.example/ HTTP/1.1\r\n\r\n"), "abs.example");
  assert.equal(hostOf("CONNECT tunnel.example:443 HTTP/1.1\r\nHost: x\r\n\r\n"), "tunnel.example");
});

Deno.test("`sniffHttp()` matches with an empty domain when there is no Host", () => {
  assert.equal(hostOf("GET / HTTP/1.0\r\n\r\n"), "");
  assert.equal(hostOf("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), "");
});

Deno.test("`sniffHttp()` answers need-more for every prefix of a request", () => {
  const req = enc("GET /index.html HTTP/1.1\r\nHost: www.example.org\r\nUser-Agent: t\r\n\r\n");
  for (let n = 0; n < req.length; n++) {
    assert.equal(sniffHttp(req.subarray(0, n)).status, "need-more", `prefix ${n}`);
  }
  assert.equal(hostOf(new TextDecoder().decode(req)), "www.example.org");
});

Deno.test("`sniffHttp()` rejects what Go's http.ReadRequest rejects", () => {
  const table = [
    "GET /\r\n\r\n",
    "GET / HTTP/1.1 extra\r\n\r\n",
    "G(T / HTTP/1.1\r\n\r\n",
    " GET / HTTP/1.1\r\n\r\n",
    "GET / HTTP/11\r\n\r\n",
    "GET / HTTPS/1.1\r\n\r\n",
    "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
    "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
    "GET / HTTP/1.1\r\n: empty-name\r\n\r\n",
    "GET / HTTP/1.1\r\n folded-first: x\r\n\r\n",
    "\x16\x03\x01\x02\x00",
    "SSH-2.0-OpenSSH_9.6\r\n",
  ];
  for (const req of table) {
    assert.equal(sniffHttp(enc(req)).status, "no-match", JSON.stringify(req));
  }
});

Deno.test("`sniffHttp()` rejects an unfinished request as soon as it cannot become valid", () => {
  assert.equal(sniffHttp(enc("GET")).status, "need-more");
  assert.equal(sniffHttp(enc("GET ")).status, "need-more");
  assert.equal(sniffHttp(enc("GE\x00")).status, "no-match");
  assert.equal(sniffHttp(enc("GET /\x01")).status, "no-match");
  assert.equal(sniffHttp(enc("GET / HTTP/1.1\r\nBad Name")).status, "no-match");
  assert.equal(sniffHttp(enc("GET / HTTP/1.1\r\nHost: x\r\n\r")).status, "need-more");
  assert.equal(sniffHttp(Uint8Array.from([0x16, 0x03, 0x01])).status, "no-match");
});

Deno.test("`sniffHttp()` never throws on random input", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (data) => {
      const r = sniffHttp(data);
      assert.ok(["match", "need-more", "no-match"].includes(r.status));
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), (s) => {
      const r = sniffHttp(enc("GET / HTTP/1.1\r\n" + s));
      assert.ok(["match", "need-more", "no-match"].includes(r.status));
    }),
    { numRuns: 2000 },
  );
});
