/**
 * The VLESS client stream (no flow):
 *
 * ```
 * request  = version 0 ‖ uuid (16) ‖ addons length 0 ‖ command ‖ port ‖ address type ‖
 *            address ‖ payload...
 * response = version 0 ‖ addons length ‖ addons ‖ payload...
 * UDP      = length (2) ‖ datagram, both ways, to the request's one destination
 * ```
 *
 * Address types are VMess's: 1 IPv4, 2 domain, 3 IPv6. The server closes (or hands to its
 * fallback) a request with an unknown uuid, reported once.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { FramedStream, ProtocolError } from "../../io/framed_stream.ts";
import type { Stream } from "../../io/stream.ts";
import { ANSWER_WARN_MS, AnswerWatch, EarlyHeader } from "../proxy_server.ts";
import type { Destination } from "../types.ts";
import type { DatagramStream } from "../udp_per_destination.ts";
import { encodeVmessAddr } from "../vmess/protocol.ts";

const log = getLogger(["tunbox", "outbound"]);

export const COMMAND_TCP = 1;
export const COMMAND_UDP = 2;

/** What one VLESS connection carries. */
export interface VlessStreamOptions {
  uuid: Uint8Array;
  command: number;
  dest: Destination;
  what: string;
  id: number;
  answerWarnMs?: number;
}

const enum Rx {
  Version,
  Addons,
  Data,
  UdpLength,
  UdpData,
}

/** An established VLESS connection (TCP stream, or datagrams to one destination). */
export class VlessStream extends FramedStream implements DatagramStream {
  onDatagram: ((payload: Uint8Array) => void) | null = null;
  readonly #o: VlessStreamOptions;
  readonly #header: EarlyHeader;
  readonly #watch: AnswerWatch;
  #rx = Rx.Version;
  #need = 0;
  #logged = false;

  constructor(inner: Stream, o: VlessStreamOptions) {
    super(inner, 2 * 0x10000 + 512);
    this.#o = o;
    this.#watch = new AnswerWatch(this.reactor, o.answerWarnMs ?? ANSWER_WARN_MS, (s) => {
      if (!this.closed) {
        this.#logOnce(
          `no answer from the server ${s} s after the request (wrong uuid?)`,
          "warning",
        );
      }
    });
    this.#header = new EarlyHeader(this.reactor, () => this.#request(new Uint8Array(0)));
    this.startReading();
  }

  #request(payload: Uint8Array): void {
    const addr = encodeVmessAddr(this.#o.dest);
    const out = new Uint8Array(1 + 16 + 1 + 1 + addr.length + payload.length);
    out[0] = 0;
    out.set(this.#o.uuid, 1);
    out[17] = 0; // no addons (no flow)
    out[18] = this.#o.command;
    out.set(addr, 19);
    out.set(payload, 19 + addr.length);
    this.queueOut(out);
    this.#watch.start();
  }

  protected encode(data: Uint8Array): void {
    let payload = data;
    if (this.#o.command === COMMAND_UDP) {
      if (data.length > 0xffff) return;
      payload = new Uint8Array(2 + data.length);
      payload[0] = data.length >> 8;
      payload[1] = data.length & 0xff;
      payload.set(data, 2);
    }
    if (this.#header.take()) this.#request(payload);
    else this.queueOut(payload === data ? data.slice() : payload);
  }

  protected override encodeEnd(): void {
    if (this.#header.take()) this.#request(new Uint8Array(0));
  }

  protected decode(buf: Uint8Array): number {
    switch (this.#rx) {
      case Rx.Version:
        if (buf.length < 2) return 0;
        if (buf[0] !== 0) {
          throw new ProtocolError(`the server answered with VLESS version ${buf[0]}`);
        }
        this.#watch.answer();
        this.#need = buf[1]!;
        // (decode may not return 0 for a step that consumed nothing: skip empty addons here)
        this.#rx = this.#need > 0 ? Rx.Addons : this.#afterHeader();
        return 2;
      case Rx.Addons:
        if (buf.length < this.#need) return 0;
        this.#rx = this.#afterHeader();
        return this.#need;
      case Rx.Data:
        this.queueIn(buf.slice());
        return buf.length;
      case Rx.UdpLength:
        if (buf.length < 2) return 0;
        this.#need = (buf[0]! << 8) | buf[1]!;
        this.#rx = Rx.UdpData;
        return 2;
      case Rx.UdpData:
        if (buf.length < this.#need) return 0;
        this.onDatagram?.(buf.slice(0, this.#need));
        this.#rx = Rx.UdpLength;
        return this.#need;
    }
  }

  #afterHeader(): Rx {
    return this.#o.command === COMMAND_UDP ? Rx.UdpLength : Rx.Data;
  }

  protected override decodeEnd(rest: Uint8Array): void {
    if (!this.#watch.answered && this.#header.sent) {
      this.#logOnce(
        "the server closed the connection without answering: wrong uuid (or a flow the server " +
          "requires)?",
        "error",
      );
      throw new ProtocolError(
        `${this.#o.what}: the server closed the connection without answering`,
      );
    }
    super.decodeEnd(rest);
  }

  protected override describeFailure(error: Error): Error {
    if (error.message.startsWith(this.#o.what)) return error;
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
