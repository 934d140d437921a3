/**
 * The `clash_mode` rule item (sing-box `route/rule/rule_item_clash_mode.go`): matches when the
 * current Clash mode equals the item's value, case-insensitively. Without
 * `experimental.clash_api` there is no mode and the item never matches, as in sing-box.
 *
 * The current mode is read from the thread's mode source, set once per worker from the shared
 * state ({@linkcode setClashModeSource}): every worker sees a switch made through the Clash API
 * (`Box.setClashMode`) at its next match, without recompiling rules.
 *
 * ```ts
 * setClashModeSource(() => sharedState.mode); // once, in each worker
 * const item = clashModeItem("Direct");
 * item.match(meta); // true while the mode is "direct", "Direct", ...
 * ```
 *
 * @module
 */

import type { ConnMetadata } from "./metadata.ts";

let source: () => string = () => "";

/** Sets where this thread reads the current Clash mode ("" = none: items never match). */
export function setClashModeSource(current: () => string): void {
  source = current;
}

/** The current Clash mode of this thread ("" when there is none). */
export function currentClashMode(): string {
  return source();
}

/** The rule item for `clash_mode: mode`. */
export function clashModeItem(mode: string): {
  readonly text: string;
  match(meta: ConnMetadata): boolean;
} {
  const want = mode.toLowerCase();
  return {
    text: `clash_mode=${mode}`,
    match: () => {
      const now = source();
      return now !== "" && now.toLowerCase() === want;
    },
  };
}
