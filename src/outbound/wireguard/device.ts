/**
 * A userspace WireGuard device (the client side of the whitepaper's §6 timers): IP packets in,
 * encrypted UDP datagrams out to the peer whose allowed IPs hold the destination, and back.
 *
 * - A session starts with a handshake when the first packet needs one (packets wait, up to
 *   {@linkcode MAX_QUEUED}); an initiation is resent every {@linkcode REKEY_TIMEOUT_MS} with
 *   jitter, for at most {@linkcode REKEY_ATTEMPT_MS}; a cookie reply sets MAC2 of the next one.
 * - A session older than {@linkcode REKEY_AFTER_MS} starts a new handshake on the next send and
 *   is dropped at {@linkcode REJECT_AFTER_MS}; the previous session keeps receiving meanwhile.
 * - After receiving data with nothing to send for {@linkcode KEEPALIVE_MS} an empty keepalive
 *   goes out; after sending with nothing received for `KEEPALIVE + REKEY_TIMEOUT` a new
 *   handshake starts; `persistent_keepalive_interval` sends keepalives regardless.
 * - Received counters pass a 2048-packet replay window; packets are padded to 16 bytes.
 *
 * A peer that never answers (wrong keys: WireGuard is silent by design) is reported once per
 * episode, after the first unanswered initiation.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Reactor } from "../../io/reactor.ts";
import type { Timer } from "../../io/timer_queue.ts";
import { formatIp } from "../../net/ip.ts";
import { TAG_LENGTH } from "../../crypto/aead.ts";
import type { Destination, UdpFlow } from "../types.ts";
import { formatDestination } from "../types.ts";
import {
  consumeCookieReply,
  consumeResponse,
  counterNonce,
  createInitiation,
  type Initiation,
  MAX_COUNTER,
  MESSAGE_COOKIE_REPLY,
  MESSAGE_RESPONSE,
  MESSAGE_TRANSPORT,
  type PeerKeys,
  readCounter,
  type SessionKeys,
  TRANSPORT_HEADER,
  writeCounter,
} from "./noise.ts";

const log = getLogger(["tunbox", "outbound"]);

export const REKEY_AFTER_MS = 120_000;
export const REJECT_AFTER_MS = 180_000;
export const REKEY_ATTEMPT_MS = 90_000;
export const REKEY_TIMEOUT_MS = 5_000;
export const KEEPALIVE_MS = 10_000;
export const COOKIE_LIFETIME_MS = 120_000;
export const MAX_QUEUED = 1024;
const REPLAY_WINDOW = 2048;
const TICK_MS = 1000;

/** One configured peer. */
export interface PeerConfig {
  keys: PeerKeys;
  endpoint: Destination;
  /** Allowed IP prefixes: [address, prefix length]. */
  allowedIps: { addr: Uint8Array; bits: number }[];
  /** Seconds; 0 = off. */
  persistentKeepalive: number;
  /** Three bytes written into each message's reserved field (Cloudflare WARP), or null. */
  reserved: Uint8Array | null;
}

/** @internal A session's keys, counters and replay window (exported for tests). */
export class Session {
  sendCounter = 0;
  readonly created: number;
  /** Highest counter received and the window behind it. */
  #top = -1;
  #window = new Uint32Array(REPLAY_WINDOW / 32);
  readonly nonce = new Uint8Array(12);
  readonly rnonce = new Uint8Array(12);

  constructor(readonly keys: SessionKeys, now: number) {
    this.created = now;
  }

