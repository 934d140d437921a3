import assert from "node:assert/strict";
import { decodeConfigText } from "../../src/config/decode.ts";
import { emptyMatch } from "../../src/config/decode_rule.ts";
import {
  type Feature,
  featureId,
  FEATURES,
  isSupported,
  verdict,
} from "../../src/config/support.ts";
import type { RuleMatch } from "../../src/config/types.ts";
import { RuleSetRegistry } from "../../src/route/rule_set.ts";
import { compileRules } from "../../src/route/rule.ts";
import { at } from "./_helpers.ts";

Deno.test("every feature that is not supported says what tunbox does instead", () => {
  for (const [id, f] of Object.entries(FEATURES) as [string, Feature][]) {
    if (f.level === "supported") continue;
    assert.ok(f.note && f.note.length > 10, `${id} needs a note`);
    assert.equal(verdict(id as keyof typeof FEATURES, "linux").message, `${f.name} ${f.note}`);
  }
});

Deno.test("verdict() makes an OS-limited feature an error elsewhere", () => {
  assert.equal(verdict("tun.auto_redirect", "darwin").level, "error");
  assert.equal(
    verdict("tun.auto_redirect", "darwin").message,
    '"auto_redirect" is only available on Linux',
  );
  assert.equal(verdict("outbound.socks", "darwin").level, "supported");
  assert.equal(featureId("outbound", "nope"), undefined);
  assert.equal(featureId("outbound", "vmess"), "outbound.vmess");
});

/** A rule item of `field` with a value the runtime treats as set. */
function itemValue(field: string): unknown {
  if (field === "network_is_expensive" || field === "network_is_constrained") return true;
  if (field === "clash_mode") return "Direct";
  if (field === "user_id") return [1000];
  if (field.endsWith("interface_address") && field !== "default_interface_address") {
    return { en0: ["10.0.0.0/8"] };
  }
  if (field === "default_interface_address") return ["10.0.0.0/8"];
  return ["x"];
}

Deno.test("each rule item's verdict is what the route compiler does: never-match warnings in the same words", () => {
  for (const id of Object.keys(FEATURES)) {
    if (!id.startsWith("rule.")) continue;
    const field = id.slice("rule.".length);
    if (["geoip", "geosite", "source_geoip"].includes(field)) continue; // errors: never compiled
    const match = emptyMatch() as unknown as Record<string, unknown>;
    const v = itemValue(field);
    match[field] = field.endsWith("interface_address") && field !== "default_interface_address"
      ? { en0: [{ addr: new Uint8Array([10, 0, 0, 0]), bits: 8 }] }
      : field === "default_interface_address"
      ? [{ addr: new Uint8Array([10, 0, 0, 0]), bits: 8 }]
      : v;
    const { warnings } = compileRules([{
      type: "default",
      ...(match as unknown as RuleMatch),
      action: { action: "route", outbound: "direct" },
    }], { ruleSets: new RuleSetRegistry(["x"]) });
    const rid = id as keyof typeof FEATURES;
    if (isSupported(rid)) assert.deepEqual(warnings, [], field);
    else assert.deepEqual(warnings, [`route.rules[0]: ${verdict(rid).message}`], field);
  }
});

Deno.test("`check` reports a never-matching rule item at its key, in the runtime's words", () => {
  const text = `{"outbounds": [{"type": "direct", "tag": "d"}],
  "route": {"rules": [{"package_name": ["com.android.chrome"], "outbound": "d"}]}}`;
  const r = decodeConfigText(text, "t.json", { os: "linux" });
  assert.deepEqual(r.warnings.map((w) => w.format()), [
    `t.json:${at(text, '"package_name"')}: route.rules[0].package_name: ${
      verdict("rule.package_name").message
    }`,
  ]);
});

Deno.test("process rule items and find_process are built on Linux and macOS; elsewhere `check` says they never match", () => {
  const text = `{"outbounds": [{"type": "direct", "tag": "d"}],
  "route": {"find_process": true, "rules": [{"process_name": ["curl"], "user_id": [501], "outbound": "d"}]}}`;
  assert.deepEqual(decodeConfigText(text, "t.json", { os: "linux" }).warnings, []);
  const mac = decodeConfigText(text, "t.json", { os: "darwin" });
  assert.deepEqual(mac.errors, []);
  assert.deepEqual(mac.warnings, []);
  for (const id of ["rule.process_name", "rule.user_id", "route.find_process"] as const) {
    assert.equal(verdict(id, "darwin").level, "supported", id);
  }
  const other = decodeConfigText(text, "t.json", { os: "windows" });
  assert.deepEqual(other.errors, []);
  assert.deepEqual(other.warnings.map((w) => w.format()), [
    `t.json:${
      at(text, '"find_process"')
    }: route.find_process: "find_process" is ignored on this system (process lookup is built on Linux and macOS): connections are logged without process names`,
    `t.json:${
      at(text, '"process_name"')
    }: route.rules[0].process_name: "process_name" never matches in tunbox on this system (process lookup is built on Linux and macOS)`,
    `t.json:${
      at(text, '"user_id"')
    }: route.rules[0].user_id: "user_id" never matches in tunbox on this system (process lookup is built on Linux and macOS)`,
  ]);
});
