/**
 * The `wireguard` endpoint (sing-box 1.11+) and legacy outbound: userspace WireGuard
 * ({@linkcode WireGuardDevice}) carrying the flows through tunbox's own TCP/IP stack
 * ({@linkcode ClientNetstack}), so no kernel module or interface is needed. TCP connections and
 * UDP flows are opened from the interface's addresses; domains are resolved first (with the
 * dial fields' `domain_resolver`, as sing-box does for endpoints). The UDP socket to the peers
 * uses the dial fields (`bind_interface`, `routing_mark`, `detour`...).
 *
 * The device starts with the first dial (so a worker that never routes to it never handshakes).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { WireguardOutboundOptions } from "../../config/types.ts";
import type { Stream } from "../../io/stream.ts";
import { resolveDestination, resolveRequestOf } from "../direct_dialer.ts";
import { networksOf, ServerConnector, serverDestination } from "../proxy_server.ts";
import type { OutboundEnv } from "../registry.ts";
import {
  type Destination,
  type DialMeta,
  formatDestination,
  type Outbound,
  OutboundError,
  toOutboundError,
  type UdpFlow,
} from "../types.ts";
import { type PeerConfig, WireGuardDevice } from "./device.ts";
import { ClientNetstack } from "./netstack.ts";
import { publicKey, TRANSPORT_HEADER } from "./noise.ts";
import { TAG_LENGTH } from "../../crypto/aead.ts";

/** sing-box's default MTU for WireGuard. */
export const DEFAULT_MTU = 1408;

function key(b64: string): Uint8Array {
  return new Uint8Array(Buffer.from(b64, "base64"));
}

/** A WireGuard client outbound. */
export class WireGuardOutbound implements Outbound {
  readonly type = "wireguard";
  readonly name: string;
  readonly networks: ReadonlySet<"tcp" | "udp">;
  readonly #options: WireguardOutboundOptions;
  readonly #env: OutboundEnv;
  readonly #server: ServerConnector;
  readonly #peers: PeerConfig[];
  #device: WireGuardDevice | null = null;
  #stack: ClientNetstack | null = null;
  #starting: Promise<ClientNetstack> | null = null;

  constructor(readonly tag: string, options: WireguardOutboundOptions, env: OutboundEnv) {
    this.name = `wireguard ${options.legacy ? "outbound" : "endpoint"} "${tag}"`;
    this.#options = options;
    this.#env = env;
    this.networks = networksOf(options.network);
    const priv = key(options.private_key);
    if (priv.length !== 32) throw new TypeError("private_key is not a 32-byte base64 key");
    const pub = publicKey(priv);
    this.#peers = options.peers.map((p) => ({
      keys: {
        privateKey: priv,
        publicKey: pub,
        peerPublicKey: key(p.public_key),
        presharedKey: p.pre_shared_key ? key(p.pre_shared_key) : new Uint8Array(32),
      },
      endpoint: serverDestination(p.address, p.port),
      allowedIps: p.allowed_ips.map((a) => ({ addr: a.addr, bits: a.bits })),
      persistentKeepalive: p.persistent_keepalive_interval ?? 0,
      reserved: p.reserved ? new Uint8Array(p.reserved) : null,
    }));
    // The connector carries the dial fields; its "server" is the first peer (for messages).
    const first = options.peers[0]!;
    this.#server = new ServerConnector(this.name, first.address, first.port, options, env);
  }

  /** Starts the device and the stack on first use. */
  #start(meta: DialMeta): Promise<ClientNetstack> {
    if (this.#stack) return Promise.resolve(this.#stack);
    this.#starting ??= (async () => {
      const udp = await this.#server.openUdp(meta);
      const mtu = this.#options.mtu ?? DEFAULT_MTU;
      // A round's datagrams (a burst of segments, their ACKs) leave in one call: the largest is
      // the header, the packet padded to 16 and the tag.
      udp.holdSends?.(TRANSPORT_HEADER + ((mtu + 15) & ~15) + TAG_LENGTH);
      const stack = new ClientNetstack(
        this.#env.ctx.reactor,
        this.#options.address.map((a) => a.addr),
        mtu,
        (packet) => this.#device!.send(packet),
      );
      const device = new WireGuardDevice(this.#env.ctx.reactor, udp, this.#peers, this.name);
      device.onPacket = (packet) => stack.input(packet);
      udp.onClose = () => {
        // The socket went away (a network change): the next dial starts afresh.
        this.#device = null;
        this.#stack = null;
        this.#starting = null;
        stack.close();
      };
      this.#device = device;
      this.#stack = stack;
      return stack;
    })().catch((error) => {
      this.#starting = null;
      throw error;
    });
    return this.#starting;
  }

  async #target(dest: Destination, what: string): Promise<Uint8Array> {
    const addrs = await resolveDestination(
      dest,
      this.#env.ctx,
      this.#options.domain_resolver?.strategy ?? this.#options.domain_strategy ?? "",
      `${this.name}: ${what}`,
      resolveRequestOf(this.#options, this.#env.route, this.#options.tag),
    );
    const v4 = this.#options.address.some((a) => a.addr.length === 4);
    const v6 = this.#options.address.some((a) => a.addr.length === 16);
    const usable = addrs.find((a) => (a.length === 4 ? v4 : v6));
    if (!usable) {
      throw new OutboundError(
        "unreachable",
        `${this.name}: ${what}: the interface has no address of the destination's family`,
      );
    }
    return usable;
  }

  async dialTcp(dest: Destination, meta: DialMeta): Promise<Stream> {
    this.#server.checkNetwork(this.networks, "tcp");
    const what = `connect to ${formatDestination(dest)}`;
    const addr = await this.#target(dest, what);
    try {
      const stack = await this.#start(meta);
      return await stack.connect(addr, dest.port, this.#server.timeoutMs);
    } catch (error) {
      throw toOutboundError(error, `${this.name}: ${what}`, "refused");
    }
  }

  async openUdp(meta: DialMeta): Promise<UdpFlow> {
    this.#server.checkNetwork(this.networks, "udp");
    const stack = await this.#start(meta);
    const flow = stack.openUdp();
    // Domains are resolved per datagram destination by the caller's flow (the router hands
    // IP destinations for TUN flows); a domain here is dropped.
    return flow;
  }

  close(): void {
    this.#device?.close();
    this.#stack?.close();
  }
}

/** Registry factory for `wireguard`. */
export function createWireGuardOutbound(
  options: WireguardOutboundOptions,
  env: OutboundEnv,
): Outbound {
  return new WireGuardOutbound(options.tag, options, env);
}
