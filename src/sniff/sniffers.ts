/**
 * Sniffer registry: runs the sniffers a rule's `sniff` action names (sing-box
 * `common/sniff/sniff.go` `PeekStream`/`PeekPacket`).
 *
 * Caller contract (what sing-box does with `timeout`, default 300 ms):
 * - TCP: the deadline is fixed when sniffing starts (`now + timeoutMs`). Read what the client
 *   sent, call {@linkcode StreamSniffBuffer.push} with each chunk, and stop at the first result
 *   that is not `need-more`, or at the deadline. A `need-more` at the deadline, a `no-match`, or a
 *   connection closed before any data all mean "nothing sniffed": route on. The bytes read while
 *   sniffing ({@linkcode StreamSniffBuffer.bytes}) must be sent to the outbound first.
 * - UDP: wait up to `timeoutMs` for the first datagram and call {@linkcode sniffPacket}. On
 *   `need-more` (a QUIC ClientHello continuing in the next datagram) wait for the next datagram
 *   with the same state and call again (each wait has its own `timeoutMs`, as in sing-box). All
 *   datagrams read must be forwarded afterwards.
 * - On `match`, copy the result into the flow with {@linkcode applySniffResult}.
 *
 * @module
 */

import { sniffDnsPacket, sniffDnsStream } from "./dns.ts";
import { sniffHttp } from "./http.ts";
import { newQuicSniffState, type QuicSniffState, sniffQuic } from "./quic.ts";
import { NEED_MORE, noMatch, type SniffMatch, type SniffResult } from "./result.ts";
import { sniffTls } from "./tls.ts";

/** sing-box's default sniff timeout (`C.ReadPayloadTimeout`), in ms. */
export const DEFAULT_SNIFF_TIMEOUT_MS = 300;

/** Most bytes buffered for stream sniffing (one sing-box packet buffer). */
export const MAX_SNIFF_BYTES = 65535;

/** Stream sniffers by name, in sing-box's default order. */
const STREAM: Record<string, (data: Uint8Array) => SniffResult> = {
  tls: sniffTls,
  http: sniffHttp,
  dns: sniffDnsStream,
};

/** Names of the stream sniffers tunbox implements, in default order. */
export const STREAM_SNIFFER_NAMES: readonly string[] = Object.keys(STREAM);
/** Names of the packet sniffers tunbox implements, in default order. */
export const PACKET_SNIFFER_NAMES: readonly string[] = ["dns", "quic"];

/**
 * Runs stream sniffers over the bytes received so far. The first `match` wins; otherwise
 * `need-more` if any sniffer needs more, else `no-match`. Empty `sniffers` means all. Unknown
 * names are ignored.
 */
export function sniffStream(data: Uint8Array, sniffers: readonly string[] = []): SniffResult {
  const names = sniffers.length === 0 ? STREAM_SNIFFER_NAMES : sniffers;
  let needMore = false;
  const reasons: string[] = [];
  for (const name of names) {
    const fn = STREAM[name];
    if (!fn) continue;
    const r = fn(data);
    if (r.status === "match") return r;
    if (r.status === "need-more") needMore = true;
    else reasons.push(`${name}: ${r.reason}`);
  }
  return needMore ? NEED_MORE : noMatch(reasons.join("; ") || "no stream sniffer");
}

/** Per-flow state for packet sniffing across datagrams. */
export interface PacketSniffState {
  quic: QuicSniffState;
}

/** Fresh packet sniffing state. */
export function newPacketSniffState(): PacketSniffState {
  return { quic: newQuicSniffState() };
}

/**
 * Runs packet sniffers on one datagram. After a QUIC `need-more`, later datagrams of the flow
 * are only given to the QUIC sniffer (sing-box does the same). Empty `sniffers` means all.
 */
export async function sniffPacket(
  packet: Uint8Array,
  sniffers: readonly string[] = [],
  state: PacketSniffState = newPacketSniffState(),
): Promise<SniffResult> {
  const names = state.quic.pending
    ? ["quic"]
    : sniffers.length === 0
    ? PACKET_SNIFFER_NAMES
    : sniffers;
  const reasons: string[] = [];
  for (const name of names) {
    let r: SniffResult;
    if (name === "dns") r = sniffDnsPacket(packet);
    else if (name === "quic") r = await sniffQuic(packet, state.quic);
    else continue;
    if (r.status !== "no-match") return r;
    reasons.push(`${name}: ${r.reason}`);
  }
  return noMatch(reasons.join("; ") || "no packet sniffer");
}

/** Accumulates a TCP flow's first bytes and re-runs the stream sniffers on each chunk. */
export class StreamSniffBuffer {
  readonly #sniffers: readonly string[];
  readonly #max: number;
  #buf: Uint8Array;
  #len = 0;

  constructor(sniffers: readonly string[] = [], maxBytes = MAX_SNIFF_BYTES) {
    this.#sniffers = sniffers;
    this.#max = maxBytes;
    this.#buf = new Uint8Array(Math.min(4096, maxBytes));
  }

  /** Everything pushed so far (a view; forward it to the outbound before later data). */
  get bytes(): Uint8Array {
    return this.#buf.subarray(0, this.#len);
  }

  /**
   * Appends a chunk and sniffs. Past `maxBytes` the result is `no-match`; the chunk is still
   * kept, so {@linkcode StreamSniffBuffer.bytes} always holds all data read.
   */
  push(chunk: Uint8Array): SniffResult {
    const need = this.#len + chunk.length;
    if (need > this.#buf.length) {
      const grown = new Uint8Array(Math.max(need, this.#buf.length * 2));
      grown.set(this.bytes);
      this.#buf = grown;
    }
    this.#buf.set(chunk, this.#len);
    this.#len = need;
    const r = sniffStream(this.#buf.subarray(0, Math.min(this.#len, this.#max)), this.#sniffers);
    if (r.status === "need-more" && this.#len >= this.#max) {
      return noMatch(`undecided after ${this.#max} bytes`);
    }
    return r;
  }
}

/** Copies a match into flow metadata (`protocol`, `domain` when non-empty, `client`). */
export function applySniffResult(
  meta: { protocol: string; domain: string; client: string },
  result: SniffMatch,
): void {
  meta.protocol = result.protocol;
  if (result.domain !== "") meta.domain = result.domain;
  if (result.client !== "") meta.client = result.client;
}
