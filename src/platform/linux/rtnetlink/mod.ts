/**
 * rtnetlink, Linux's routing socket, as tunbox uses it for links, addresses, routes and policy
 * rules: the objects (`types.ts`), pure encoders and decoders checked byte for byte
 * (`encode.ts`, `decode.ts`), and the synchronous socket that sends requests and reads dumps
 * (`socket.ts`). A socket acts in the network namespace of the thread that opened it.
 *
 * ```ts
 * import { withRtNetlink } from "./rtnetlink/mod.ts";
 * const link = withRtNetlink((nl) => nl.getLink("eth0"));
 * withRtNetlink((nl) => nl.addRoute({ family: 4, dst, table: 2022, oif: link!.index }, "tun0"));
 * ```
 *
 * @module
 */

export type {
  AddressInfo,
  LinkInfo,
  NumRange,
  RequestBody,
  RouteInfo,
  RouteSpec,
  RuleAction,
  RuleInfo,
  RuleSpec,
} from "./types.ts";
export { describeRoute, RULE_ACTION_CODES } from "./types.ts";
export {
  encodeAddress,
  encodeLinkChange,
  encodeLinkNamespace,
  encodeRoute,
  encodeRule,
  encodeRuleDeleteByPriority,
  encodeVethCreate,
  familyCode,
} from "./encode.ts";
export { decodeAddress, decodeLink, decodeRoute, decodeRule } from "./decode.ts";
export { NetlinkError, RtNetlink, type RtNetlinkOptions, withRtNetlink } from "./socket.ts";
