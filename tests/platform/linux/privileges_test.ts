import assert from "node:assert/strict";
import {
  checkLinuxPrivileges,
  hasCapability,
  LINUX_PRIVILEGE_MESSAGE,
  parseCapEff,
  PrivilegeError,
} from "../../../src/platform/linux/privileges.ts";
import { runCommand } from "../../_helpers/netns.ts";

const status = (eff: string) =>
  `Name:\tdeno\nCapInh:\t0000000000000000\nCapEff:\t${eff}\nCapBnd:\t000001ffffffffff\n`;

Deno.test("`parseCapEff()` reads the hex effective set; `hasCapability()` tests a bit", () => {
  assert.equal(parseCapEff(status("0000000000001000")), 0x1000n);
  assert.equal(parseCapEff("Name:\tx\n"), null);
  assert.equal(hasCapability(0x1000n, 12), true);
  assert.equal(hasCapability(0x000001fffeffefffn, 12), false);
  assert.equal(hasCapability(0x000001ffffffffffn, 12), true);
});

Deno.test("`checkLinuxPrivileges()` throws one sentence without CAP_NET_ADMIN", () => {
  checkLinuxPrivileges(status("000001ffffffffff"));
  assert.throws(
    () => checkLinuxPrivileges(status("000001fffeffefff")),
    (e: unknown) => e instanceof PrivilegeError && e.message === LINUX_PRIVILEGE_MESSAGE,
  );
  assert.throws(() => checkLinuxPrivileges(status("0000000000000000")), PrivilegeError);
  assert.equal(LINUX_PRIVILEGE_MESSAGE.split(". ").length, 1);
});

Deno.test("`checkLinuxPrivileges()` sees a real process without CAP_NET_ADMIN", async () => {
  const url = new URL("../../../src/platform/linux/privileges.ts", import.meta.url).href;
  const code = `import { checkLinuxPrivileges } from "${url}";
try { checkLinuxPrivileges(); console.log("ok"); } catch (e) { console.log(e.name + ": " + e.message); }`;
  const denied = await runCommand([
    "setpriv",
    "--bounding-set=-net_admin",
    Deno.execPath(),
    "eval",
    code,
  ]);
  assert.equal(denied.stdout.trim(), `PrivilegeError: ${LINUX_PRIVILEGE_MESSAGE}`, denied.stderr);
  const allowed = await runCommand([Deno.execPath(), "eval", code]);
  assert.equal(allowed.stdout.trim(), "ok", allowed.stderr);
});
