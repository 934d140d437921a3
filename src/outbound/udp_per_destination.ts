/**
 * A full-cone {@linkcode UdpFlow} over protocols whose UDP connection reaches one destination
 * (VMess and VLESS without `xudp`/`packetaddr`): one protocol connection per destination,
 * opened on the first datagram to it (datagrams sent meanwhile wait, up to a few), each write
 * one datagram, each datagram it delivers a reply from that destination.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { type Stream, WOULD_BLOCK } from "../io/stream.ts";
import { type Destination, type DialMeta, formatDestination, type UdpFlow } from "./types.ts";

const log = getLogger(["tunbox", "outbound"]);

/** A stream that delivers whole datagrams to a callback instead of bytes to `read`. */
export interface DatagramStream extends Stream {
  onDatagram: ((payload: Uint8Array) => void) | null;
}

/** Datagrams held per destination while its connection opens. */
const MAX_WAITING = 16;
/** Destinations kept open at once; the least recently used closes first. */
const MAX_DESTINATIONS = 64;

interface Entry {
  dest: Destination;
  stream: DatagramStream | null;
  waiting: Uint8Array[];
}

/** See the module documentation. */
export class PerDestinationUdpFlow implements UdpFlow {
  onPacket: ((payload: Uint8Array, from: Destination) => void) | null = null;
  onClose: ((reason?: Error) => void) | null = null;
  #dropped = 0;
  #closed = false;
  #entries = new Map<string, Entry>();

  constructor(
    readonly name: string,
    readonly meta: DialMeta,
    readonly open: (dest: Destination) => Promise<Stream>,
  ) {}

  get dropped(): number {
    return this.#dropped;
  }

  send(payload: Uint8Array, dest: Destination): void {
    if (this.#closed) {
      this.#dropped++;
      return;
    }
    const key = formatDestination(dest);
    let e = this.#entries.get(key);
    if (e) {
      // Most recently used last.
      this.#entries.delete(key);
      this.#entries.set(key, e);
    } else {
      e = { dest, stream: null, waiting: [] };
      this.#entries.set(key, e);
      this.#evict();
      this.#start(key, e);
    }
    if (!e.stream) {
      if (e.waiting.length >= MAX_WAITING) this.#dropped++;
      else e.waiting.push(payload.slice());
      return;
    }
    this.#write(e.stream, payload);
  }

  #write(stream: Stream, payload: Uint8Array): void {
    try {
      if (stream.write(payload) === WOULD_BLOCK) this.#dropped++;
    } catch {
      this.#dropped++;
    }
  }

  #start(key: string, e: Entry): void {
    this.open(e.dest).then((s) => {
      const stream = s as DatagramStream;
      if (this.#closed || this.#entries.get(key) !== e) {
        stream.close();
        return;
      }
      e.stream = stream;
      stream.onDatagram = (payload) => this.onPacket?.(payload, e.dest);
      stream.onHangup = () => {
        const error = stream.hangupError();
        if (error) {
          log.debug("[{id}] {name}: UDP to {dest} ended: {error}", {
            id: this.meta.id,
            name: this.name,
            dest: key,
            error: error.message,
          });
        }
        stream.close();
        if (this.#entries.get(key) === e) this.#entries.delete(key);
      };
      for (const p of e.waiting) this.#write(stream, p);
      e.waiting = [];
    }, (error) => {
      this.#dropped += e.waiting.length;
      if (this.#entries.get(key) === e) this.#entries.delete(key);
      log.debug("[{id}] {name}: UDP to {dest} failed: {error}", {
        id: this.meta.id,
        name: this.name,
        dest: key,
        error: error instanceof Error ? error.message : String(error),
      });
    });
  }

  #evict(): void {
    while (this.#entries.size > MAX_DESTINATIONS) {
      const [key, e] = this.#entries.entries().next().value!;
      this.#entries.delete(key);
      e.stream?.close();
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const e of this.#entries.values()) e.stream?.close();
    this.#entries.clear();
  }
}
