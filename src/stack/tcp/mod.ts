/**
 * The userspace TCP (RFC 9293) used by the `gvisor` stack mode: {@linkcode TcpStack} (flow table,
 * passive open through {@linkcode PendingFlow}, timers, output) and {@linkcode TcpConnection}
 * (the state machine and its application API).
 *
 * @module
 */

export { resolveTunables, TCP_DEFAULTS, type TcpTunables } from "./config.ts";
export {
  type CloseReason,
  type ConnectionHandler,
  TCP_STATES,
  TcpConnection,
  type TcpConnectionCounters,
  type TcpState,
} from "./connection.ts";
export { type PendingFlow, TcpStack, type TcpStackOptions, type TcpStackStats } from "./stack.ts";
export { FlowNode } from "../flow_table.ts";
export type { TimerEntry } from "./timers.ts";
