// From decoded `tls` options and the `certificate` section to working TLS clients, against
// `openssl s_server`.

import assert from "node:assert/strict";
import type { CertificateOptions } from "../../src/config/types.ts";
import type { Reactor } from "../../src/io/reactor.ts";
import { connectTcp } from "../../src/io/socket.ts";
import { readSome } from "../../src/io/stream.ts";
import { type TlsClientConfig, tlsConnect } from "../../src/tls/client.ts";
import { tlsClientConfig } from "../../src/tls/options.ts";
import { pemCertificates, trustStore } from "../../src/tls/trust.ts";
import { makePki } from "../_helpers/tls_certs.ts";
import { LOOPBACK, withReactor } from "../outbound/_helpers.ts";
import { startSServer } from "./_s_server.ts";

function section(extra: Partial<CertificateOptions>): CertificateOptions {
  return {
    store: "system",
    certificate: [],
    certificate_path: [],
    certificate_directory_path: [],
    ...extra,
  };
}

async function handshake(r: Reactor, port: number, config: TlsClientConfig): Promise<string> {
  const sock = await connectTcp(r, { addr: LOOPBACK, port });
  try {
    const t = await tlsConnect(sock, config, { what: "t", timeoutMs: 5000 });
    t.close();
    return "ok";
  } catch (error) {
    return (error as Error).message;
  }
}

Deno.test("`tlsClientConfig()` uses the certificate section as the store, and tls.certificate instead of it", async () => {
  const pki = await makePki();
  try {
    const leaf = await pki.issue("server", ["dns.test"]);
    const dir = `${pki.dir}/anchors`;
    await Deno.mkdir(dir);
    await Deno.copyFile(pki.caPath, `${dir}/ours.crt`);
    await withReactor(async (r) => {
      const server = await startSServer(r, leaf);
      try {
        const cases: [string, TlsClientConfig, string][] = [
          [
            "store none + certificate_path",
            tlsClientConfig(
              {},
              "dns.test",
              section({ store: "none", certificate_path: [pki.caPath] }),
              "t",
            ),
            "ok",
          ],
          [
            "store none + directory",
            tlsClientConfig(
              {},
              "dns.test",
              section({ store: "none", certificate_directory_path: [dir] }),
              "t",
            ),
            "ok",
          ],
          [
            "store none",
            tlsClientConfig({}, "dns.test", section({ store: "none" }), "t"),
            "t: TLS handshake with dns.test failed: certificate signed by an unknown authority " +
            "(UNABLE_TO_VERIFY_LEAF_SIGNATURE)",
          ],
          [
            "system store",
            tlsClientConfig({}, "dns.test", undefined, "t"),
            "t: TLS handshake with dns.test failed: certificate signed by an unknown authority " +
            "(UNABLE_TO_VERIFY_LEAF_SIGNATURE)",
          ],
          [
            "tls.certificate replaces the store",
            tlsClientConfig(
              { certificate: pki.caPem.trim().split("\n") },
              "dns.test",
              section({ store: "none" }),
              "t",
            ),
            "ok",
          ],
          [
            "tls.certificate_path of another CA replaces a store that trusts the server",
            tlsClientConfig(
              { certificate_path: pki.otherCaPath },
              "dns.test",
              section({ store: "none", certificate_path: [pki.caPath] }),
              "t",
            ),
            "t: TLS handshake with dns.test failed: certificate signed by an unknown authority " +
            "(UNABLE_TO_VERIFY_LEAF_SIGNATURE)",
          ],
          [
            "server_name over the address",
            tlsClientConfig(
              { server_name: "dns.test" },
              "127.0.0.1",
              section({ store: "none", certificate_path: [pki.caPath] }),
              "t",
            ),
            "ok",
          ],
        ];
        for (const [name, config, expected] of cases) {
          assert.equal(await handshake(r, server.port, config), expected, name);
        }
      } finally {
        await server.stop();
      }
    });
  } finally {
    await pki.remove();
  }
});

Deno.test("`tlsClientConfig()` sends a client certificate to a server that requires one", async () => {
  const pki = await makePki();
  try {
    const leaf = await pki.issue("server", ["dns.test"]);
    const client = await pki.issue("client", ["client.test"]);
    await withReactor(async (r) => {
      const server = await startSServer(r, leaf, ["-Verify", "1", "-CAfile", pki.caPath]);
      try {
        const trust = section({ store: "none", certificate_path: [pki.caPath] });
        const withCert = tlsClientConfig(
          { client_certificate_path: client.certPath, client_key_path: client.keyPath },
          "dns.test",
          trust,
          "t",
        );
        assert.equal(await handshake(r, server.port, withCert), "ok");
        // Without one, s_server aborts after the handshake (TLS 1.3 checks the client's
        // certificate after the client finished): the first read fails.
        const sock = await connectTcp(r, { addr: LOOPBACK, port: server.port });
        const t = await tlsConnect(sock, tlsClientConfig({}, "dns.test", trust, "t"), {
          what: "t",
          timeoutMs: 5000,
        }).catch((e) => e as Error);
        const outcome = t instanceof Error ? t.message : await readSome(
          t,
          new Uint8Array(16),
          "read",
        ).then((n) => `read ${n}`, (e: Error) => e.message);
        if (!(t instanceof Error)) t.close();
        assert.match(outcome, /CertificateRequired|certificate required/i);
      } finally {
        await server.stop();
      }
      assert.match(server.output(), /client\.test/);
    });
  } finally {
    await pki.remove();
  }
});

Deno.test("`tlsClientConfig()` refuses what cannot work before connecting", () => {
  assert.throws(() => tlsClientConfig({}, "", undefined, 'DNS server "x"'), {
    message: 'DNS server "x": tls needs "server_name" (or "insecure": true)',
  });
  assert.throws(() => tlsClientConfig({ max_version: "1.1" }, "a.test", undefined, "o"), {
    message: "o: tls.max_version 1.1 is below TLS 1.2, the oldest tunbox speaks",
  });
  assert.throws(
    () => tlsClientConfig({ certificate_path: "/nonexistent.pem" }, "a.test", undefined, "o"),
    { message: 'o: cannot read certificate "/nonexistent.pem": no such file' },
  );
  assert.throws(() => tlsClientConfig({ certificate: ["not pem"] }, "a.test", undefined, "o"), {
    message: "o: no PEM certificate in certificate",
  });
  const c = tlsClientConfig({ min_version: "1.0", alpn: ["dot"] }, "a.test", undefined, "o");
  assert.equal(c.minVersion, "1.2");
  assert.deepEqual(c.alpn, ["dot"]);
  assert.equal(c.store, trustStore(undefined));
});

Deno.test("`pemCertificates()` splits bundles and normalises OpenSSL's other labels", () => {
  const body = "MIIB\nAAAA\n";
  const text = `junk\n-----BEGIN CERTIFICATE-----\n${body}-----END CERTIFICATE-----\n` +
    `-----BEGIN PRIVATE KEY-----\nxx\n-----END PRIVATE KEY-----\n` +
    `-----BEGIN TRUSTED CERTIFICATE-----\n${body}-----END TRUSTED CERTIFICATE-----\n`;
  assert.deepEqual(pemCertificates(text), [
    `-----BEGIN CERTIFICATE-----\n${body}-----END CERTIFICATE-----`,
    `-----BEGIN CERTIFICATE-----\n${body}-----END CERTIFICATE-----`,
  ]);
});
