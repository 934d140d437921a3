import assert from "node:assert/strict";
import { diffNetwork } from "../../src/platform/network_change.ts";
import type { NetworkSnapshot } from "../../src/platform/types.ts";
import { formatIp, parsePrefix } from "../../src/net/ip.ts";

function snap(
  def: string | null,
  ifaces: [string, number, boolean, string[]][],
): NetworkSnapshot {
  const interfaces = ifaces.map(([name, index, up, addrs]) => ({
    name,
    index,
    up,
    addresses: addrs.map((a) => parsePrefix(a)!),
  }));
  const d = def === null ? null : interfaces.find((i) => i.name === def)!;
  return {
    defaultInterface: d ? { name: d.name, index: d.index } : null,
    interfaces,
    routes: [],
  };
}

Deno.test("`diffNetwork()` is null when nothing tunbox acts on changed", () => {
  const a = snap("eth0", [["eth0", 2, true, ["10.0.0.2/24"]]]);
  assert.equal(diffNetwork(a, a), null);
  // A new interface or address alone is no change.
  const b = snap("eth0", [["eth0", 2, true, ["10.0.0.2/24", "10.0.0.3/24"]], [
    "wlan0",
    3,
    true,
    ["192.168.1.5/24"],
  ]]);
  assert.equal(diffNetwork(a, b), null);
});

Deno.test("`diffNetwork()` reports a Wi-Fi switch: new default, old interface down, address gone", () => {
  const before = snap("wlan0", [["eth0", 2, false, []], ["wlan0", 3, true, ["192.168.1.5/24"]]]);
  const after = snap("eth0", [["eth0", 2, true, ["10.0.0.2/24"]], ["wlan0", 3, false, []]]);
  const c = diffNetwork(before, after)!;
  assert.deepEqual(c.defaultInterface, { name: "eth0", index: 2 });
  assert.equal(c.defaultInterfaceChanged, true);
  assert.deepEqual(c.lostInterfaces, [{ name: "wlan0", index: 3 }]);
  assert.deepEqual(c.lostAddresses.map(formatIp), ["192.168.1.5"]);
  assert.deepEqual(c.descriptions, [
    "default interface wlan0 -> eth0",
    "interface wlan0 down",
    "address 192.168.1.5/24 removed from wlan0",
  ]);
});

Deno.test("`diffNetwork()` treats a renamed or vanished index as gone, and no default as none", () => {
  const before = snap("usb0", [["usb0", 7, true, []]]);
  const gone = diffNetwork(before, snap(null, []))!;
  assert.deepEqual(gone.descriptions, ["default interface usb0 -> none", "interface usb0 gone"]);
  assert.equal(gone.defaultInterface, null);
  const renamed = diffNetwork(before, snap(null, [["usb1", 7, true, []]]))!;
  assert.deepEqual(renamed.lostInterfaces, [{ name: "usb0", index: 7 }]);
  // An address that moved to another interface is not lost.
  const moved = diffNetwork(
    snap(null, [["a", 1, true, ["10.1.1.1/24"]], ["b", 2, true, []]]),
    snap(null, [["a", 1, true, []], ["b", 2, true, ["10.1.1.1/24"]]]),
  );
  assert.equal(moved, null);
});
