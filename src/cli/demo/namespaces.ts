/**
 * Builds the demo's two network namespaces (see `topology.ts`) without leaving the current
 * one and without touching it: both are made with `unshare` and held as fds; the veth pair
 * is created from inside the client namespace with its peer placed directly into the far
 * namespace; addresses and routes are set with rtnetlink from inside each namespace.
 *
 * @module
 */

import { parseIp, parsePrefix, type Prefix } from "../../net/ip.ts";
import { NetNamespace } from "../../platform/linux/netns.ts";
import {
  type AddressInfo,
  type LinkInfo,
  type RouteInfo,
  type RtNetlink,
  type RuleInfo,
  withRtNetlink,
} from "../../platform/linux/rtnetlink/mod.ts";
import { TOPOLOGY } from "./topology.ts";

const RT_TABLE_MAIN = 254;

function prefix(text: string): Prefix {
  const p = parsePrefix(text);
  if (!p) throw new RangeError(`Cannot parse prefix "${text}"`);
  return p;
}

function defaultVia(gateway: string, oif: number) {
  return {
    family: 4 as const,
    dst: prefix("0.0.0.0/0"),
    table: RT_TABLE_MAIN,
    gateway: parseIp(gateway)!,
    oif,
  };
}

/** The two namespaces. Close to let them go (after their processes have ended). */
export class DemoNamespaces implements Disposable {
  private constructor(readonly client: NetNamespace, readonly far: NetNamespace) {}

  /** Creates and wires both namespaces; on failure nothing is left behind. */
  static create(): DemoNamespaces {
    const client = NetNamespace.create();
    let far: NetNamespace | undefined;
    try {
      far = NetNamespace.create();
      const ns = new DemoNamespaces(client, far);
      ns.#wire();
      return ns;
    } catch (e) {
      far?.close();
      client.close();
      throw e;
    }
  }

  #wire(): void {
    const t = TOPOLOGY;
    const farFd = this.far.fd;
    this.client.run(() =>
      withRtNetlink((nl) => {
        nl.setLinkUp(nl.getLink("lo")!.index, true, "lo");
        nl.createVeth(t.clientLink, t.farLink, farFd);
        const link = nl.getLink(t.clientLink);
        if (!link) throw new Error(`veth "${t.clientLink}" missing after creation`);
        for (const a of [t.clientDirect, t.clientSocksEgress]) {
          nl.addAddress(link.index, prefix(`${a}/${t.linkPrefixLen}`), 0, t.clientLink);
        }
        nl.setLinkUp(link.index, true, t.clientLink);
        nl.addRoute(defaultVia(t.farGateway, link.index), t.clientLink);
        nl.createVeth(t.clientLink2, t.farLink2, farFd);
        const link2 = nl.getLink(t.clientLink2);
        if (!link2) throw new Error(`veth "${t.clientLink2}" missing after creation`);
        nl.addAddress(
          link2.index,
          prefix(`${t.clientDirect2}/${t.linkPrefixLen}`),
          0,
          t.clientLink2,
        );
        nl.setLinkUp(link2.index, true, t.clientLink2);
      })
    );
    this.far.run(() =>
      withRtNetlink((nl) => {
        const lo = nl.getLink("lo")!;
        nl.setLinkUp(lo.index, true, "lo");
        for (const a of [t.web, t.directServer, t.dns]) {
          nl.addAddress(lo.index, prefix(`${a}/32`), 0, "lo");
        }
        const peers: [string, string][] = [[t.farLink, t.farGateway], [t.farLink2, t.farGateway2]];
        for (const [name, gw] of peers) {
          const link = nl.getLink(name);
          if (!link) throw new Error(`veth peer "${name}" did not arrive in the far namespace`);
          nl.addAddress(link.index, prefix(`${gw}/${t.linkPrefixLen}`), 0, name);
          nl.setLinkUp(link.index, true, name);
        }
      })
    );
  }

  /**
   * Moves the client's default route from the first uplink to the second (what a Wi-Fi switch
   * does to a laptop's routing table).
   */
  switchUplink(): void {
    const t = TOPOLOGY;
    this.client.run(() =>
      withRtNetlink((nl) => {
        const first = nl.getLink(t.clientLink)!;
        const second = nl.getLink(t.clientLink2)!;
        nl.deleteRoute(defaultVia(t.farGateway, first.index), t.clientLink);
        nl.addRoute(defaultVia(t.farGateway2, second.index), t.clientLink2);
      })
    );
  }

  /** Links, addresses, rules and routes of the client namespace (rtnetlink dumps). */
  clientState(): NamespaceState {
    return this.client.run(() => withRtNetlink(readState));
  }

  close(): void {
    this.client.close();
    this.far.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** One namespace's network state. */
export interface NamespaceState {
  links: LinkInfo[];
  addresses: AddressInfo[];
  rules: RuleInfo[];
  routes: RouteInfo[];
}

function readState(nl: RtNetlink): NamespaceState {
  return {
    links: nl.listLinks(),
    addresses: nl.listAddresses(),
    rules: nl.listRules(),
    routes: nl.listRoutes(),
  };
}

/** Links of the calling thread's namespace (to prove the demo leaves it as it was). */
export function currentLinks(): LinkInfo[] {
  return withRtNetlink((nl) => nl.listLinks());
}
