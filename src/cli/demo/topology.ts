/**
 * The demo's addresses and names, shared by the orchestrator, the far services and the
 * client (every one of them dials IP literals: see `src/platform/linux/netns.ts`).
 *
 * ```
 *  client namespace                                   far namespace
 *  ┌──────────────────────────────────────────┐       ┌─────────────────────────────────┐
 *  │ demo client ─▶ TUN 198.18.0.1/30 (tunbox)│       │ 203.0.113.10  HTTP (web)        │
 *  │ SOCKS5 127.0.0.1:1080 (tunbox, socks in) │ veth  │ 203.0.113.20  HTTP (direct rule)│
 *  │   egress bound to 10.200.0.2             │◀─────▶│ 203.0.113.53  DNS over UDP      │
 *  │ to-far: 10.200.0.1/24 + 10.200.0.2/24    │       │ to-client: 10.200.0.254/24      │
 *  │ default via 10.200.0.254                 │       │ to-client-2: 10.201.0.254/24    │
 *  │ to-far-2: 10.201.0.1/24 (second uplink)  │◀─────▶│                                 │
 *  └──────────────────────────────────────────┘ veth  └─────────────────────────────────┘
 * ```
 *
 * The second uplink stands for another network (Wi-Fi after Ethernet): the demo moves the
 * default route onto it while tunbox runs, and shows new direct connections leaving from it.
 *
 * The far addresses are reached only through the client's default route, which tunbox's
 * `auto_route` takes over, so the client's sockets go into the TUN. The SOCKS server's
 * direct outbound binds its sockets to 10.200.0.2: sing-tun's rules send sockets bound to a
 * source other than the TUN's through the main table, so its own traffic bypasses the TUN,
 * and the far side can tell the paths apart (10.200.0.2 = through SOCKS, 10.200.0.1 = the
 * direct outbound, bound to the interface).
 *
 * @module
 */

/** Interface names and addresses. */
export const TOPOLOGY = {
  clientLink: "to-far",
  farLink: "to-client",
  clientDirect: "10.200.0.1",
  clientSocksEgress: "10.200.0.2",
  farGateway: "10.200.0.254",
  clientLink2: "to-far-2",
  farLink2: "to-client-2",
  clientDirect2: "10.201.0.1",
  farGateway2: "10.201.0.254",
  linkPrefixLen: 24,
  web: "203.0.113.10",
  directServer: "203.0.113.20",
  dns: "203.0.113.53",
  tunAddress: "198.18.0.1/30",
  socksPort: 1080,
  apiAddress: "127.0.0.1:9090",
  dnsName: "demo.tunbox.test",
} as const;

/** The HTTP fetch: size and payload seed. */
export const FETCH = { size: 4 * 1024 * 1024, seed: 7 } as const;

/** Length of the throughput run, seconds. */
export const THROUGHPUT_SECONDS = 3;
