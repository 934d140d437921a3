import assert from "node:assert/strict";
import { HostsFile, hostsResolver, parseHosts } from "../../src/dns/hosts_file.ts";
import { formatIp } from "../../src/net/ip.ts";
import { FakeClock } from "./_helpers.ts";

Deno.test("`parseHosts()` maps lower-cased names to addresses in file order", () => {
  const text = "# comment line\n127.0.0.1 localhost Box.Local # trailing comment\n" +
    "  ::1\tlocalhost   ip6-localhost\nfe80::1%eth0 link.local\nnot-an-ip ignored\n\n";
  const hosts = parseHosts(text);
  assert.deepEqual([...hosts.keys()], ["localhost", "box.local", "ip6-localhost", "link.local"]);
  assert.deepEqual(hosts.get("localhost")!.map(formatIp), ["127.0.0.1", "::1"]);
  assert.deepEqual(hosts.get("box.local")!.map(formatIp), ["127.0.0.1"]);
  assert.deepEqual(hosts.get("link.local")!.map(formatIp), ["fe80::1"]);
  assert.equal(hosts.has("ignored"), false);
});

Deno.test("`HostsFile` reloads a changed file after the recheck interval", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tunbox-dns-" });
  try {
    const path = `${dir}/hosts`;
    await Deno.writeTextFile(path, "192.0.2.1 x.test\n");
    const clock = new FakeClock();
    const f = new HostsFile(path, clock.now);
    assert.deepEqual(f.lookup("x.test").map(formatIp), ["192.0.2.1"]);
    await Deno.writeTextFile(path, "192.0.2.2 x.test\n192.0.2.3 y.test\n");
    assert.deepEqual(f.lookup("x.test").map(formatIp), ["192.0.2.1"], "within 5 s: cached");
    clock.advance(5001);
    assert.deepEqual(f.lookup("x.test").map(formatIp), ["192.0.2.2"]);
    assert.deepEqual(f.lookup("Y.TEST").map(formatIp), ["192.0.2.3"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`hostsResolver()` answers literals, file names by strategy, and localhost", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tunbox-dns-" });
  try {
    const path = `${dir}/hosts`;
    await Deno.writeTextFile(path, "192.0.2.1 both.test\n2001:db8::1 both.test\n");
    const resolve = hostsResolver(path);
    assert.deepEqual((await resolve("198.51.100.7")).map(formatIp), ["198.51.100.7"]);
    assert.deepEqual((await resolve("BOTH.test.")).map(formatIp), ["192.0.2.1", "2001:db8::1"]);
    assert.deepEqual((await resolve("both.test", "ipv6_only")).map(formatIp), ["2001:db8::1"]);
    assert.deepEqual((await resolve("both.test", "prefer_ipv6")).map(formatIp), [
      "2001:db8::1",
      "192.0.2.1",
    ]);
    assert.deepEqual((await resolve("localhost")).map(formatIp), ["127.0.0.1"]);
    await assert.rejects(resolve("missing.test"), {
      message: `"missing.test" is not in ${path} (no DNS resolver here)`,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
