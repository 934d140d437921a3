import assert from "node:assert/strict";
import { decodeConfigText } from "../../src/config/decode.ts";
import { loopingOutbounds, tunEscape } from "../../src/config/tun_escape.ts";
import type { Options, OutboundOptions } from "../../src/config/types.ts";

const LOOP =
  `auto_route sends this machine's traffic into the TUN, and nothing keeps the own connections of`;

function decode(extra: Record<string, unknown>, tun: Record<string, unknown> = {}) {
  const text = JSON.stringify({
    inbounds: [{ type: "tun", tag: "tun-in", address: "172.19.0.1/30", auto_route: true, ...tun }],
    outbounds: [
      { type: "socks", tag: "local", server: "127.0.0.1", server_port: 1080 },
      { type: "direct", tag: "direct" },
    ],
    ...extra,
  });
  const r = decodeConfigText(text, "c.json");
  assert.deepEqual(r.errors, []);
  return { r, warnings: r.warnings.map((d) => d.format()) };
}

Deno.test("`check` warns at auto_route when a direct outbound has nothing to leave the TUN by", () => {
  const { warnings } = decode({});
  assert.deepEqual(warnings, [
    `c.json:1:82: inbounds[0].auto_route: ${LOOP} outbound "direct" out of it (no route.auto_detect_interface, route.default_interface, bind_interface or routing mark): they loop back into the TUN; set "route.auto_detect_interface": true`,
  ]);
});

Deno.test("`check` is quiet about loops once auto_detect_interface, default_interface, bind_interface or a mark is set", () => {
  for (
    const extra of [
      { route: { auto_detect_interface: true } },
      { route: { default_interface: "eth0" } },
      { route: { default_mark: 255 } },
    ]
  ) {
    assert.deepEqual(decode(extra).warnings, [], JSON.stringify(extra));
  }
  assert.deepEqual(decode({}, { auto_route: false }).warnings, []);
});

Deno.test("loopingOutbounds() names proxies whose public server enters the TUN, not loopback, LAN or excluded ones", () => {
  const { r } = decode({}, { route_exclude_address: ["203.0.113.0/24"] });
  const options = r.options as Options;
  const tuns = options.inbounds.filter((i) => i.type === "tun");
  const outbounds: OutboundOptions[] = [
    { type: "socks", tag: "public", server: "198.51.100.7", server_port: 1080 },
    { type: "socks", tag: "named", server: "proxy.example", server_port: 1080 },
    { type: "socks", tag: "lan", server: "192.168.1.5", server_port: 1080 },
    { type: "socks", tag: "excluded", server: "203.0.113.9", server_port: 1080 },
    { type: "socks", tag: "chained", server: "198.51.100.8", server_port: 1080, detour: "public" },
    {
      type: "socks",
      tag: "bound",
      server: "198.51.100.9",
      server_port: 1080,
      bind_interface: "eth0",
    },
    { type: "block", tag: "block" },
    { type: "direct", tag: "direct" },
  ] as OutboundOptions[];
  assert.deepEqual(
    loopingOutbounds(outbounds, tuns, options.route).map((o) => o.tag),
    ["public", "named", "direct"],
  );
});

Deno.test("tunEscape() puts bind_interface first and a mark last, as the dialer does", () => {
  assert.deepEqual(tunEscape({ bind_interface: "wlan0" }, { auto_detect_interface: true }), {
    kind: "interface",
    by: "bind_interface",
  });
  assert.deepEqual(tunEscape({ routing_mark: 1 }, { default_interface: "eth0" }), {
    kind: "interface",
    by: "default_interface",
  });
  assert.deepEqual(tunEscape({ routing_mark: 1 }, {}), { kind: "mark", by: "routing_mark" });
  assert.deepEqual(tunEscape({}, { default_mark: 2 }), { kind: "mark", by: "default_mark" });
  assert.deepEqual(tunEscape({}, {}), { kind: "none" });
});