  /** True when `n` (0 to {@linkcode MAX_COUNTER}) is new (and records it). */
  accept(n: number): boolean {
    if (n > this.#top) {
      const shift = n - this.#top;
      if (shift >= REPLAY_WINDOW) this.#window.fill(0);
      else {
        for (let i = this.#top + 1; i <= n; i++) {
          const b = i % REPLAY_WINDOW;
          this.#window[b >>> 5]! &= ~(1 << (b & 31));
        }
      }
      this.#top = n;
    } else if (this.#top - n >= REPLAY_WINDOW) {
      return false;
    }
    const b = n % REPLAY_WINDOW;
    const word = this.#window[b >>> 5]!, bit = 1 << (b & 31);
    if (word & bit) return false;
    this.#window[b >>> 5] = word | bit;
    return true;
  }
}

class Peer {
  current: Session | null = null;
  previous: Session | null = null;
  pending: Initiation | null = null;
  queue: Uint8Array[] = [];
  attemptStart = 0;
  retryTimer: Timer | null = null;
  cookie: { value: Uint8Array; at: number } | null = null;
  lastSent = 0;
  lastReceived = 0;
  lastDataSent = 0;
  lastDataReceived = 0;
  silentReported = false;
  readonly name: string;

  constructor(readonly config: PeerConfig, readonly index: number) {
    this.name = formatDestination(config.endpoint);
  }
}

function inPrefix(addr: Uint8Array, p: { addr: Uint8Array; bits: number }): boolean {
  if (addr.length !== p.addr.length) return false;
  let bits = p.bits;
  for (let i = 0; i < addr.length && bits > 0; i++, bits -= 8) {
    const m = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((addr[i]! & m) !== (p.addr[i]! & m)) return false;
  }
  return true;
}

/** See the module documentation. */
export class WireGuardDevice {
  /** Decrypted IP packets from the tunnel (valid during the call). */
  onPacket: ((packet: Uint8Array) => void) | null = null;
  readonly #peers: Peer[];
  #byIndex = new Map<number, { peer: Peer; session: Session | null }>();
  #tick: Timer | null = null;
  #closed = false;
  /** Scratch for the datagram being sent, and for a received packet's plaintext (grown as needed). */
  #out = new Uint8Array(2048);
  #outView = new DataView(this.#out.buffer);
  #plain = new Uint8Array(2048);

  constructor(
    readonly reactor: Reactor,
    readonly udp: UdpFlow,
    peers: PeerConfig[],
    /** Names the outbound in messages. */
    readonly what: string,
    readonly now: () => number = () => Date.now(),
  ) {
    this.#peers = peers.map((p, i) => new Peer(p, i));
    udp.onPacket = (data, from) => this.#receive(data, from);
    this.#tick = reactor.setTimeout(TICK_MS, () => this.#onTick());
  }

