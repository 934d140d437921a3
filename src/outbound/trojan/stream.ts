/**
 * The Trojan client stream (trojan-gfw's protocol, over TLS):
 *
 * ```
 * request = hex(SHA-224(password)) ‖ CRLF ‖ command ‖ SOCKS5 address ‖ CRLF ‖ payload...
 * UDP     = SOCKS5 address ‖ length (2) ‖ CRLF ‖ payload, both ways, any destination
 * ```
 *
 * There is no answer header: the server's first bytes are the destination's. A server that
 * does not know the password hands the connection to its fallback (or closes it), so a
 * connection that ends before any byte came back is reported once.
 *
 * @module
 */

import nodeCrypto from "node:crypto";
import { getLogger } from "@logtape/logtape";
import { FramedStream, ProtocolError } from "../../io/framed_stream.ts";
import { type Stream, WOULD_BLOCK } from "../../io/stream.ts";
import { ANSWER_WARN_MS, AnswerWatch, EarlyHeader } from "../proxy_server.ts";
import { decodeSocksAddr, encodeSocksAddr, socksAddrLength } from "../socks_wire.ts";
import type { Destination } from "../types.ts";

const log = getLogger(["tunbox", "outbound"]);

export const COMMAND_CONNECT = 1;
export const COMMAND_UDP = 3;
const MAX_UDP = 0xffff;

/** hex(SHA-224(password)), the 56-byte Trojan key. */
export function trojanKey(password: string): Uint8Array {
  return new TextEncoder().encode(nodeCrypto.createHash("sha224").update(password).digest("hex"));
}

/** What one Trojan connection carries. */
export interface TrojanStreamOptions {
  key: Uint8Array;
  command: number;
  /** CONNECT target; for UDP the first datagram's destination (servers ignore it). */
  dest: Destination;
  what: string;
  id: number;
  answerWarnMs?: number;
}

function encodeRequest(o: TrojanStreamOptions, payload: Uint8Array): Uint8Array {
  const n = socksAddrLength(o.dest);
  const out = new Uint8Array(56 + 2 + 1 + n + 2 + payload.length);
  out.set(o.key, 0);
  out[56] = 13;
  out[57] = 10;
  out[58] = o.command;
  let off = encodeSocksAddr(o.dest, out, 59);
  out[off++] = 13;
  out[off++] = 10;
  out.set(payload, off);
  return out;
}

/** Encodes one UDP packet for the Trojan stream. */
export function encodeTrojanPacket(dest: Destination, payload: Uint8Array): Uint8Array {
  const n = socksAddrLength(dest);
  const out = new Uint8Array(n + 4 + payload.length);
  let off = encodeSocksAddr(dest, out, 0);
  out[off++] = payload.length >> 8;
  out[off++] = payload.length & 0xff;
  out[off++] = 13;
  out[off++] = 10;
  out.set(payload, off);
  return out;
}

/** An established Trojan connection (a TCP stream, or UDP packets for any destination). */
export class TrojanStream extends FramedStream {
  /** UDP: each packet from the server, with its source. */
  onPacket: ((payload: Uint8Array, from: Destination) => void) | null = null;
  readonly #o: TrojanStreamOptions;
  readonly #header: EarlyHeader;
  readonly #watch: AnswerWatch;
  #logged = false;

  constructor(inner: Stream, o: TrojanStreamOptions) {
    super(inner, 2 * (MAX_UDP + 300));
    this.#o = o;
    this.#watch = new AnswerWatch(this.reactor, o.answerWarnMs ?? ANSWER_WARN_MS, (s) => {
      if (!this.closed) {
        this.#logOnce(`no answer from the server ${s} s after the request`, "warning");
      }
    });
    this.#header = new EarlyHeader(this.reactor, () => this.#send(new Uint8Array(0)));
    this.startReading();
  }

  #send(payload: Uint8Array): void {
    this.queueOut(encodeRequest(this.#o, payload));
    this.#watch.start();
  }

  protected encode(data: Uint8Array): void {
    if (this.#header.take()) this.#send(data);
    else this.queueOut(data.slice());
  }

  protected override encodeEnd(): void {
    if (this.#header.take()) this.#send(new Uint8Array(0));
  }

  protected decode(buf: Uint8Array): number {
    this.#watch.answer();
    if (this.#o.command !== COMMAND_UDP) {
      this.queueIn(buf.slice());
      return buf.length;
    }
    const addr = decodeSocksAddr(buf, 0, buf.length);
    if (!addr) {
      if (buf.length > 0 && buf[0] !== 1 && buf[0] !== 3 && buf[0] !== 4) {
        throw new ProtocolError(`the server sent a packet with address type ${buf[0]}`);
      }
      return 0;
    }
    const end = addr.end;
    if (buf.length < end + 4) return 0;
    const len = (buf[end]! << 8) | buf[end + 1]!;
    if (buf.length < end + 4 + len) return 0;
    this.onPacket?.(buf.slice(end + 4, end + 4 + len), addr.dest);
    return end + 4 + len;
  }

  /** Sends one UDP packet (UDP connections only); false when it would block. */
  sendPacket(dest: Destination, payload: Uint8Array): boolean {
    return this.write(encodeTrojanPacket(dest, payload)) !== WOULD_BLOCK;
  }

  protected override decodeEnd(rest: Uint8Array): void {
    if (!this.#watch.answered && this.#header.sent) {
      this.#logOnce(
        "the server closed the connection without answering (wrong password? Trojan servers " +
          "hand unknown clients to their fallback)",
        "warning",
      );
    }
    super.decodeEnd(rest);
  }

  protected override describeFailure(error: Error): Error {
    this.#logOnce(error.message, "error");
    return new ProtocolError(`${this.#o.what}: ${error.message}`, { cause: error });
  }

  #logOnce(message: string, level: "warning" | "error"): void {
    if (this.#logged) return;
    this.#logged = true;
    log[level]("[{id}] {what}: {message}", { id: this.#o.id, what: this.#o.what, message });
  }

  protected override destroy(reset: boolean): void {
    this.#header.cancel();
    this.#watch.cancel();
    super.destroy(reset);
  }
}
