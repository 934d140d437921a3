/**
 * Run-time choices every worker must see alike: the Clash mode (`clash_mode` rules) and the
 * selected member of each `selector`. They live in one `SharedArrayBuffer` made by the main
 * thread, one `Int32` cell per choice holding an index into a list fixed at start (the mode list,
 * a selector's members), so a switch is one atomic store and a rule or a dial reads it without a
 * message. The main thread restores them from the cache file at start and persists each change
 * through the hooks it passes (`onMode`, `onSelect`).
 *
 * The mode list is sing-box's (`experimental.CalculateClashModeList` and the Clash server): the
 * `clash_mode` values of route and DNS rules (logical rules included), the ones sing-box does not
 * predefine sorted first, then `Rule`, `Global`, `Direct` when used; `default_mode` (default
 * `Rule`) is put in front when missing. Without `experimental.clash_api` there is no mode and
 * `clash_mode` items never match, as in sing-box.
 *
 * ```ts
 * // main thread
 * const state = SharedState.create(options, { mode: cache.loadMode(), selected: cache.allSelected() }, {
 *   onMode: (m) => cache.storeMode(m),
 *   onSelect: (group, tag) => cache.storeSelected(group, tag),
 * });
 * worker.postMessage({ state: state.memory });
 * // a worker
 * const shared = new SharedState(init.state);
 * shared.mode; // "Rule"
 * ```
 *
 * @module
 */

import type { DnsRule, Options, Rule } from "../config/types.ts";

/** The structured-clone-safe part workers receive. */
export interface SharedStateMemory {
  buffer: SharedArrayBuffer;
  /** The mode list (empty without `experimental.clash_api`). */
  modes: string[];
  /** Selectors in cell order, with their members. */
  selectors: { tag: string; members: string[] }[];
  /**
   * NTP time shared by every worker, when `ntp.enabled`: memory from `SharedClock.memory()`
   * (`src/ntp/`), which the main thread adds before the workers start.
   */
  clock?: SharedArrayBuffer;
}

/** What the main thread restored from the cache file. */
export interface RestoredState {
  mode?: string | undefined;
  selected?: ReadonlyMap<string, string> | undefined;
}

/** Called on the main thread after a change (to persist it). */
export interface StateHooks {
  onMode?: (mode: string) => void;
  onSelect?: (group: string, member: string) => void;
}

const PREDEFINED_MODES = ["Rule", "Global", "Direct"];

function modesOfRules(rules: readonly (Rule | DnsRule)[], out: string[]): void {
  for (const r of rules) {
    if (r.type === "logical") modesOfRules(r.rules as readonly (Rule | DnsRule)[], out);
    else if (r.clash_mode) out.push(r.clash_mode);
  }
}

/**
 * sing-box's mode list for a config: rule modes (others sorted, then the predefined ones in
 * their order), with `default_mode` (default "Rule") in front when missing. Empty without
 * `experimental.clash_api`.
 */
export function clashModeList(options: Options): string[] {
  const api = options.experimental.clash_api;
  if (!api) return [];
  const used: string[] = [];
  modesOfRules(options.route.rules, used);
  modesOfRules(options.dns.rules, used);
  const unique = [...new Set(used.filter((m) => m !== ""))];
  const list = unique.filter((m) => !PREDEFINED_MODES.includes(m)).sort();
  for (const m of PREDEFINED_MODES) if (unique.includes(m)) list.push(m);
  const defaultMode = api.default_mode || "Rule";
  if (!list.includes(defaultMode)) list.unshift(defaultMode);
  return list;
}

/** Finds `mode` in `list`: exactly, else case-insensitively (sing-box's `SetMode`). */
function findMode(list: readonly string[], mode: string): number {
  const exact = list.indexOf(mode);
  if (exact >= 0) return exact;
  const lower = mode.toLowerCase();
  return list.findIndex((m) => m.toLowerCase() === lower);
}

const CELL_MODE = 0;
const CELL_SELECTORS = 1;

