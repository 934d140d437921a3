import assert from "node:assert/strict";
import { parse as parseJsonc } from "jsonc-parser";
import { Netns } from "../_helpers/netns.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const FIXTURE = `${ROOT}tests/fixtures/import/v2ray_trojan_balancer.json`;

/**
 * Runs tunbox in a throwaway namespace with only loopback: `--tun` resolves the servers' names,
 * and that must fail here without a query leaving this machine.
 */
async function tunbox(args: string[], cwd: string) {
  const ns = await Netns.create("import");
  try {
    const out = await ns.exec([Deno.execPath(), "run", "-A", `${ROOT}main.ts`, "-D", cwd, ...args]);
    return { code: out.code, stdout: out.stdout, stderr: out.stderr };
  } finally {
    await ns.delete();
  }
}

const ROOTED = Deno.build.os === "linux" && Deno.uid?.() === 0;

Deno.test({
  name: "`tunbox import` writes config.json once, refuses to overwrite it, --force does",
  ignore: !ROOTED,
  sanitizeResources: false,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "tunbox-import-" });
  try {
    const first = await tunbox(["import", FIXTURE], dir);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /wrote config\.json/);
    assert.match(first.stderr, /outbounds\[2\] \(vmess "kcp-out"\): not converted/);
    const written = await Deno.readTextFile(`${dir}/config.json`);
    assert.match(written, /^\/\/ Converted by `tunbox import` from v2ray_trojan_balancer\.json/);

    await Deno.writeTextFile(`${dir}/config.json`, "keep me");
    const again = await tunbox(["import", FIXTURE], dir);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /config\.json exists; not overwritten \(use --force/);
    assert.equal(await Deno.readTextFile(`${dir}/config.json`), "keep me");

    const forced = await tunbox(["import", FIXTURE, "--force", "-c", "config.json"], dir);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(await Deno.readTextFile(`${dir}/config.json`), written);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "`tunbox import --tun --print` adds the TUN setup with the server addresses excluded",
  ignore: !ROOTED,
  sanitizeResources: false,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "tunbox-import-" });
  try {
    const r = await tunbox(["import", FIXTURE, "--tun", "--print"], dir);
    assert.equal(r.code, 0, r.stderr);
    const config = parseJsonc(r.stdout);
    const tun = config.inbounds[0];
    assert.equal(tun.type, "tun");
    assert.equal(tun.auto_route, true);
    // The literal server address is excluded; hk.example.org does not resolve here.
    assert.ok(tun.route_exclude_address.includes("198.51.100.20/32"));
    assert.match(r.stderr, /hk\.example\.org .* did not resolve now/);
    assert.deepEqual(config.route.rules.slice(0, 4), [
      { action: "sniff" },
      { protocol: "dns", action: "hijack-dns" },
      { ip_is_private: true, outbound: "direct" },
      { ip_cidr: ["198.51.100.20/32"], outbound: "direct" },
    ]);
    assert.equal(config.outbounds.filter((o: { type: string }) => o.type === "direct").length, 1);
    assert.equal(await Deno.stat(`${dir}/config.json`).catch(() => null), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "`tunbox import` names a file it cannot convert, exit status 2",
  ignore: !ROOTED,
  sanitizeResources: false,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "tunbox-import-" });
  try {
    await Deno.writeTextFile(`${dir}/x.yaml`, "hello: world\n");
    const r = await tunbox(["import", "x.yaml"], dir);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /tunbox import: x\.yaml: not a Clash config/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