  #peerFor(dst: Uint8Array): Peer | null {
    let best: Peer | null = null, bestBits = -1;
    for (const p of this.#peers) {
      for (const a of p.config.allowedIps) {
        if (a.bits > bestBits && inPrefix(dst, a)) {
          best = p;
          bestBits = a.bits;
        }
      }
    }
    return best;
  }

  /** Sends one IP packet into the tunnel (queued while a handshake runs). */
  send(packet: Uint8Array): void {
    if (this.#closed || packet.length < 20) return;
    const v = packet[0]! >> 4;
    const dst = v === 4 ? packet.subarray(16, 20) : packet.subarray(24, 40);
    const peer = this.#peerFor(dst);
    if (!peer) {
      log.debug("{what}: no peer allows {dst}; packet dropped", {
        what: this.what,
        dst: formatIp(dst),
      });
      return;
    }
    const now = this.now();
    const s = peer.current;
    if (s && now - s.created < REJECT_AFTER_MS) {
      this.#transport(peer, s, packet, now);
      if (now - s.created >= REKEY_AFTER_MS && !peer.pending) this.#initiate(peer, now);
      return;
    }
    if (peer.queue.length >= MAX_QUEUED) peer.queue.shift();
    peer.queue.push(packet.slice());
    if (!peer.pending) this.#initiate(peer, now);
  }

  #transport(peer: Peer, s: Session, packet: Uint8Array, now: number): void {
    if (s.sendCounter > MAX_COUNTER) return; // never reached: the session is replaced first
    const padded = (packet.length + 15) & ~15;
    const size = TRANSPORT_HEADER + padded + TAG_LENGTH;
    if (this.#out.length < size) {
      this.#out = new Uint8Array(size);
      this.#outView = new DataView(this.#out.buffer);
    }
    // Header, then the padded packet sealed in place behind it: one copy, no allocation.
    const out = this.#out.subarray(0, size);
    out.fill(0, 0, TRANSPORT_HEADER);
    out[0] = MESSAGE_TRANSPORT;
    this.#reserved(peer, out);
    this.#outView.setUint32(4, s.keys.remoteIndex, true);
    const counter = s.sendCounter++;
    writeCounter(out, 8, counter);
    out.set(packet, TRANSPORT_HEADER);
    out.fill(0, TRANSPORT_HEADER + packet.length, TRANSPORT_HEADER + padded);
    const body = out.subarray(TRANSPORT_HEADER);
    s.keys.send.sealInto(counterNonce(s.nonce, counter), body.subarray(0, padded), body);
    // The UDP flow sends (or copies) the datagram before returning.
    this.udp.send(out, peer.config.endpoint);
    peer.lastSent = now;
    if (packet.length > 0) peer.lastDataSent = now;
  }

  #reserved(peer: Peer, msg: Uint8Array): void {
    const r = peer.config.reserved;
    if (r) msg.set(r, 1);
  }

  #initiate(peer: Peer, now: number): void {
    if (this.#closed) return;
    if (!peer.pending) peer.attemptStart = now;
    if (peer.pending) this.#byIndex.delete(peer.pending.localIndex);
    const index = this.#newIndex();
    const cookie = peer.cookie && now - peer.cookie.at < COOKIE_LIFETIME_MS
      ? peer.cookie.value
      : null;
    const init = createInitiation(peer.config.keys, index, now, cookie);
    this.#reserved(peer, init.message);
    peer.pending = init;
    this.#byIndex.set(index, { peer, session: null });
    this.udp.send(init.message, peer.config.endpoint);
    peer.lastSent = now;
    peer.retryTimer?.cancel();
    const jitter = Math.floor(Math.random() * 333);
    peer.retryTimer = this.reactor.setTimeout(REKEY_TIMEOUT_MS + jitter, () => {
      peer.retryTimer = null;
      if (!peer.pending || this.#closed) return;
      const t = this.now();
      if (!peer.silentReported) {
        peer.silentReported = true;
        log.warn(
          "{what}: peer {peer} did not answer the handshake within {s} s: wrong private_key or " +
            "peer public_key, or the peer is unreachable (WireGuard stays silent on a wrong key)",
          { what: this.what, peer: peer.name, s: REKEY_TIMEOUT_MS / 1000 },
        );
      }
      if (t - peer.attemptStart >= REKEY_ATTEMPT_MS) {
        this.#byIndex.delete(peer.pending.localIndex);
        peer.pending = null;
        peer.queue = [];
        return;
      }
      this.#initiate(peer, t);
    });
  }

  #newIndex(): number {
    for (;;) {
      const i = crypto.getRandomValues(new Uint32Array(1))[0]!;
      if (!this.#byIndex.has(i)) return i;
    }
  }

  #receive(data: Uint8Array, _from: Destination): void {
    if (this.#closed || data.length < 4) return;
    const type = data[0]!;
    const now = this.now();
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    if (type === MESSAGE_TRANSPORT) {
      if (data.length < TRANSPORT_HEADER + 16) return;
      const e = this.#byIndex.get(dv.getUint32(4, true));
      if (!e || !e.session) return;
      const s = e.session;
      if (now - s.created >= REJECT_AFTER_MS) return;
      const counter = readCounter(data, 8);
      if (counter < 0) return;
      const sealed = data.subarray(TRANSPORT_HEADER);
      if (this.#plain.length < sealed.length) this.#plain = new Uint8Array(sealed.length);
      let plain: Uint8Array;
      try {
        const n = s.keys.receive.openInto(counterNonce(s.rnonce, counter), sealed, this.#plain);
        plain = this.#plain.subarray(0, n);
      } catch {
        return;
      }
      if (!s.accept(counter)) return;
      const peer = e.peer;
      peer.lastReceived = now;
      if (s === peer.previous && peer.current && peer.current !== s) {
        // still valid: the peer may not have switched yet
      }
      if (plain.length === 0) return; // keepalive
      peer.lastDataReceived = now;
      const v = plain[0]! >> 4;
      const len = v === 4
        ? ((plain[2]! << 8) | plain[3]!)
        : v === 6
        ? 40 + ((plain[4]! << 8) | plain[5]!)
        : 0;
      if (len === 0 || len > plain.length) return;
      this.onPacket?.(plain.subarray(0, len));
      return;
    }
    if (type === MESSAGE_RESPONSE) {
      if (data.length < 12) return;
      const e = this.#byIndex.get(dv.getUint32(8, true));
      if (!e || e.session || !e.peer.pending) return;
      const peer = e.peer;
      const keys = consumeResponse(peer.config.keys, peer.pending!, data);
      if (!keys) return;
      const s = new Session(keys, now);
      if (peer.previous) this.#byIndex.delete(peer.previous.keys.localIndex);
      peer.previous = peer.current;
      peer.current = s;
      peer.pending = null;
      peer.retryTimer?.cancel();
      peer.retryTimer = null;
      this.#byIndex.set(keys.localIndex, { peer, session: s });
      if (peer.silentReported) {
        log.info("{what}: peer {peer} answered the handshake", {
          what: this.what,
          peer: peer.name,
        });
        peer.silentReported = false;
      }
      peer.lastReceived = now;
      const queued = peer.queue;
      peer.queue = [];
      // The responder waits for our first transport message: data, or a keepalive.
      if (queued.length === 0) this.#transport(peer, s, new Uint8Array(0), now);
      for (const p of queued) this.#transport(peer, s, p, now);
      return;
    }
    if (type === MESSAGE_COOKIE_REPLY) {
      const e = this.#byIndex.get(dv.getUint32(4, true));
      if (!e || !e.peer.pending) return;
      const cookie = consumeCookieReply(e.peer.config.keys, e.peer.pending.mac1, data);
      if (cookie) e.peer.cookie = { value: cookie, at: now };
    }
  }

  #onTick(): void {
    if (this.#closed) return;
    const now = this.now();
    for (const peer of this.#peers) {
      const s = peer.current;
      if (!s) continue;
      if (now - s.created >= REJECT_AFTER_MS) {
        this.#byIndex.delete(s.keys.localIndex);
        peer.current = null;
        continue;
      }
      const ka = peer.config.persistentKeepalive * 1000;
      if (ka > 0 && now - peer.lastSent >= ka) {
        this.#transport(peer, s, new Uint8Array(0), now);
        continue;
      }
      // Received data, sent nothing back: a keepalive tells the peer we are here.
      if (peer.lastDataReceived > peer.lastSent && now - peer.lastSent >= KEEPALIVE_MS) {
        this.#transport(peer, s, new Uint8Array(0), now);
      }
      // Sent data, heard nothing: the session may be dead on the other side.
      if (
        peer.lastDataSent > peer.lastReceived &&
        now - peer.lastReceived >= KEEPALIVE_MS + REKEY_TIMEOUT_MS && !peer.pending
      ) {
        this.#initiate(peer, now);
      }
    }
    this.#tick = this.reactor.setTimeout(TICK_MS, () => this.#onTick());
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#tick?.cancel();
    for (const p of this.#peers) p.retryTimer?.cancel();
    this.udp.onPacket = null;
    this.udp.close();
  }
}
