/**
 * Routing: connection metadata, rule matchers and the router.
 *
 * @module
 */

export {
  type ConnMetadata,
  type ConnMetadataInit,
  dialDestination,
  type Endpoint,
  newConnMetadata,
} from "./metadata.ts";
export {
  type RouteDecision,
  type RouteHooks,
  Router,
  type RouterOptions,
  type RouteTrace,
  type RuleStep,
} from "./router.ts";
export {
  type CompiledRule,
  type CompiledRules,
  compileRuleMatch,
  compileRules,
  type ItemTrace,
  type RuleItem,
  type RuleMatcher,
} from "./rule.ts";
export {
  applyRouteOptions,
  type CompiledAction,
  DEFAULT_SNIFF_TIMEOUT_MS,
  formatGoDuration,
  PACKET_SNIFFERS,
  RejectFloodGuard,
  type ResolveOptions,
  STREAM_SNIFFERS,
} from "./action.ts";
export { IpSet } from "./ip_set.ts";
export { isPrivateAddr, isPublicAddr } from "../net/ip_private.ts";
export { DomainKeywords, DomainSet } from "./domain_set.ts";
export { compileGoRegex, DomainRegexes } from "./domain_regex.ts";
export { PortSet } from "./port_set.ts";
export { MatchState, type RuleSetLookup, type RuleSetRef } from "./match_state.ts";
export { LiveRuleSet, type RuleSetPayload, RuleSetRegistry } from "./rule_set.ts";
export {
  type BinaryItems,
  type CompiledRuleSet,
  compileRuleSet,
  extractIpRanges,
  prebuildRules,
  type RuleSetDefaultRule,
  type RuleSetLogicalRule,
  type RuleSetRule,
} from "./headless.ts";
