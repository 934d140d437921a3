/**
 * The `hosts` DNS server (sing-box `dns/transport/hosts`): answers A/AAAA questions from
 * `predefined` entries first, then from hosts files (`path`, default `/etc/hosts`) in order; a
 * name found answers with its addresses of the question's family (none: an empty NOERROR), TTL
 * 600 s. Everything else is NXDOMAIN. Files are read again when their size or modification time
 * changes, checked at most every 5 seconds. Names compare case-insensitively.
 *
 * @module
 */

import type { Reactor } from "../io/reactor.ts";
import { parseIp } from "../net/ip.ts";
import { DEFAULT_HOSTS_PATH, HostsFile } from "./hosts_file.ts";
import type { DnsTransport } from "./transport.ts";
import {
  addressResponse,
  canonicalName,
  parseMessage,
  RCODE_NXDOMAIN,
  statusResponse,
  TYPE_A,
  TYPE_AAAA,
} from "../net/dns/wire.ts";

/** TTL of answers from hosts (sing-box `C.DefaultDNSTTL`). */
export const HOSTS_TTL = 600;

/** A `hosts` DNS server. */
export class HostsTransport implements DnsTransport {
  readonly type = "hosts";
  readonly #predefined = new Map<string, Uint8Array[]>();
  readonly #files: HostsFile[];

  constructor(
    readonly tag: string,
    reactor: Pick<Reactor, "now">,
    paths: readonly string[],
    predefined: Record<string, readonly string[]>,
  ) {
    const now = () => reactor.now();
    this.#files = (paths.length > 0 ? paths : [DEFAULT_HOSTS_PATH]).map((p) =>
      new HostsFile(p, now)
    );
    for (const [name, values] of Object.entries(predefined)) {
      const addrs = values.map((v) => {
        const a = parseIp(v);
        if (!a) {
          throw new TypeError(`DNS server "${tag}": predefined "${name}": invalid address "${v}"`);
        }
        return a;
      });
      this.#predefined.set(canonicalName(name.replace(/\.$/, "")), addrs);
    }
  }

  /** Addresses for `name` from predefined entries, then the files (empty when unknown). */
  lookup(name: string): Uint8Array[] {
    const key = canonicalName(name.replace(/\.$/, ""));
    const pre = this.#predefined.get(key);
    if (pre) return pre;
    for (const f of this.#files) {
      const found = f.lookup(key);
      if (found.length > 0) return found;
    }
    return [];
  }

  exchange(query: Uint8Array, _timeoutMs: number): Promise<Uint8Array> {
    const layout = parseMessage(query);
    const q = layout.questions[0];
    if (q && (q.type === TYPE_A || q.type === TYPE_AAAA)) {
      const addrs = this.lookup(q.name);
      if (addrs.length > 0) {
        return Promise.resolve(addressResponse(query, layout, addrs, HOSTS_TTL));
      }
    }
    return Promise.resolve(
      statusResponse(query, layout, {
        rcode: RCODE_NXDOMAIN,
        authoritative: false,
        recursionAvailable: false,
      }),
    );
  }

  close(): void {}
}
