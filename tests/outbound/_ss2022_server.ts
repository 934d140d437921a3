/**
 * A SIP022 ("shadowsocks 2022") echo server for tests, written from the specification
 * (shadowsocks.org SIP022) separately from the client: no Debian package speaks 2022. TCP:
 * checks the identity headers, the fixed and variable request headers and the timestamp, then
 * echoes the payload back in server frames. UDP: decrypts the separate header (AES) or the
 * XChaCha20 packet, and answers each datagram with `echo:` + payload from the destination.
 * Records the destinations it was asked for.
 */

import { blake3 } from "@noble/hashes/blake3.js";
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import nodeCrypto from "node:crypto";
import type { Reactor } from "../../src/io/reactor.ts";
import { TcpListener, UdpSocket, WOULD_BLOCK } from "../../src/io/socket.ts";
import { readExact, readSome, type Stream, writeAll } from "../../src/io/stream.ts";
import type { SockAddr } from "../../ffi/sockaddr.ts";
import {
  decodeSocksAddr,
  encodeSocksAddr,
  socksAddrLength,
} from "../../src/outbound/socks_wire.ts";
import type { Destination } from "../../src/outbound/types.ts";
import { LOOPBACK } from "./_helpers.ts";

const te = new TextEncoder();

function derive(context: string, a: Uint8Array, b: Uint8Array): Uint8Array {
  const m = new Uint8Array(a.length + b.length);
  m.set(a);
  m.set(b, a.length);
  return blake3(m, { context: te.encode(context), dkLen: a.length });
}

function aead(alg: string, key: Uint8Array) {
  const name = alg === "chacha" ? "chacha20-poly1305" : `aes-${key.length * 8}-gcm`;
  return {
    seal(nonce: Uint8Array, plain: Uint8Array): Uint8Array {
      // deno-lint-ignore no-explicit-any
      const c = nodeCrypto.createCipheriv(name as any, key, nonce, { authTagLength: 16 }) as any;
      const body = c.update(plain);
      c.final();
      return new Uint8Array([...body, ...c.getAuthTag()]);
    },
    open(nonce: Uint8Array, sealed: Uint8Array): Uint8Array {
      // deno-lint-ignore no-explicit-any
      const d = nodeCrypto.createDecipheriv(name as any, key, nonce, { authTagLength: 16 }) as any;
      d.setAuthTag(sealed.subarray(sealed.length - 16));
      const out = d.update(sealed.subarray(0, sealed.length - 16));
      d.final();
      return new Uint8Array(out);
    },
  };
}

class Nonce {
  b = new Uint8Array(12);
  next(): Uint8Array {
    const cur = this.b.slice();
    for (let i = 0; i < 12; i++) if (++this.b[i]! <= 255 && this.b[i] !== 0) break;
    return cur;
  }
}

function ecb(key: Uint8Array, block: Uint8Array, decrypt: boolean): Uint8Array {
  const f = decrypt ? nodeCrypto.createDecipheriv : nodeCrypto.createCipheriv;
  const c = f(`aes-${key.length * 8}-ecb`, key, null);
  c.setAutoPadding(false);
  return new Uint8Array(c.update(block));
}

/** The server's view of what happened. */
export interface Ss2022Server {
  port: number;
  destinations: string[];
  errors: string[];
  close(): void;
}

