import assert from "node:assert/strict";
import { decodeConfigText } from "../../src/config/decode.ts";
import { verdict } from "../../src/config/support.ts";
import type { HttpOutboundOptions } from "../../src/config/types.ts";
import { makePki } from "../_helpers/tls_certs.ts";
import { at } from "./_helpers.ts";

/** A config with one http outbound whose `tls` block is `tls` (JSON text). */
function httpWithTls(tls: string): string {
  return `{
  "outbounds": [
    {
      "type": "http",
      "tag": "web",
      "server": "proxy.test",
      "server_port": 443,
      "tls": ${tls}
    }
  ]
}`;
}

function messages(text: string): { errors: string[]; warnings: string[] } {
  const r = decodeConfigText(text, "t.json", { os: "linux" });
  return {
    errors: r.errors.map((e) => e.format()),
    warnings: r.warnings.map((w) => w.format()),
  };
}

Deno.test("outbound tls decodes every supported field, pins as 32-byte digests", async () => {
  const pki = await makePki();
  try {
    const pin = btoa(String.fromCharCode(...new Uint8Array(32).fill(9)));
    const text = httpWithTls(`{
        "enabled": true, "server_name": "p.test", "disable_sni": true, "insecure": false,
        "alpn": ["h2", "http/1.1"], "min_version": "1.2", "max_version": "1.3",
        "certificate_public_key_sha256": ["${pin}"],
        "client_certificate_path": "${pki.caPath}", "client_key": ["-----BEGIN PRIVATE KEY-----", "x"]
      }`);
    const r = decodeConfigText(text, "t.json", { os: "linux" });
    assert.deepEqual(r.errors.map((e) => e.format()), []);
    const tls = (r.options!.outbounds[0] as HttpOutboundOptions).tls!;
    assert.deepEqual(tls, {
      enabled: true,
      server_name: "p.test",
      disable_sni: true,
      insecure: false,
      alpn: ["h2", "http/1.1"],
      min_version: "1.2",
      max_version: "1.3",
      certificate_public_key_sha256: [new Uint8Array(32).fill(9)],
      client_certificate_path: pki.caPath,
      client_key: ["-----BEGIN PRIVATE KEY-----", "x"],
    });
  } finally {
    await pki.remove();
  }
});

Deno.test("outbound tls reports bad values at their line", () => {
  const text = httpWithTls(`{
        "enabled": true,
        "max_version": "1.1",
        "certificate_public_key_sha256": "c2hvcnQ=",
        "certificate_path": "/nonexistent/ca.pem",
        "client_key_path": "/nonexistent/key.pem"
      }`);
  assert.deepEqual(messages(text).errors, [
    `t.json:${at(text, '"1.1"')}: outbounds[0].tls.max_version: max_version 1.1 leaves no ` +
    "version tunbox can use: its TLS (rustls) speaks 1.2 and 1.3",
    `t.json:${at(text, '"c2hvcnQ="')}: outbounds[0].tls.certificate_public_key_sha256: ` +
    '"c2hvcnQ=" is not a base64 SHA-256 digest (32 bytes)',
    `t.json:${at(text, '"/nonexistent/ca.pem"')}: outbounds[0].tls.certificate_path: cannot ` +
    'read certificate "/nonexistent/ca.pem": no such file',
    `t.json:${at(text, '"/nonexistent/key.pem"')}: outbounds[0].tls.client_key_path: cannot ` +
    'read private key "/nonexistent/key.pem": no such file',
    `t.json:${at(text, '"/nonexistent/key.pem"')}: outbounds[0].tls.client_key_path: client ` +
    "certificate and client key must be provided together",
  ]);
});

Deno.test("outbound tls: a pin conflicts with certificates; a file without a certificate is refused", async () => {
  const pki = await makePki();
  try {
    const leaf = await pki.issue("x", ["x.test"]);
    const pin = btoa(String.fromCharCode(...new Uint8Array(32)));
    const text = httpWithTls(`{
        "enabled": true,
        "certificate_path": "${leaf.keyPath}",
        "certificate_public_key_sha256": ["${pin}"]
      }`);
    assert.deepEqual(messages(text).errors, [
      `t.json:${at(text, `"${leaf.keyPath}"`)}: outbounds[0].tls.certificate_path: ` +
      `"${leaf.keyPath}" holds no PEM certificate`,
      `t.json:${at(text, `["${pin}"]`)}: outbounds[0].tls.certificate_public_key_sha256: ` +
      "certificate_public_key_sha256 conflicts with certificate and certificate_path (a pin " +
      "replaces the certificate check)",
    ]);
  } finally {
    await pki.remove();
  }
});

