/**
 * Makes sure the real peers the tests drive are installed (Debian packages), then exits.
 * Runs before `deno test` in `deno task test` and from `.ci/run`.
 *
 * As root on a machine with apt-get, missing packages are installed. Otherwise the missing
 * tools are listed, and the tests that need them fail with a message naming the tool.
 */

/** Tool → Debian package. */
const NEEDED: Record<string, string> = {
  ip: "iproute2",
  iperf3: "iperf3",
  curl: "curl",
  wget: "wget",
  dig: "dnsutils",
  danted: "dante-server",
  microsocks: "microsocks",
  v2ray: "v2ray",
  "ss-local": "shadowsocks-libev",
  "ss-server": "shadowsocks-libev",
  redsocks: "redsocks",
  iptables: "iptables",
  "systemd-analyze": "systemd",
  setpriv: "util-linux",
  sha256sum: "coreutils",
  zip: "zip",
  unzip: "unzip",
  tc: "iproute2",
  ping: "iputils-ping",
  python3: "python3",
  openssl: "openssl",
  stdbuf: "coreutils",
  dnsdist: "dnsdist",
  stunnel4: "stunnel4",
  dnsmasq: "dnsmasq",
  nft: "nftables",
  chromium: "chromium",
  trojan: "trojan",
  wg: "wireguard-tools",
  "wireguard-go": "wireguard-go",
};

/** Python modules → Debian package (checked by importing them). */
const PYTHON: Record<string, string> = { yaml: "python3-yaml" };

function has(tool: string): boolean {
  const dirs = (Deno.env.get("PATH") ?? "").split(":").concat(["/usr/sbin", "/sbin", "/usr/bin"]);
  return dirs.some((d) => {
    try {
      return Deno.statSync(`${d}/${tool}`).isFile;
    } catch {
      return false;
    }
  });
}

function hasPython(module: string): boolean {
  try {
    return new Deno.Command("python3", {
      args: ["-c", `import ${module}`],
      stdout: "null",
      stderr: "null",
    })
      .outputSync().success;
  } catch {
    return false;
  }
}

const missing = [
  ...Object.entries(NEEDED).filter(([tool]) => !has(tool)),
  ...Object.entries(PYTHON).filter(([module]) => !hasPython(module)).map((
    [m, p],
  ) => [`python3 ${m}`, p]),
];
if (missing.length === 0) Deno.exit(0);

const packages = [...new Set(missing.map(([, pkg]) => pkg!))];
const isRoot = Deno.uid?.() === 0;
if (Deno.build.os !== "linux" || !isRoot || !has("apt-get")) {
  console.error(
    `tests/_prepare: missing ${missing.map(([t]) => t).join(", ")}; ` +
      `install the Debian packages ${packages.join(" ")} (the end-to-end tests need them)`,
  );
  Deno.exit(0);
}

console.error(`tests/_prepare: installing ${packages.join(" ")} with apt-get`);
const env = { DEBIAN_FRONTEND: "noninteractive" };
for (
  const args of [
    ["update", "-qq"],
    ["install", "-y", "-qq", "--no-install-recommends", ...packages],
  ]
) {
  const out = await new Deno.Command("apt-get", { args, env, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) {
    console.error(
      `tests/_prepare: apt-get ${args[0]} failed:\n${new TextDecoder().decode(out.stderr)}`,
    );
    Deno.exit(1);
  }
}
// danted and v2ray packages may start system services; tests start their own instances.
for (const unit of ["danted", "v2ray"]) {
  await new Deno.Command("systemctl", {
    args: ["disable", "--now", unit],
    stdout: "null",
    stderr: "null",
  })
    .output().catch(() => {});
}
