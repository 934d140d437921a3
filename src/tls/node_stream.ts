/**
 * The part of a {@linkcode Stream} that Node's TLS socket (`client.ts`) and an HTTP/2 request
 * (`src/transport/http.ts`) share when they run over a tunbox stream through a
 * {@linkcode StreamDuplex}: write backpressure from Node's `write()`/`drain`, keeping the reactor
 * awake while written bytes sit in Node's machinery (its completions run from `setImmediate`,
 * outside the reactor) but not while they wait for the transport to become writable (the reactor
 * wakes for that), transport errors, and the addresses of the stream underneath.
 *
 * ```ts
 * class TlsStream extends NodeBackedStream {
 *   protected sendBytes(buf: Uint8Array): number {
 *     return this.writeCopy(buf, this.#socket.destroyed, "TLS write");
 *   }
 * }
 * ```
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { E, SysError } from "../../ffi/errno.ts";
import type { SockAddr } from "../../ffi/sockaddr.ts";
import { JsStream, type Stream, WOULD_BLOCK } from "../io/stream.ts";
import type { StreamDuplex } from "./stream_duplex.ts";

/** What a {@linkcode NodeBackedStream} writes to: a Node writable (TLS socket, HTTP/2 stream). */
export interface NodeWritable {
  write(chunk: Buffer): boolean;
  on(event: "drain", listener: () => void): unknown;
}

/** A {@linkcode JsStream} whose bytes go through a Node writable over `inner`. */
export abstract class NodeBackedStream extends JsStream {
  #target: NodeWritable;
  #blocked = false;
  #releaseAwake: (() => void) | null = null;

  constructor(
    readonly inner: Stream,
    target: NodeWritable,
    protected readonly duplex: StreamDuplex,
  ) {
    super(inner.reactor);
    this.#target = target;
    // A transport failure (reset) is not always reported by the layer above it.
    duplex.on("error", (error: Error) => this.fail(error));
    target.on("drain", () => {
      if (!this.#blocked) return;
      this.#blocked = false;
      this.#updateAwake();
      this.sendReady();
    });
    duplex.onTransportWait = () => this.#updateAwake();
  }

  override localAddr(): SockAddr | null {
    return this.inner.localAddr();
  }

  override peerAddr(): SockAddr | null {
    return this.inner.peerAddr();
  }

  /**
   * Writes a copy of `buf` (Node keeps the chunk until it is processed; the caller may reuse
   * `buf`): `WOULD_BLOCK` while Node's buffer is over its mark, EPIPE (named `action`) when the
   * target is `gone`.
   */
  protected writeCopy(buf: Uint8Array, gone: boolean, action: string): number {
    if (this.#blocked) return WOULD_BLOCK;
    if (gone) throw new SysError(action, E.EPIPE);
    if (!this.#target.write(Buffer.from(buf))) {
      this.#blocked = true;
      this.#updateAwake();
    }
    return buf.length;
  }

  #updateAwake(): void {
    this.awake(this.#blocked && !this.duplex.waitingForTransport && !this.closed);
  }

  /** Holds the reactor awake (or releases it). */
  protected awake(on: boolean): void {
    if (on && this.#releaseAwake === null) this.#releaseAwake = this.reactor.holdAwake();
    else if (!on && this.#releaseAwake !== null) {
      this.#releaseAwake();
      this.#releaseAwake = null;
    }
  }
}
