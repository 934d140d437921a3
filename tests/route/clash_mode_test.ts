import assert from "node:assert/strict";
import type { Options, OutboundOptions } from "../../src/config/types.ts";
import { decodeConfigText } from "../../src/config/decode.ts";
import { clashModeItem, setClashModeSource } from "../../src/route/clash_mode.ts";
import { Router } from "../../src/route/router.ts";
import { SharedState } from "../../src/store/shared_state.ts";
import { flow, logical, routeTo, rule } from "./_helpers.ts";

const OUTBOUNDS: OutboundOptions[] = [
  { type: "socks", tag: "proxy", server: "127.0.0.1", server_port: 1080 },
  { type: "direct", tag: "direct" },
];

Deno.test("clash_mode rules follow the shared mode, case-insensitively, as switched at run time", () => {
  const options = {
    route: {
      rules: [
        rule({ clash_mode: "Direct" }, routeTo("direct")),
        logical("and", [rule({ clash_mode: "global" }), rule({ network: ["tcp"] })]),
      ],
    },
    dns: { rules: [] },
    outbounds: OUTBOUNDS,
    experimental: { clash_api: { access_control_allow_origin: [] } },
  } as unknown as Options;
  const main = SharedState.create(options);
  const worker = new SharedState(main.memory);
  setClashModeSource(() => worker.mode);
  try {
    const router = new Router({
      rules: options.route.rules.map((r, i) => i === 1 ? { ...r, action: routeTo("proxy") } : r),
      outbounds: OUTBOUNDS,
      final: "proxy",
    });
    const pick = () => {
      const d = router.matchSync(flow("192.0.2.1:443"));
      return d?.action === "route" ? `${d.outbound} ${d.ruleText}` : String(d?.action);
    };
    assert.deepEqual(main.modes, ["Rule", "global", "Direct"], "default_mode Rule goes in front");
    assert.equal(pick(), "proxy final", "mode Rule: no clash_mode rule matches");
    assert.equal(main.setMode("DIRECT"), "Direct");
    assert.equal(pick(), "direct clash_mode=Direct => route(direct)");
    main.setMode("Global");
    assert.equal(pick(), "proxy clash_mode=global && network=tcp => route(proxy)");
  } finally {
    setClashModeSource(() => "");
  }
});

Deno.test("`clashModeItem()` never matches without a mode (no Clash API)", () => {
  setClashModeSource(() => "");
  assert.equal(clashModeItem("Rule").match(flow("192.0.2.1:443")), false);
  setClashModeSource(() => "rule");
  assert.equal(clashModeItem("Rule").match(flow("192.0.2.1:443")), true);
  assert.equal(clashModeItem("Rule").text, "clash_mode=Rule");
  setClashModeSource(() => "");
});

Deno.test("`check` warns about clash_mode without experimental.clash_api, at the item", () => {
  const text = `{
  "outbounds": [{"type": "direct", "tag": "direct"}],
  "route": {"rules": [{"clash_mode": "Direct", "outbound": "direct"}]},
  "dns": {"servers": [{"type": "local", "tag": "l"}],
          "rules": [{"type": "logical", "mode": "or", "rules": [{"clash_mode": "Global"}], "server": "l"}]}
}`;
  const without = decodeConfigText(text, "t.json", { os: "linux" });
  assert.deepEqual(without.errors, []);
  assert.deepEqual(without.warnings.map((w) => w.format()), [
    't.json:3:38: route.rules[0].clash_mode: "clash_mode" never matches without "experimental.clash_api": the Clash mode exists only with the Clash API (as in sing-box)',
    't.json:5:80: dns.rules[0].rules[0].clash_mode: "clash_mode" never matches without "experimental.clash_api": the Clash mode exists only with the Clash API (as in sing-box)',
  ]);
  const withApi = decodeConfigText(
    text.replace(
      '"outbounds"',
      '"experimental": {"clash_api": {"default_mode": "Direct"}},\n"outbounds"',
    ),
    "t.json",
    { os: "linux" },
  );
  assert.deepEqual(withApi.errors, []);
  assert.deepEqual(withApi.warnings.map((w) => w.format()), []);
});
