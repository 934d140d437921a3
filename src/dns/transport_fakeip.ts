/**
 * The `fakeip` DNS server: answers A/AAAA questions with an address allocated from its range
 * ({@linkcode FakeIpStore}), one record, TTL 600 s. Other question types are an error ("only IP
 * queries are supported by fakeip"), as in sing-box. Names are lower-cased before allocation,
 * so a name gets one address whatever its case (sing-box keys by the name as asked).
 *
 * @module
 */

import { FAKEIP_TTL, FakeIpStore } from "./fakeip.ts";
import { type SharedDnsMemory, SharedFakeIpStore } from "./shared_names.ts";

/** What the transport needs of a store (in-process or shared by every worker). */
export type FakeIpStoreLike = Pick<
  FakeIpStore,
  "contains" | "hasFamily" | "create" | "lookup" | "addressOf"
>;
import type { DnsTransport } from "./transport.ts";
import {
  addressResponse,
  canonicalName,
  parseMessage,
  TYPE_A,
  TYPE_AAAA,
} from "../net/dns/wire.ts";
import type { Prefix } from "../net/ip.ts";

/** A `fakeip` DNS server. */
export class FakeIpTransport implements DnsTransport {
  readonly type = "fakeip";
  readonly store: FakeIpStoreLike;

  constructor(
    readonly tag: string,
    inet4Range?: Prefix,
    inet6Range?: Prefix,
    shared?: SharedDnsMemory,
  ) {
    try {
      this.store = shared && (shared.fakeip4 || shared.fakeip6)
        ? new SharedFakeIpStore(shared, inet4Range, inet6Range)
        : new FakeIpStore(inet4Range, inet6Range);
    } catch (error) {
      throw new TypeError(`DNS server "${tag}": ${(error as Error).message}`, { cause: error });
    }
  }

  exchange(query: Uint8Array, _timeoutMs: number): Promise<Uint8Array> {
    try {
      const layout = parseMessage(query);
      const q = layout.questions[0];
      if (!q || (q.type !== TYPE_A && q.type !== TYPE_AAAA)) {
        throw new TypeError(`DNS server "${this.tag}": only IP queries are supported by fakeip`);
      }
      // Lower-cased: one address per name whatever the case (0x20-randomising resolvers).
      const addr = this.store.create(canonicalName(q.name), q.type === TYPE_AAAA);
      return Promise.resolve(addressResponse(query, layout, [addr], FAKEIP_TTL));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  close(): void {}
}
