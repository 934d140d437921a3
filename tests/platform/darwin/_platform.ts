/**
 * The Darwin platform over the fakes: the recording libc, a fake configd for the dynamic store,
 * and a fresh state directory under the system temp dir (removed when the test process ends),
 * so no test writes to /var/run.
 *
 * @module
 */

import {
  createDarwinPlatform,
  type DarwinPlatformHooks,
} from "../../../src/platform/darwin/platform.ts";
import type { Platform } from "../../../src/platform/types.ts";
import { FakeDarwinLibc } from "./_fake_libc.ts";
import { FakeConfigd } from "./_fake_store.ts";

const root = Deno.makeTempDirSync({ prefix: "tunbox-darwin-state-" });
globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(root, { recursive: true });
  } catch { /* already gone */ }
});
let n = 0;

/** A fresh state directory (created). */
export function freshStateDir(): string {
  const dir = `${root}/${++n}`;
  Deno.mkdirSync(dir);
  return dir;
}

export interface TestPlatform {
  fake: FakeDarwinLibc;
  configd: FakeConfigd;
  stateDir: string;
  platform: Platform;
}

/** The platform over fakes; `hooks` override the defaults (no resolver check timer). */
export function testPlatform(
  fake: FakeDarwinLibc = new FakeDarwinLibc(),
  hooks: DarwinPlatformHooks = {},
  configd: FakeConfigd = new FakeConfigd(),
  stateDir: string = freshStateDir(),
): TestPlatform {
  const platform = createDarwinPlatform(fake, {
    flushDnsCache: () => {},
    openStore: (name, opts) => configd.open(name, opts),
    stateDir,
    dnsCheckDelayMs: -1,
    ...hooks,
  });
  return { fake, configd, stateDir, platform };
}
