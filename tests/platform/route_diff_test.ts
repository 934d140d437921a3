import assert from "node:assert/strict";
import { parsePrefix } from "../../src/net/ip.ts";
import { diffRoutes } from "../../src/platform/route_diff.ts";
import type { PlannedRoute } from "../../src/platform/types.ts";

function route(text: string): PlannedRoute {
  return { prefix: parsePrefix(text)!, device: "tun0", text };
}

Deno.test("`diffRoutes()` adds the missing routes once and removes the unwanted ones", () => {
  const have = [route("10.0.0.0/8"), route("192.0.2.0/24")];
  const want = [route("10.0.0.0/8"), route("198.51.100.0/24"), route("198.51.100.0/24")];
  const { add, remove } = diffRoutes(have, want, (r) => r.text);
  assert.deepEqual(add.map((r) => r.text), ["198.51.100.0/24"]);
  assert.deepEqual(remove.map((r) => r.text), ["192.0.2.0/24"]);
  assert.deepEqual(diffRoutes(have, have, (r) => r.text), { add: [], remove: [] });
});