/** Starts the server on 127.0.0.1 for `method` with the server's `psks` (identity keys then user key). */
export function startSs2022Server(
  r: Reactor,
  method: "2022-blake3-aes-128-gcm" | "2022-blake3-aes-256-gcm" | "2022-blake3-chacha20-poly1305",
  psks: Uint8Array[],
): Ss2022Server {
  const alg = method.endsWith("chacha20-poly1305") ? "chacha" : "aes";
  const keyLen = method.includes("128") ? 16 : 32;
  const user = psks[psks.length - 1]!;
  const destinations: string[] = [];
  const errors: string[] = [];
  const fmt = (d: Destination) => `${d.domain ?? Array.from(d.addr!).join(".")}:${d.port}`;
  const now = () => BigInt(Math.floor(Date.now() / 1000));

  const serve = async (s: Stream) => {
    const salt = new Uint8Array(keyLen);
    await readExact(s, salt, "salt");
    // Identity headers: each decrypts (with the identity subkey) to the hash of the next key.
    for (let i = 0; i + 1 < psks.length; i++) {
      const eih = new Uint8Array(16);
      await readExact(s, eih, "identity header");
      const plain = ecb(derive("shadowsocks 2022 identity subkey", psks[i]!, salt), eih, true);
      const want = blake3(psks[i + 1]!).subarray(0, 16);
      if (!plain.every((b, j) => b === want[j])) throw new Error("identity header mismatch");
    }
    const rx = aead(alg, derive("shadowsocks 2022 session subkey", user, salt));
    const rn = new Nonce();
    const fixed = new Uint8Array(11 + 16);
    await readExact(s, fixed, "fixed header");
    const f = rx.open(rn.next(), fixed);
    const dv = new DataView(f.buffer);
    if (f[0] !== 0) throw new Error(`request type ${f[0]}`);
    const skew = Number(now() - dv.getBigUint64(1));
    if (Math.abs(skew) > 30) throw new Error(`timestamp off by ${skew}`);
    const varLen = dv.getUint16(9);
    const vbuf = new Uint8Array(varLen + 16);
    await readExact(s, vbuf, "variable header");
    const v = rx.open(rn.next(), vbuf);
    const addr = decodeSocksAddr(v, 0, v.length);
    if (!addr) throw new Error("bad address");
    destinations.push(fmt(addr.dest));
    const padLen = (v[addr.end]! << 8) | v[addr.end + 1]!;
    const initial = v.subarray(addr.end + 2 + padLen);
    if (initial.length === 0 && padLen === 0) throw new Error("no payload and no padding");
    // Response: salt, fixed header naming our request salt, first payload (the echo).
    const rsalt = crypto.getRandomValues(new Uint8Array(keyLen));
    const tx = aead(alg, derive("shadowsocks 2022 session subkey", user, rsalt));
    const tn = new Nonce();
    const head = new Uint8Array(1 + 8 + keyLen + 2);
    head[0] = 1;
    new DataView(head.buffer).setBigUint64(1, now());
    head.set(salt, 9);
    new DataView(head.buffer).setUint16(9 + keyLen, initial.length);
    await writeAll(s, rsalt, "salt");
    await writeAll(s, tx.seal(tn.next(), head), "header");
    await writeAll(s, tx.seal(tn.next(), initial), "first payload");
    for (;;) {
      const lenBuf = new Uint8Array(18);
      const n = await readSome(s, lenBuf.subarray(0, 1), "len");
      if (n === 0) break;
      await readExact(s, lenBuf.subarray(1), "len");
      const l = rx.open(rn.next(), lenBuf);
      const len = (l[0]! << 8) | l[1]!;
      const body = new Uint8Array(len + 16);
      await readExact(s, body, "payload");
      const p = rx.open(rn.next(), body);
      const ol = new Uint8Array([len >> 8, len & 0xff]);
      await writeAll(s, tx.seal(tn.next(), ol), "len");
      await writeAll(s, tx.seal(tn.next(), p), "payload");
    }
    s.shutdownWrite();
  };

  const tcp = new TcpListener(r, { addr: LOOPBACK, port: 0 }, (sock) => {
    serve(sock).catch((e) => errors.push(String(e?.message ?? e))).finally(() => sock.close());
  });
  const port = tcp.localAddr().port;

  const udp = UdpSocket.open(r, 4, {}, { addr: LOOPBACK, port });
  const buf = new Uint8Array(65536);
  const from: SockAddr = { addr: new Uint8Array(4), port: 0 };
  const serverSession = crypto.getRandomValues(new Uint8Array(8));
  let packetId = 0n;
  udp.onReadable = () => {
    for (;;) {
      const n = udp.recvFrom(buf, from);
      if (n === WOULD_BLOCK) return;
      try {
        const pkt = buf.subarray(0, n);
        let header: Uint8Array, body: Uint8Array;
        if (alg === "chacha") {
          const plain = xchacha20poly1305(user, pkt.subarray(0, 24)).decrypt(pkt.subarray(24));
          header = plain.subarray(0, 16);
          body = plain.subarray(16);
        } else {
          header = ecb(psks[0]!, pkt.subarray(0, 16), true);
          let off = 16;
          for (let i = 0; i + 1 < psks.length; i++) {
            const eih = ecb(psks[i]!, pkt.subarray(off, off + 16), true);
            const want = blake3(psks[i + 1]!).subarray(0, 16);
            for (let j = 0; j < 16; j++) {
              if ((eih[j]! ^ header[j]!) !== want[j]) {
                throw new Error("udp identity header mismatch");
              }
            }
            off += 16;
          }
          const key = derive("shadowsocks 2022 session subkey", user, header.subarray(0, 8));
          body = aead(alg, key).open(header.subarray(4, 16), pkt.subarray(off));
        }
        if (body[0] !== 0) throw new Error(`udp type ${body[0]}`);
        const pad = (body[9]! << 8) | body[10]!;
        const a = decodeSocksAddr(body, 11 + pad, body.length);
        if (!a) throw new Error("udp bad address");
        destinations.push(`udp ${fmt(a.dest)}`);
        const payload = new Uint8Array([...te.encode("echo:"), ...body.subarray(a.end)]);
        // Reply: type 1, timestamp, client session id, padding 0, address, payload.
        const reply = new Uint8Array(1 + 8 + 8 + 2 + socksAddrLength(a.dest) + payload.length);
        reply[0] = 1;
        new DataView(reply.buffer).setBigUint64(1, now());
        reply.set(header.subarray(0, 8), 9);
        const end = encodeSocksAddr(a.dest, reply, 19);
        reply.set(payload, end);
        const sh = new Uint8Array(16);
        sh.set(serverSession);
        new DataView(sh.buffer).setBigUint64(8, packetId++);
        let out: Uint8Array;
        if (alg === "chacha") {
          const nonce = crypto.getRandomValues(new Uint8Array(24));
          const sealed = xchacha20poly1305(user, nonce).encrypt(new Uint8Array([...sh, ...reply]));
          out = new Uint8Array([...nonce, ...sealed]);
        } else {
          const key = derive("shadowsocks 2022 session subkey", user, serverSession);
          const sealed = aead(alg, key).seal(sh.subarray(4, 16), reply);
          out = new Uint8Array([...ecb(user, sh, false), ...sealed]);
        }
        udp.sendTo(out, { addr: from.addr.slice(), port: from.port });
      } catch (e) {
        errors.push(String((e as Error).message));
      }
    }
  };

  return {
    port,
    destinations,
    errors,
    close() {
      tcp.close();
      udp.close();
    },
  };
}
