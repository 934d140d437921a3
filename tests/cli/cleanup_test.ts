import assert from "node:assert/strict";
import { cleanupCommand } from "../../src/cli/cleanup.ts";
import { decodeConfigText } from "../../src/config/decode.ts";

function capture<T>(f: () => Promise<T>): Promise<{ result: T; out: string[]; err: string[] }> {
  const out: string[] = [], err: string[] = [];
  const log = console.log, error = console.error;
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  console.error = (...a: unknown[]) => void err.push(a.join(" "));
  return f().then((result) => ({ result, out, err })).finally(() => {
    console.log = log;
    console.error = error;
  });
}

const options = decodeConfigText(
  `{"inbounds": [{"type": "tun", "tag": "tun-in", "address": "172.19.0.1/30"}]}`,
  "t.json",
  { os: "linux" },
).options!;

Deno.test("cleanupCommand() exits 1 with a clear message when the platform module is missing", async () => {
  const missing = new URL("./no_such_setup_module.ts", import.meta.url).href;
  const { result, out, err } = await capture(() => cleanupCommand(options, missing));
  assert.equal(result, 1);
  assert.deepEqual(out, []);
  assert.deepEqual(err, ["cleanup is not available on this platform"]);
});

Deno.test("cleanupCommand() prints what the platform module removed", async () => {
  const fake = new URL("./_fake_setup.ts", import.meta.url).href;
  const { result, out } = await capture(() => cleanupCommand(options, fake));
  assert.equal(result, 0);
  assert.deepEqual(out, ["removed TUN device of inbound tun-in"]);
});
