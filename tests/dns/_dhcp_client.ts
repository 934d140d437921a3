/**
 * Runs tunbox's `dhcp` DNS server inside a network namespace (started with `ip netns exec`):
 * `--interface` (absent: the default interface), `--ttl` ms, then one query per `--name`,
 * waiting `--pause` ms before each (and, from the third on, until the `--gate` file exists). Prints one JSON line per query: the answer's addresses and
 * rcode, the servers of the lease and the DISCOVERs sent so far (or the error).
 */

import { parseArgs } from "node:util";
import { Reactor } from "../../src/io/reactor.ts";
import { loadPlatform } from "../../src/platform/mod.ts";
import { DhcpTransport } from "../../src/dns/transport_dhcp.ts";
import { formatIp } from "../../src/net/ip.ts";
import { answersOf, decode, query } from "./_helpers.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    interface: { type: "string" },
    ttl: { type: "string", default: "3600000" },
    pause: { type: "string", default: "0" },
    name: { type: "string", multiple: true, default: [] },
    gate: { type: "string" },
  },
});

const platform = await loadPlatform();
const reactor = new Reactor();
const loop = reactor.run();
const transport = new DhcpTransport("dhcp", reactor, {
  reactor,
  platform,
  defaultInterface: () => platform.defaultInterface(),
}, {
  ...(values.interface ? { interface: values.interface } : {}),
  dial: {},
  ttlMs: Number(values.ttl),
});
for (const [i, name] of values.name.entries()) {
  // From the third query on, wait until the test creates the gate file (it changed the lease).
  while (i >= 2 && values.gate && !(await Deno.stat(values.gate).then(() => true, () => false))) {
    await new Promise((r) => reactor.setTimeout(50, () => r(null)));
  }
  await new Promise((r) => reactor.setTimeout(Number(values.pause), () => r(null)));
  try {
    const answer = decode(await transport.exchange(query(name, "A", i + 1), 5000));
    console.log(JSON.stringify({
      name,
      rcode: answer.rcode,
      answers: answersOf(answer),
      servers: transport.servers.map(formatIp),
      discovers: transport.discovers,
    }));
  } catch (error) {
    console.log(JSON.stringify({ name, error: (error as Error).message }));
  }
}
transport.close();
reactor.stop();
await loop;
Deno.exit(0);
