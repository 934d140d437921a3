/**
 * The OS layer: the {@linkcode Platform} interface (`types.ts`), {@linkcode loadPlatform} for the
 * running OS (`load.ts`; Linux in `linux/`, macOS in `darwin/`, each loaded only on its OS), and
 * what both share (`network_change.ts`; `tunDns` from `src/config/tun_dns.ts`). Everything
 * underneath is FFI.
 *
 * ```ts
 * import { loadPlatform } from "../platform/mod.ts";
 * const platform = await loadPlatform();
 * const device = platform.openTun({ name: "", mtu: 9000, addresses, queues: 2, vnetHdr: false });
 * ```
 *
 * @module
 */

export type * from "./types.ts";
export { loadPlatform } from "./load.ts";
export { diffNetwork } from "./network_change.ts";
export { nextAddressIn, type TunDns, tunDns } from "../config/tun_dns.ts";
export type { RuleInfo } from "./linux/rtnetlink/mod.ts";
