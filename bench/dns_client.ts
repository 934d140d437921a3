/**
 * The client side of `bench/dns_bench.ts`, run inside the client namespace: sends `--count`
 * A queries per suffix to `--server` over UDP, one at a time and interleaving the suffixes
 * (so every transport sees the same load), each name new (`q<i>.<suffix>`), and prints the
 * per-query times in microseconds as JSON: `{ "<suffix>": [us, ...], ... }`.
 */

import dnsPacket from "dns-packet";
import { Buffer } from "node:buffer";
import dgram from "node:dgram";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    server: { type: "string", default: "192.0.2.53" },
    count: { type: "string", default: "1000" },
    warmup: { type: "string", default: "20" },
    suffix: { type: "string", multiple: true, default: [] },
  },
});
const count = Number(values.count);
const sock = dgram.createSocket("udp4");
const times: Record<string, number[]> = {};
let id = 0;
let waiting: ((msg: Buffer) => void) | null = null;
sock.on("message", (msg: Buffer) => waiting?.(msg));

async function ask(name: string): Promise<number> {
  const qid = ++id & 0xffff;
  const q = dnsPacket.encode({
    type: "query",
    id: qid,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type: "A", name }],
  });
  const t0 = performance.now();
  const answered = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer for ${name}`)), 5000);
    waiting = (msg) => {
      if (dnsPacket.decode(msg).id !== qid) return;
      clearTimeout(timer);
      resolve();
    };
  });
  sock.send(q, 53, values.server!);
  await answered;
  return (performance.now() - t0) * 1000;
}

for (const s of values.suffix) {
  times[s] = [];
  for (let i = 0; i < Number(values.warmup); i++) await ask(`w${i}.${s}`);
}
for (let i = 0; i < count; i++) {
  for (const s of values.suffix) times[s]!.push(await ask(`q${i}.${s}`));
}
console.log(JSON.stringify(times));
sock.close();