Deno.test("outbound tls: utls and kernel_tx warn with what tunbox does; reality and ech are errors", () => {
  const text = httpWithTls(`{
        "enabled": true,
        "utls": { "enabled": true, "fingerprint": "chrome" },
        "kernel_tx": true,
        "min_version": "1.0",
        "reality": { "enabled": true },
        "ech": { "enabled": true }
      }`);
  const m = messages(text);
  assert.deepEqual(m.warnings, [
    `t.json:${at(text, '"utls"')}: outbounds[0].tls.utls: ${verdict("tls.utls").message}`,
    `t.json:${at(text, '"kernel_tx"')}: outbounds[0].tls.kernel_tx: ${
      verdict("tls.kernel_tx").message
    }`,
    `t.json:${at(text, '"1.0"')}: outbounds[0].tls.min_version: TLS 1.0 and 1.1 are not ` +
    "available in tunbox (rustls speaks 1.2 and 1.3); servers that only speak older versions fail",
  ]);
  assert.deepEqual(m.errors, [
    `t.json:${at(text, '"reality"')}: outbounds[0].tls.reality: ${verdict("tls.reality").message}`,
    `t.json:${at(text, '"ech"')}: outbounds[0].tls.ech: ${verdict("tls.ech").message}`,
  ]);
  assert.match(verdict("tls.utls").message, /rustls's ClientHello/);
});

Deno.test("outbound tls: fragment, record_fragment and fragment_fallback_delay warn (TLS is sent unfragmented), as the route options do", () => {
  const text = httpWithTls(`{
        "enabled": true,
        "server_name": "p.test",
        "fragment": true,
        "record_fragment": true,
        "fragment_fallback_delay": "500ms"
      }`);
  const m = messages(text);
  assert.deepEqual(m.errors, []);
  assert.deepEqual(m.warnings, [
    `t.json:${at(text, '"fragment"')}: outbounds[0].tls.fragment: "fragment" in tls is not ` +
    "implemented in tunbox yet; TLS is sent unfragmented",
    `t.json:${at(text, '"record_fragment"')}: outbounds[0].tls.record_fragment: ` +
    '"record_fragment" in tls is not implemented in tunbox yet; TLS is sent unfragmented',
    `t.json:${at(text, '"fragment_fallback_delay"')}: outbounds[0].tls.fragment_fallback_delay: ` +
    '"fragment_fallback_delay" in tls is not implemented in tunbox yet; TLS is sent unfragmented',
  ]);
  assert.equal(verdict("tls.fragment").level, "warning");
  assert.equal(verdict("action.route_options.tls_fragment").level, "warning");
});

Deno.test("outbound tls: utls, reality and ech that are not enabled are off, as in sing-box", () => {
  const text = httpWithTls(`{
        "enabled": true,
        "utls": { "enabled": false, "fingerprint": "" },
        "reality": { "enabled": false, "public_key": "" },
        "ech": { "config": [] }
      }`);
  assert.deepEqual(messages(text), { errors: [], warnings: [] });
});

Deno.test("inbound tls: certificate and key required when enabled; acme refused; reported at their line", () => {
  const text = `{
  "inbounds": [
    {
      "type": "http",
      "tag": "in",
      "listen": "127.0.0.1",
      "listen_port": 8443,
      "tls": { "enabled": true, "certificate_path": "/nonexistent/cert.pem", "acme": { "domain": ["x"] } }
    },
    { "type": "mixed", "tag": "m", "listen_port": 8444, "tls": { "enabled": false, "server_name": "x" } }
  ]
}`;
  const m = messages(text);
  assert.deepEqual(m.errors, [
    `t.json:${
      at(text, '{ "enabled": true')
    }: inbounds[0].tls: missing "key" or "key_path" for a TLS server`,
    `t.json:${
      at(text, '"/nonexistent/cert.pem"')
    }: inbounds[0].tls.certificate_path: cannot read ` +
    'certificate "/nonexistent/cert.pem": no such file',
    `t.json:${at(text, '"acme"')}: inbounds[0].tls.acme: ${verdict("inbound_tls.acme").message}`,
  ]);
  assert.deepEqual(m.warnings, [
    `t.json:${at(text, '"server_name"')}: inbounds[1].tls.server_name: ${
      verdict("inbound_tls.server_name").message
    }`,
  ]);
});
