import assert from "node:assert/strict";
import type { Options } from "../../src/config/types.ts";
import { clashModeList, SharedState } from "../../src/store/shared_state.ts";

function options(extra: {
  clashApi?: { default_mode?: string };
  routeModes?: string[];
  dnsModes?: string[];
  outbounds?: unknown[];
}): Options {
  const rule = (mode: string) => ({ type: "default", clash_mode: mode, action: {} });
  return {
    route: {
      rules: [
        ...(extra.routeModes ?? []).map(rule),
        // A logical rule's sub-rules count too.
        { type: "logical", mode: "and", rules: [rule("Nested")], action: {} },
      ],
    },
    dns: { rules: (extra.dnsModes ?? []).map(rule) },
    outbounds: extra.outbounds ?? [],
    experimental: extra.clashApi ? { clash_api: extra.clashApi } : {},
  } as unknown as Options;
}

Deno.test("`clashModeList()` orders modes as sing-box: others sorted, then Rule, Global, Direct", () => {
  assert.deepEqual(
    clashModeList(options({
      clashApi: {},
      routeModes: ["Direct", "global", "Zeta", "Global", "Rule", "Direct"],
      dnsModes: ["Alpha"],
    })),
    ["Alpha", "Nested", "Zeta", "global", "Rule", "Global", "Direct"],
  );
  // default_mode missing from the rules goes in front (sing-box's Clash server).
  assert.deepEqual(
    clashModeList(options({ clashApi: { default_mode: "Proxy" }, routeModes: ["Direct"] })),
    ["Proxy", "Nested", "Direct"],
  );
  assert.deepEqual(clashModeList(options({ clashApi: {} })), ["Rule", "Nested"]);
  assert.deepEqual(clashModeList(options({ routeModes: ["Direct"] })), [], "no Clash API");
});

Deno.test("`SharedState` mode: restored case-insensitively, switched for every holder, persisted on change", () => {
  const stored: string[] = [];
  const main = SharedState.create(
    options({ clashApi: {}, routeModes: ["Global", "Direct"] }),
    { mode: "direct" },
    { onMode: (m) => stored.push(m) },
  );
  const worker = new SharedState(main.memory);
  assert.deepEqual(main.modes, ["Rule", "Nested", "Global", "Direct"]);
  assert.equal(worker.mode, "Direct");
  assert.equal(main.setMode("GLOBAL"), "Global");
  assert.equal(worker.mode, "Global");
  assert.equal(main.setMode("Global"), "Global");
  assert.equal(main.setMode("Proxy"), undefined, "not in the list: nothing changes");
  assert.equal(worker.mode, "Global");
  assert.deepEqual(stored, ["Global"], "stored once, on the change");

  const fresh = SharedState.create(options({ clashApi: { default_mode: "Direct" } }), {
    mode: "Gone",
  });
  assert.equal(fresh.mode, "Direct", "an unknown restored mode falls back to default_mode");
  const none = SharedState.create(options({ routeModes: ["Direct"] }), { mode: "Direct" });
  assert.equal(none.mode, "", "no Clash API, no mode");
  assert.equal(none.setMode("Direct"), undefined);
});

Deno.test("`SharedState` selectors: restored member, else default, else first; shared across holders", () => {
  const selector = (tag: string, members: string[], def?: string) => ({
    type: "selector",
    tag,
    outbounds: members,
    ...(def ? { default: def } : {}),
  });
  const opts = options({
    outbounds: [
      { type: "direct", tag: "direct" },
      selector("proxy", ["a", "b", "c"], "b"),
      selector("media", ["x", "y"]),
      selector("gone", ["p", "q"], "q"),
    ],
  });
  const stored: [string, string][] = [];
  const main = SharedState.create(
    opts,
    { selected: new Map([["proxy", "c"], ["gone", "removed-member"]]) },
    { onSelect: (g, t) => stored.push([g, t]) },
  );
  const worker = new SharedState(main.memory);
  assert.equal(worker.selected("proxy"), "c", "restored");
  assert.equal(worker.selected("media"), "x", "first member");
  assert.equal(worker.selected("gone"), "q", "a stale restored member falls back to default");
  assert.equal(worker.selected("direct"), undefined, "not a selector");
  assert.equal(worker.hasSelector("media"), true);
  assert.equal(main.select("media", "y"), true);
  assert.equal(worker.selected("media"), "y");
  assert.equal(main.select("media", "y"), true);
  assert.equal(main.select("media", "z"), false);
  assert.equal(main.select("nope", "x"), false);
  assert.deepEqual(stored, [["media", "y"]]);
});
