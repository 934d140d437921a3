/**
 * The demo's embedded configurations (sing-box format), fed to `tunbox run -c stdin`.
 *
 * @module
 */

import { TOPOLOGY } from "./topology.ts";

/**
 * tunbox with a TUN in the client namespace: the seed user's shape (private and the proxy
 * server's own address direct, everything else to the local SOCKS5 server), plus the Clash
 * API the demo client reads connections from. The short UDP timeout lets the DNS query's
 * session close (and be reported) within the demo.
 */
export function tunConfig(): Record<string, unknown> {
  return {
    log: { level: "info" },
    inbounds: [{
      type: "tun",
      tag: "tun-in",
      address: [TOPOLOGY.tunAddress],
      auto_route: true,
      strict_route: true,
      udp_timeout: "2s",
    }],
    outbounds: [
      { type: "socks", tag: "proxy", server: "127.0.0.1", server_port: TOPOLOGY.socksPort },
      { type: "direct", tag: "direct" },
    ],
    route: {
      auto_detect_interface: true,
      rules: [
        { ip_is_private: true, outbound: "direct" },
        { ip_cidr: [`${TOPOLOGY.directServer}/32`], outbound: "direct" },
      ],
      final: "proxy",
    },
    experimental: { clash_api: { external_controller: TOPOLOGY.apiAddress } },
  };
}

/**
 * The embedded SOCKS5 server: tunbox's own `socks` inbound on 127.0.0.1, relaying through a
 * direct outbound whose sockets bind to the second address of the client's link, so its
 * traffic bypasses the TUN (see `topology.ts`).
 */
export function socksConfig(): Record<string, unknown> {
  return {
    log: { level: "info" },
    inbounds: [{
      type: "socks",
      tag: "socks-in",
      listen: "127.0.0.1",
      listen_port: TOPOLOGY.socksPort,
    }],
    outbounds: [{
      type: "direct",
      tag: "direct",
      inet4_bind_address: TOPOLOGY.clientSocksEgress,
    }],
  };
}
