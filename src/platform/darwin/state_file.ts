/**
 * Crash safety on macOS: before tunbox adds routes through the routing socket or changes the
 * system's DNS settings, it writes what it is about to do, and what was there before, to a state
 * file (`/var/run/tunbox/<device>.json`, one per TUN; `TUNBOX_STATE_DIR` overrides the
 * directory). A clean stop undoes the changes and deletes the file. A file whose process is gone
 * is what a killed run left: the next start and `tunbox cleanup` undo it
 * (`platform.ts` `recoverState`) and delete it.
 *
 * `/var/run` is emptied at boot, as are the routes and the dynamic store, so a file never
 * outlives the changes it describes.
 *
 * ```json
 * { "version": 1, "pid": 4242, "device": "utun8",
 *   "routes": [{ "prefix": "0.0.0.0/1", "gateway": "198.18.0.1" }],
 *   "dns": { "store": [{ "key": "State:/Network/Service/tunbox-utun8/DNS", "original": null }] } }
 * ```
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Plist } from "../../../ffi/darwin/system_configuration.ts";

const log = getLogger(["tunbox", "platform"]);

/** A dynamic-store key tunbox set, with the value it had before (null: absent). */
export interface StoreChange {
  key: string;
  original: Plist | null;
}

/** What one run changed (or is about to change). */
export interface DarwinState {
  version: 1;
  /** The process that made the changes. */
  pid: number;
  /** The utun the changes are for. */
  device: string;
  /** Routes added through the routing socket. */
  routes: { prefix: string; gateway: string }[];
  /** System DNS changes (SCDynamicStore keys). */
  dns?: { store: StoreChange[] };
}

/** The directory state files live in. */
export function stateDir(): string {
  return Deno.env.get("TUNBOX_STATE_DIR") ?? "/var/run/tunbox";
}

/** The state file of one utun; `write` replaces it atomically (write + rename). */
export class StateFile {
  readonly path: string;
  #state: DarwinState;

  constructor(readonly dir: string, device: string, pid: number = Deno.pid) {
    if (!/^[A-Za-z0-9_.-]+$/.test(device)) {
      throw new TypeError(`Cannot name a state file after device "${device}"`);
    }
    this.path = `${dir}/${device}.json`;
    this.#state = { version: 1, pid, device, routes: [] };
  }

  get state(): Readonly<DarwinState> {
    return this.#state;
  }

  /** Applies `change` to the recorded state and writes it before the caller acts. */
  update(change: (s: DarwinState) => void): void {
    const next = structuredClone(this.#state);
    change(next);
    Deno.mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    const tmp = `${this.path}.${Deno.pid}.tmp`;
    Deno.writeTextFileSync(tmp, JSON.stringify(next, null, 2) + "\n", { mode: 0o644 });
    Deno.renameSync(tmp, this.path);
    this.#state = next;
  }

  /** Deletes the file (nothing left to undo). */
  remove(): void {
    try {
      Deno.removeSync(this.path);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
}

/** Reads every state file in `dir`; unreadable ones are logged and skipped. */
export function listStates(dir: string): { path: string; state: DarwinState }[] {
  const out: { path: string; state: DarwinState }[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
  for (const e of entries) {
    if (!e.isFile || !e.name.endsWith(".json")) continue;
    const path = `${dir}/${e.name}`;
    try {
      const state = JSON.parse(Deno.readTextFileSync(path)) as DarwinState;
      if (
        state?.version !== 1 || typeof state.pid !== "number" || !Array.isArray(state.routes) ||
        typeof state.device !== "string"
      ) {
        throw new TypeError("not a tunbox state file");
      }
      out.push({ path, state });
    } catch (err) {
      log.warn("ignoring state file {path}: {error}", { path, error: String(err) });
    }
  }
  return out;
}
