/**
 * Limits on TUN inbound values that both `check` (src/config/validate.ts) and the Linux route
 * planner (src/platform/linux/auto_route.ts) apply, so the config `check` accepts is one the
 * planner can install.
 *
 * @module
 */

/** sing-tun's default routing table for auto_route. */
export const DEFAULT_TABLE_INDEX = 2022;
/** sing-tun's default first rule priority. */
export const DEFAULT_RULE_INDEX = 9000;
/** Rules occupy [index, index + RULE_SPAN]; the `nop` landing rule is at index + RULE_SPAN. */
export const RULE_SPAN = 10;
/** Highest uid a rule may name (uid -1 is "no uid"). */
export const UID_END = 0xfffffffe;

/** Why `table` cannot be `iproute2_table_index`, or undefined. */
export function tableIndexProblem(table: number): string | undefined {
  if (!Number.isInteger(table) || table < 1 || table > 0xffffffff || table >= 253 && table <= 255) {
    return "must be 1-4294967295 and not 253, 254 or 255 (the default, main and local tables)";
  }
  return undefined;
}

/** Why `index` cannot be `iproute2_rule_index`, or undefined. */
export function ruleIndexProblem(index: number): string | undefined {
  if (!Number.isInteger(index) || index < 1 || index + RULE_SPAN > 32765) {
    return `must be 1-${32765 - RULE_SPAN} so that [index, index+${RULE_SPAN}] stays clear of ` +
      "priority 0 and the main/default rules";
  }
  return undefined;
}
