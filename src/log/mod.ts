/**
 * Logging for tunbox: {@linkcode configureLogging} from the config's `log` section on the main
 * thread and in each worker (`setup.ts`), the sing-box line format (`format.ts`), and
 * {@linkcode addLogTap} for whoever wants the records themselves (the Clash API's `/logs`,
 * forwarded from the workers; `tap.ts`). Modules log through logtape categories
 * `["tunbox", <module>]`.
 *
 * ```ts
 * import { configureLogging, isEnabled } from "../log/mod.ts";
 * await configureLogging(options.log, { color: true });
 * const log = getLogger(["tunbox", "dns"]);
 * if (isEnabled("debug")) log.debug("query {name}", { name });
 * ```
 *
 * @module
 */

export { formatLine, formatLocalTime, type LineFormat } from "./format.ts";
export {
  configureLogging,
  isEnabled,
  lineSink,
  type LoggingSetup,
  resetLogging,
  toLogtapeLevel,
} from "./setup.ts";
export { addLogTap, type LogEntry } from "./tap.ts";
