// The dhcp DNS server against dnsmasq as DHCP and DNS server, in two throwaway namespaces
// joined by a veth pair (nothing is changed in the root namespace).

import assert from "node:assert/strict";
import { Netns } from "../_helpers/netns.ts";

const CAN_RUN = Deno.build.os === "linux" && Deno.uid?.() === 0;
const CLIENT = new URL("./_dhcp_client.ts", import.meta.url).pathname;

interface Line {
  name: string;
  rcode?: string;
  answers?: string[];
  servers?: string[];
  discovers?: number;
  error?: string;
}

/** dnsmasq in `ns` on `listen`: DHCP handing out `dns` as option 6, DNS answering `answer`. */
function dnsmasq(ns: Netns, listen: string, dns: string, answer: string, dir: string) {
  return ns.spawn([
    "dnsmasq",
    "--keep-in-foreground",
    "--conf-file=/dev/null",
    "--no-resolv",
    "--no-hosts",
    "--pid-file=",
    // DHCP on the interface that holds `listen`; DNS only on `listen` (another dnsmasq serves
    // the interface's second address).
    "--bind-interfaces",
    `--listen-address=${listen}`,
    `--dhcp-range=10.77.0.100,10.77.0.150,255.255.255.0,1h`,
    `--dhcp-option=option:dns-server,${dns}`,
    `--dhcp-leasefile=${dir}/leases`,
    `--address=/#/${answer}`,
    "--no-ping",
    "--log-dhcp",
    "--log-queries",
    "--log-facility=-",
  ]);
}

/** Everything a child writes (stdout and stderr), kept as it arrives. */
function collect(child: Deno.ChildProcess): { text: string } {
  const out = { text: "" };
  const dec = new TextDecoder();
  const read = async (s: ReadableStream<Uint8Array>) => {
    for await (const c of s) out.text += dec.decode(c);
  };
  read(child.stdout).catch(() => {});
  read(child.stderr).catch(() => {});
  return out;
}

async function runClient(ns: Netns, args: string[]): Promise<Line[]> {
  const r = await ns.exec([Deno.execPath(), "run", "-A", CLIENT, ...args]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

Deno.test({
  name: "dhcp DNS server: DNS servers from dnsmasq's offer on the interface, refreshed",
  ignore: !CAN_RUN,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const server = await Netns.create("dhcps");
    const client = await Netns.create("dhcpc");
    const dir = await Deno.makeTempDir({ prefix: "tunbox-dhcp-" });
    const procs: Deno.ChildProcess[] = [];
    try {
      await server.addVeth("s0", "c0", {
        peerNs: client,
        localAddr: ["10.77.0.1/24", "10.77.0.2/24"],
        peerAddr: ["10.77.0.50/24"],
      });
      await client.ip("route", "add", "default", "via", "10.77.0.1");
      // Two DNS servers on the far side; the DHCP server names the first.
      const first = dnsmasq(server, "10.77.0.1", "10.77.0.1", "198.51.100.1", dir);
      procs.push(first);
      const firstLog = collect(first);
      const second = server.spawn([
        "dnsmasq",
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--pid-file=",
        "--bind-interfaces",
        "--listen-address=10.77.0.2",
        "--address=/#/198.51.100.2",
        "--log-facility=-",
      ]);
      procs.push(second);
      collect(second);
      await new Promise((r) => setTimeout(r, 500));

      // Named interface; then the default interface (the route via c0).
      for (const args of [["--interface", "c0"], []]) {
        const lines = await runClient(client, [...args, "--name", "a.test", "--name", "b.test"]);
        assert.deepEqual(lines.map((l) => [l.name, l.answers, l.servers]), [
          ["a.test", ["A 198.51.100.1"], ["10.77.0.1"]],
          ["b.test", ["A 198.51.100.1"], ["10.77.0.1"]],
        ], JSON.stringify(lines) + firstLog.text);
        // The second query used the kept lease: no DISCOVER after the first offer.
        assert.ok(lines[0]!.discovers! >= 1);
        assert.equal(lines[1]!.discovers, lines[0]!.discovers);
      }

      // A lease that names the second server, seen once the TTL has passed.
      const gate = `${dir}/gate`;
      const child = client.spawn([
        Deno.execPath(),
        "run",
        "-A",
        CLIENT,
        "--interface",
        "c0",
        "--ttl",
        "1000",
        "--pause",
        "1200",
        "--gate",
        gate,
        ...["c.test", "d.test", "e.test"].flatMap((n) => ["--name", n]),
      ]);
      procs.push(child);
      const out = collect(child);
      const lines = () =>
        out.text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Line);
      for (let i = 0; i < 400 && lines().length < 2; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      first.kill("SIGTERM");
      await first.status;
      const next = dnsmasq(server, "10.77.0.1", "10.77.0.2", "198.51.100.1", dir);
      procs.push(next);
      collect(next);
      await new Promise((r) => setTimeout(r, 300));
      await Deno.writeTextFile(gate, "");
      assert.equal((await child.status).code, 0, out.text);
      assert.deepEqual(lines().map((l) => [l.name, l.answers, l.servers]), [
        ["c.test", ["A 198.51.100.1"], ["10.77.0.1"]],
        ["d.test", ["A 198.51.100.1"], ["10.77.0.1"]],
        ["e.test", ["A 198.51.100.2"], ["10.77.0.2"]],
      ], out.text);
      // dnsmasq saw our DISCOVERs and offered (its DHCP log).
      assert.match(firstLog.text, /DHCPDISCOVER\(s0\)/);
      assert.match(firstLog.text, /DHCPOFFER\(s0\)/);
    } finally {
      for (const p of procs) {
        try {
          p.kill("SIGKILL");
        } catch { /* gone */ }
        await p.status.catch(() => {});
      }
      await client.delete().catch(() => {});
      await server.delete().catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "dhcp DNS server without a DHCP server: the query fails naming the interface",
  ignore: !CAN_RUN,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const client = await Netns.create("dhcpn");
    try {
      await client.addVeth("d0", "d1");
      const [line] = await runClient(client, ["--interface", "d0", "--name", "a.test"]);
      assert.match(
        line!.error!,
        /DNS server "dhcp": DHCP on d0: no offer with DNS servers within 5000 ms/,
      );
    } finally {
      await client.delete().catch(() => {});
    }
  },
});
