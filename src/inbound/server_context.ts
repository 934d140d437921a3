/**
 * What a protocol server (SOCKS, HTTP) needs from the listener inbound that accepted the
 * connection.
 *
 * @module
 */

import type { InboundUser } from "../config/types.ts";
import type { Reactor } from "../io/reactor.ts";
import type { InboundHandler } from "./types.ts";

/** Shared by every connection of one listener inbound. */
export interface ServerContext {
  reactor: Reactor;
  /** Inbound tag. */
  tag: string;
  inboundType: "socks" | "http" | "mixed";
  /** Empty: no authentication. */
  users: readonly InboundUser[];
  handler: InboundHandler;
  /** Allocates a connection id. */
  nextId(): number;
  /** The listen address; UDP relay sockets bind to it (to the connection's local address when unspecified). */
  listen: Uint8Array;
  /** An idle UDP association ends after this long. */
  udpTimeoutMs: number;
  /** The client must finish its request within this long. */
  handshakeTimeoutMs: number;
  /** Registers something to close with the inbound; returns the function that unregisters it. */
  track(item: { close(): void }): () => void;
}

/** True when `users` is empty or has this exact user name and password. */
export function checkUser(users: readonly InboundUser[], name: string, password: string): boolean {
  return users.some((u) => u.username === name && u.password === password);
}
