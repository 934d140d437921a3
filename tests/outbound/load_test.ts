import assert from "node:assert/strict";
import type { OutboundOptions } from "../../src/config/types.ts";
import { loadOutbounds, OUTBOUND_LOADERS } from "../../src/outbound/load.ts";
import { builtinOutbounds, createOutbounds } from "../../src/outbound/mod.ts";
import { createBlockOutbound } from "../../src/outbound/block.ts";
import { createDirectOutbound } from "../../src/outbound/direct.ts";
import { createHttpOutbound } from "../../src/outbound/http.ts";
import { createSelectorOutbound } from "../../src/outbound/selector.ts";
import { createShadowsocksOutbound } from "../../src/outbound/shadowsocks/outbound.ts";
import { createSocksOutbound } from "../../src/outbound/socks.ts";
import { createTrojanOutbound } from "../../src/outbound/trojan/outbound.ts";
import { createUrlTestOutbound } from "../../src/outbound/urltest.ts";
import { createVlessOutbound } from "../../src/outbound/vless/outbound.ts";
import { createVmessOutbound } from "../../src/outbound/vmess/outbound.ts";
import { createWireGuardOutbound } from "../../src/outbound/wireguard/outbound.ts";

Deno.test("`OUTBOUND_LOADERS` load the same factory as `builtinOutbounds()` for every type", async () => {
  assert.deepEqual(Object.keys(OUTBOUND_LOADERS).sort(), builtinOutbounds().types.sort());
  const expected: Record<string, unknown> = {
    direct: createDirectOutbound,
    block: createBlockOutbound,
    socks: createSocksOutbound,
    http: createHttpOutbound,
    shadowsocks: createShadowsocksOutbound,
    vmess: createVmessOutbound,
    vless: createVlessOutbound,
    trojan: createTrojanOutbound,
    wireguard: createWireGuardOutbound,
    selector: createSelectorOutbound,
    urltest: createUrlTestOutbound,
  };
  for (const [type, load] of Object.entries(OUTBOUND_LOADERS)) {
    assert.equal(await load(), expected[type], type);
  }
});

Deno.test("`loadOutbounds()` registers only the types the outbounds name", async () => {
  const registry = await loadOutbounds([
    { type: "socks" },
    { type: "direct" },
    { type: "socks" },
    { type: "dns" },
  ]);
  assert.deepEqual(registry.types.sort(), ["direct", "socks"]);
  const outs = createOutbounds(
    [
      { type: "direct", tag: "direct" },
      { type: "dns", tag: "dns-out" },
      { type: "socks", tag: "proxy", server: "127.0.0.1", server_port: 1080 },
    ],
    { reactor: null as never },
    {},
    registry,
  );
  assert.deepEqual([...outs.keys()], ["direct", "proxy"]);
  assert.equal(outs.get("proxy")!.type, "socks");
  outs.forEach((o) => o.close());
});

Deno.test("`loadOutbounds()` leaves out an unknown type, which `createOutbounds()` then names", async () => {
  const options = [{ type: "hysteria9", tag: "x" }] as unknown as OutboundOptions[];
  const registry = await loadOutbounds(options);
  assert.deepEqual(registry.types, []);
  assert.throws(
    () => createOutbounds(options, { reactor: null as never }, {}, registry),
    /initialize outbound\[0\] \("x"\): unknown outbound type "hysteria9"/,
  );
});
