/**
 * A dynamic store that behaves like configd's for what tunbox does with it: keys and values
 * (deep-copied in and out), sessions with `kSCDynamicStoreUseSessionKeys` whose keys vanish when
 * the session closes or the "process" is killed (`killSessions()`), a recorded call log, and
 * injectable failures. `State:/Network/Global/DNS` starts as a Wi-Fi network's.
 *
 * @module
 */

import type { DynamicStore, Plist } from "../../../ffi/darwin/system_configuration.ts";

/** Shared state of every session (configd). */
export class FakeConfigd {
  readonly values = new Map<string, Plist>([
    ["State:/Network/Global/DNS", {
      ServerAddresses: ["192.168.1.1"],
      SearchDomains: ["home.arpa"],
    }],
    ["State:/Network/Global/IPv4", {
      PrimaryInterface: "en0",
      PrimaryService: "A1B2C3D4-0000-4000-8000-000000000001",
      Router: "192.168.1.1",
    }],
  ]);
  readonly calls: string[] = [];
  /** Keys owned by each open session that asked for session keys. */
  readonly #sessionKeys = new Map<number, Set<string>>();
  #nextSession = 1;
  /** `set` of a key starting with this fails (once). */
  failSetOn: string | null = null;

  open(name: string, opts: { sessionKeys: boolean }): DynamicStore {
    const id = this.#nextSession++;
    if (opts.sessionKeys) this.#sessionKeys.set(id, new Set());
    this.calls.push(`open ${name}${opts.sessionKeys ? " (session keys)" : ""}`);
    let open = true;
    const check = () => {
      if (!open) throw new Error(`fake store: session ${name} is closed`);
    };
    return {
      get: (key) => {
        check();
        const v = this.values.get(key);
        return v === undefined ? null : structuredClone(v);
      },
      set: (key, value) => {
        check();
        if (this.failSetOn !== null && key.startsWith(this.failSetOn)) {
          this.failSetOn = null;
          this.calls.push(`set ${key} FAILED`);
          throw new Error(`set dynamic store key ${key} failed: Permission denied (1003)`);
        }
        this.calls.push(`set ${key} ${JSON.stringify(value)}`);
        this.values.set(key, structuredClone(value));
        this.#sessionKeys.get(id)?.add(key);
      },
      remove: (key) => {
        check();
        this.calls.push(`remove ${key}${this.values.has(key) ? "" : " (absent)"}`);
        this.values.delete(key);
        this.#sessionKeys.get(id)?.delete(key);
      },
      keys: (pattern) => {
        check();
        const re = new RegExp(pattern);
        return [...this.values.keys()].filter((k) => re.test(k)).sort();
      },
      close: () => {
        if (!open) return;
        open = false;
        this.calls.push(`close ${name}`);
        this.#endSession(id);
      },
    };
  }

  /** What configd does when the process holding the sessions dies: session keys go. */
  killSessions(): void {
    for (const id of [...this.#sessionKeys.keys()]) this.#endSession(id);
  }

  #endSession(id: number): void {
    for (const key of this.#sessionKeys.get(id) ?? []) this.values.delete(key);
    this.#sessionKeys.delete(id);
  }

  /** The keys under State:/Network/Service/tunbox-*. */
  tunboxKeys(): string[] {
    return [...this.values.keys()].filter((k) => k.includes("/Service/tunbox-")).sort();
  }
}
