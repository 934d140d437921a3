// Real ICMP echo from the direct outbound, inside throwaway namespaces: the unprivileged ping
// socket where ping_group_range allows it, the raw socket otherwise; the reply carries the
// application's identifier.

import assert from "node:assert/strict";
import { Reactor } from "../../src/io/reactor.ts";
import { DirectDialer } from "../../src/outbound/direct_dialer.ts";
import { DirectIcmpFlow } from "../../src/outbound/direct_icmp.ts";
import { checksum } from "../../src/wire/checksum.ts";
import { withNetns } from "../_helpers/netns.ts";

function echoRequest(v6: boolean, id: number, seq: number, data: string): Uint8Array {
  const body = new TextEncoder().encode(data);
  const m = new Uint8Array(8 + body.length);
  m[0] = v6 ? 128 : 8;
  m[4] = id >> 8;
  m[5] = id;
  m[6] = seq >> 8;
  m[7] = seq;
  m.set(body, 8);
  if (!v6) {
    const c = checksum(m, 0, m.length);
    m[2] = c >> 8;
    m[3] = c;
  }
  return m;
}

async function pingOnce(
  run: <T>(fn: () => T) => T,
  dest: Uint8Array,
): Promise<{ raw: boolean; reply: Uint8Array }> {
  const r = new Reactor();
  const loop = r.run();
  try {
    const dialer = new DirectDialer('direct outbound "direct"', {}, { reactor: r });
    const flow = run(() => new DirectIcmpFlow(dialer, dest, { id: 1 }));
    try {
      const got = new Promise<Uint8Array>((resolve) => (flow.onReply = (m) => resolve(m.slice())));
      flow.send(echoRequest(dest.length === 16, 0x1234, 7, "tunbox ping"));
      let timer: ReturnType<typeof setTimeout> | undefined;
      const reply = await Promise.race([
        got,
        new Promise<never>((_, reject) =>
          timer = setTimeout(() => reject(new Error("no reply")), 3000)
        ),
      ]);
      clearTimeout(timer);
      return { raw: flow.raw, reply };
    } finally {
      flow.close();
    }
  } finally {
    r.stop();
    await loop;
    r.close();
  }
}

for (const [mode, range] of [["ping socket", "0 0"], ["raw socket", "1 0"]] as const) {
  Deno.test(`\`DirectIcmpFlow\` gets a real echo reply through a ${mode}, identifier restored`, async () => {
    await withNetns("icmp", async (ns) => {
      await ns.mustExec(["sysctl", "-q", "-w", `net.ipv4.ping_group_range=${range}`]);
      for (
        const dest of [
          Uint8Array.of(127, 0, 0, 1),
          Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1),
        ]
      ) {
        const { raw, reply } = await pingOnce((fn) => ns.run(fn), dest);
        const v6 = dest.length === 16;
        // A ping socket when the group may use one (IPv6 shares the IPv4 setting).
        assert.equal(raw, mode === "raw socket", `IPv${v6 ? 6 : 4}`);
        assert.equal(reply[0], v6 ? 129 : 0);
        assert.equal((reply[4]! << 8) | reply[5]!, 0x1234);
        assert.equal((reply[6]! << 8) | reply[7]!, 7);
        assert.equal(new TextDecoder().decode(reply.subarray(8)), "tunbox ping");
      }
    });
  });
}
