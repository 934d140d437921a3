/**
 * Test certificates made with the `openssl` command in a temporary directory: a CA, server
 * certificates it signs (for given DNS names and IP addresses), and a second, unrelated CA.
 * Nothing is committed, so nothing expires.
 *
 * ```ts
 * const pki = await makePki();
 * try {
 *   const leaf = await pki.issue("dns", ["dns.test"], ["127.0.0.1"]);
 *   // leaf.certPath, leaf.keyPath, pki.caPem ...
 * } finally {
 *   await pki.remove();
 * }
 * ```
 */

const dec = new TextDecoder();

async function openssl(args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`openssl ${args.join(" ")} failed: ${dec.decode(out.stderr)}`);
  }
}

/** A certificate and its key on disk. */
export interface Leaf {
  certPath: string;
  keyPath: string;
  certPem: string;
  keyPem: string;
}

/** A temporary PKI. */
export interface Pki {
  dir: string;
  caPath: string;
  caPem: string;
  /** A CA that signed nothing the servers use. */
  otherCaPath: string;
  otherCaPem: string;
  /** Issues a certificate signed by the CA (`by: "other"`: by the other CA). */
  issue(
    name: string,
    dnsNames: string[],
    ips?: string[],
    by?: "ca" | "other",
  ): Promise<Leaf>;
  remove(): Promise<void>;
}

async function makeCa(dir: string, name: string, cn: string): Promise<void> {
  await openssl([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.pem`,
    "-days",
    "3650",
    "-subj",
    `/CN=${cn}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ], dir);
}

/** Makes a CA and an unrelated second CA in a new temporary directory. */
export async function makePki(): Promise<Pki> {
  const dir = await Deno.makeTempDir({ prefix: "tunbox-pki-" });
  await makeCa(dir, "ca", "tunbox test CA");
  await makeCa(dir, "other", "tunbox unrelated CA");
  return {
    dir,
    caPath: `${dir}/ca.pem`,
    caPem: await Deno.readTextFile(`${dir}/ca.pem`),
    otherCaPath: `${dir}/other.pem`,
    otherCaPem: await Deno.readTextFile(`${dir}/other.pem`),
    async issue(name, dnsNames, ips = [], by = "ca") {
      const san = [...dnsNames.map((d) => `DNS:${d}`), ...ips.map((i) => `IP:${i}`)].join(",");
      await Deno.writeTextFile(
        `${dir}/${name}.ext`,
        `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`,
      );
      await openssl([
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        `${name}.key`,
        "-out",
        `${name}.csr`,
        "-subj",
        `/CN=${dnsNames[0] ?? ips[0] ?? name}`,
      ], dir);
      await openssl([
        "x509",
        "-req",
        "-in",
        `${name}.csr`,
        "-CA",
        `${by}.pem`,
        "-CAkey",
        `${by}.key`,
        "-CAcreateserial",
        "-out",
        `${name}.pem`,
        "-days",
        "3650",
        "-extfile",
        `${name}.ext`,
      ], dir);
      return {
        certPath: `${dir}/${name}.pem`,
        keyPath: `${dir}/${name}.key`,
        certPem: await Deno.readTextFile(`${dir}/${name}.pem`),
        keyPem: await Deno.readTextFile(`${dir}/${name}.key`),
      };
    },
    async remove() {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
