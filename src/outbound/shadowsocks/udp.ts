/**
 * Shadowsocks over UDP: every datagram to the server carries its destination, so one flow
 * reaches any number of destinations (full cone), as sing-box's packet connection does.
 *
 * - AEAD: `salt ‖ seal(HKDF(key, salt), nonce 0, address ‖ payload)`.
 * - 2022 AES: `AES-ECB(psk, session id ‖ packet id) [identity headers] ‖ seal(session key,
 *   header[4..16], type ‖ timestamp ‖ padding ‖ address ‖ payload)`; replies carry the server's
 *   session id (its key is derived and kept) and our session id.
 * - 2022 ChaCha20: `nonce(24) ‖ XChaCha20-Poly1305(psk, nonce, session id ‖ packet id ‖ ...)`.
 * - `none`: `address ‖ payload`.
 *
 * Datagrams that fail authentication or parsing are dropped and counted.
 *
 * @module
 */

import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { type Aead, createSyncAead, TAG_LENGTH } from "../../crypto/aead.ts";
import { decodeSocksAddr, encodeSocksAddr, socksAddrLength } from "../socks_wire.ts";
import type { Destination, UdpFlow } from "../types.ts";
import { aeadSubkey, pskHash, sessionSubkey, type ShadowsocksKeys } from "./method.ts";
import { aesEcbDecryptBlock, aesEcbEncryptBlock } from "./tcp.ts";

const MAX_UDP = 65535;
const MAX_PADDING = 900;
const ZERO_NONCE = new Uint8Array(12);
const MAX_CLOCK_SKEW_S = 30;

function random(n: number): Uint8Array {
  const b = new Uint8Array(n);
  crypto.getRandomValues(b);
  return b;
}

/** A UDP flow to the shadowsocks server carrying datagrams to any destination. */
export class ShadowsocksUdpFlow implements UdpFlow {
  onPacket: ((payload: Uint8Array, from: Destination) => void) | null = null;
  onClose: ((reason?: Error) => void) | null = null;
  #dropped = 0;
  #closed = false;
  readonly #out = new Uint8Array(MAX_UDP + 1024);
  readonly #sessionId = random(8);
  #packetId = 0n;
  #session: Aead | null = null;
  /** The server's session id (hex) → its key. */
  #serverSessions = new Map<string, Aead>();

  constructor(
    readonly keys: ShadowsocksKeys,
    readonly inner: UdpFlow,
    /** The server's address. */
    readonly server: Destination,
    readonly now: () => number = () => Math.floor(Date.now() / 1000),
  ) {
    const m = keys.method;
    if (m.kind === "2022" && m.aead !== "chacha20-poly1305") {
      const user = keys.keys[keys.keys.length - 1]!;
      this.#session = createSyncAead(m.aead!, sessionSubkey(user, this.#sessionId));
    }
    inner.onPacket = (data) => this.#receive(data);
    inner.onClose = (reason) => {
      if (this.#closed) return;
      this.#closed = true;
      this.onClose?.(reason);
    };
  }

  get dropped(): number {
    return this.#dropped + this.inner.dropped;
  }

  send(payload: Uint8Array, dest: Destination): void {
    if (this.#closed) {
      this.#dropped++;
      return;
    }
    let packet: Uint8Array | null;
    try {
      packet = this.#encode(payload, dest);
    } catch {
      packet = null;
    }
    if (!packet || packet.length > MAX_UDP) {
      this.#dropped++;
      return;
    }
    this.inner.send(packet, this.server);
  }

  #encode(payload: Uint8Array, dest: Destination): Uint8Array | null {
    const m = this.keys.method;
    const addrLen = socksAddrLength(dest);
    const out = this.#out;
    if (m.kind === "none") {
      if (addrLen + payload.length > out.length) return null;
      const off = encodeSocksAddr(dest, out, 0);
      out.set(payload, off);
      return out.subarray(0, off + payload.length);
    }
    if (m.kind === "aead") {
      const salt = random(m.keyLength);
      const plain = new Uint8Array(addrLen + payload.length);
      encodeSocksAddr(dest, plain, 0);
      plain.set(payload, addrLen);
      const aead = createSyncAead(m.aead!, aeadSubkey(this.keys.keys[0]!, salt));
      const sealed = aead.sealSync(ZERO_NONCE, plain);
      const packet = new Uint8Array(salt.length + sealed.length);
      packet.set(salt, 0);
      packet.set(sealed, salt.length);
      return packet;
    }
    // 2022
    const padding = dest.port === 53 && payload.length < MAX_PADDING
      ? 1 + Math.floor(Math.random() * (MAX_PADDING - payload.length))
      : 0;
    const body = new Uint8Array(1 + 8 + 2 + padding + addrLen + payload.length);
    body[0] = 0; // client
    const dv = new DataView(body.buffer);
    dv.setBigUint64(1, BigInt(this.now()));
    dv.setUint16(9, padding);
    let off = encodeSocksAddr(dest, body, 11 + padding);
    body.set(payload, off);
    off += payload.length;
    const packetId = this.#packetId++;
    const header = new Uint8Array(16);
    header.set(this.#sessionId, 0);
    new DataView(header.buffer).setBigUint64(8, packetId);
    const keys = this.keys.keys;
    if (m.aead === "chacha20-poly1305") {
      const nonce = random(24);
      const plain = new Uint8Array(16 + body.length);
      plain.set(header, 0);
      plain.set(body, 16);
      const sealed = xchacha20poly1305(keys[0]!, nonce).encrypt(plain);
      const packet = new Uint8Array(24 + sealed.length);
      packet.set(nonce, 0);
      packet.set(sealed, 24);
      return packet;
    }
    const sealed = this.#session!.sealSync(header.subarray(4, 16), body);
    const eih = keys.length - 1;
    const packet = new Uint8Array(16 * (1 + eih) + sealed.length);
    packet.set(aesEcbEncryptBlock(keys[0]!, header), 0);
    for (let i = 0; i < eih; i++) {
      const block = pskHash(keys[i + 1]!).slice();
      for (let j = 0; j < 16; j++) block[j]! ^= header[j]!;
      packet.set(aesEcbEncryptBlock(keys[i]!, block), 16 * (1 + i));
    }
    packet.set(sealed, 16 * (1 + eih));
    return packet;
  }

  #receive(data: Uint8Array): void {
    let decoded: { payload: Uint8Array; from: Destination } | null;
    try {
      decoded = this.#decode(data);
    } catch {
      decoded = null;
    }
    if (!decoded) {
      this.#dropped++;
      return;
    }
    this.onPacket?.(decoded.payload, decoded.from);
  }