/** The shared mode and selector choices (see the module description). */
export class SharedState {
  readonly memory: SharedStateMemory;
  readonly #cells: Int32Array;
  readonly #selectorIndex: Map<string, number>;
  readonly #hooks: StateHooks;

  /** Attaches to memory made by {@linkcode SharedState.create} (workers pass no hooks). */
  constructor(memory: SharedStateMemory, hooks: StateHooks = {}) {
    this.memory = memory;
    this.#cells = new Int32Array(memory.buffer);
    this.#selectorIndex = new Map(memory.selectors.map((s, i) => [s.tag, i]));
    this.#hooks = hooks;
  }

  /**
   * Makes the memory for `options` (main thread): the mode is `restored.mode` when it is in the
   * list (case-insensitively, as sing-box), else `default_mode`; a selector starts on its
   * restored member when that is still a member, else `default`, else its first member.
   */
  static create(
    options: Options,
    restored: RestoredState = {},
    hooks: StateHooks = {},
  ): SharedState {
    const modes = clashModeList(options);
    const selectors = options.outbounds
      .filter((o) => o.type === "selector")
      .map((o) => ({ tag: o.tag, members: [...(o as { outbounds: string[] }).outbounds] }));
    const buffer = new SharedArrayBuffer(4 * (CELL_SELECTORS + selectors.length));
    const cells = new Int32Array(buffer);
    let mode = modes.length > 0 ? 0 : -1;
    if (restored.mode) {
      const i = findMode(modes, restored.mode);
      if (i >= 0) mode = i;
    }
    cells[CELL_MODE] = mode;
    options.outbounds.forEach((o) => {
      if (o.type !== "selector") return;
      const at = selectors.findIndex((s) => s.tag === o.tag);
      const members = selectors[at]!.members;
      const saved = restored.selected?.get(o.tag);
      let index = saved !== undefined ? members.indexOf(saved) : -1;
      if (index < 0 && o.default !== undefined) index = members.indexOf(o.default);
      cells[CELL_SELECTORS + at] = Math.max(0, index);
    });
    const memory: SharedStateMemory = { buffer, modes, selectors };
    return new SharedState(memory, hooks);
  }

  /** The mode list ("" entries never). Empty without `experimental.clash_api`. */
  get modes(): readonly string[] {
    return this.memory.modes;
  }

  /** The current mode, "" when there is none (no Clash API). */
  get mode(): string {
    const i = Atomics.load(this.#cells, CELL_MODE);
    return this.memory.modes[i] ?? "";
  }

  /**
   * Switches the mode (sing-box `SetMode`): `mode` is matched exactly, else case-insensitively.
   * Returns the mode now in force, or undefined when `mode` is not in the list (nothing
   * changes). `onMode` runs only on a change.
   */
  setMode(mode: string): string | undefined {
    const i = findMode(this.memory.modes, mode);
    if (i < 0) return undefined;
    const before = Atomics.exchange(this.#cells, CELL_MODE, i);
    const now = this.memory.modes[i]!;
    if (before !== i) this.#hooks.onMode?.(now);
    return now;
  }

  /** Whether `tag` is a selector known to this state. */
  hasSelector(tag: string): boolean {
    return this.#selectorIndex.has(tag);
  }

  /** The member selector `tag` uses now, or undefined for an unknown selector. */
  selected(tag: string): string | undefined {
    const at = this.#selectorIndex.get(tag);
    if (at === undefined) return undefined;
    const members = this.memory.selectors[at]!.members;
    return members[Atomics.load(this.#cells, CELL_SELECTORS + at)] ?? members[0];
  }

  /**
   * Selects `member` of selector `tag` for every worker. False when either is unknown. `onSelect`
   * runs only on a change (sing-box stores the choice only when it changed).
   */
  select(tag: string, member: string): boolean {
    const at = this.#selectorIndex.get(tag);
    if (at === undefined) return false;
    const index = this.memory.selectors[at]!.members.indexOf(member);
    if (index < 0) return false;
    const before = Atomics.exchange(this.#cells, CELL_SELECTORS + at, index);
    if (before !== index) this.#hooks.onSelect?.(tag, member);
    return true;
  }
}