  #decode(data: Uint8Array): { payload: Uint8Array; from: Destination } | null {
    const m = this.keys.method;
    let body: Uint8Array;
    if (m.kind === "none") {
      body = data;
    } else if (m.kind === "aead") {
      const n = m.keyLength;
      if (data.length < n + TAG_LENGTH) return null;
      const aead = createSyncAead(m.aead!, aeadSubkey(this.keys.keys[0]!, data.subarray(0, n)));
      body = aead.openSync(ZERO_NONCE, data.subarray(n));
    } else {
      const keys = this.keys.keys;
      const user = keys[keys.length - 1]!;
      let header: Uint8Array;
      let rest: Uint8Array;
      if (m.aead === "chacha20-poly1305") {
        if (data.length < 24 + 16 + TAG_LENGTH) return null;
        const plain = xchacha20poly1305(user, data.subarray(0, 24)).decrypt(data.subarray(24));
        header = plain.subarray(0, 16);
        rest = plain.subarray(16);
      } else {
        if (data.length < 16 + TAG_LENGTH) return null;
        header = aesEcbDecryptBlock(user, data.subarray(0, 16));
        const id = Array.from(header.subarray(0, 8), (b) => b.toString(16).padStart(2, "0"))
          .join("");
        let aead = this.#serverSessions.get(id);
        if (!aead) {
          aead = createSyncAead(m.aead!, sessionSubkey(user, header.subarray(0, 8)));
          if (this.#serverSessions.size >= 4) this.#serverSessions.clear();
          this.#serverSessions.set(id, aead);
        }
        rest = aead.openSync(header.subarray(4, 16), data.subarray(16));
      }
      // type ‖ timestamp ‖ client session id ‖ padding length ‖ padding ‖ address ‖ payload
      if (rest.length < 1 + 8 + 8 + 2 || rest[0] !== 1) return null;
      const dv = new DataView(rest.buffer, rest.byteOffset, rest.byteLength);
      if (Math.abs(this.now() - Number(dv.getBigUint64(1))) > MAX_CLOCK_SKEW_S) return null;
      for (let i = 0; i < 8; i++) if (rest[9 + i] !== this.#sessionId[i]) return null;
      const padding = dv.getUint16(17);
      if (19 + padding > rest.length) return null;
      body = rest.subarray(19 + padding);
    }
    const addr = decodeSocksAddr(body, 0, body.length);
    if (!addr) return null;
    return { payload: body.subarray(addr.end), from: addr.dest };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.inner.onPacket = null;
    this.inner.onClose = null;
    this.inner.close();
  }
}
