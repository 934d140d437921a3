/**
 * DNS over TLS (RFC 7858): the TCP transport's framing, connection reuse and pipelining
 * (`transport_tcp.ts`) over a TLS connection made with tunbox's TLS client, through the
 * server's dialer (its own dial fields or `detour`). Port 853 by default. A handshake failure
 * (an untrusted certificate, a pin that does not match) fails the query with a message that
 * names the server and the reason.
 *
 * @module
 */

import type { Reactor } from "../io/reactor.ts";
import type { Dialer } from "../outbound/types.ts";
import type { TlsClientConfig } from "../tls/client.ts";
import type { ServerAddress } from "./transport.ts";
import { TcpTransport } from "./transport_tcp.ts";

/** The default DNS-over-TLS port (RFC 7858 §3.1). */
export const DOT_PORT = 853;

/** A `tls` DNS server. */
export function createTlsTransport(
  tag: string,
  reactor: Reactor,
  dialer: Pick<Dialer, "dialTcp">,
  server: ServerAddress,
  tls: TlsClientConfig,
): TcpTransport {
  return new TcpTransport(
    tag,
    reactor,
    dialer,
    server,
    "tls",
    // TLS is imported by the first connection, not by every DNS module that could use it.
    async (sock, timeoutMs) =>
      (await import("../tls/client.ts")).tlsConnect(sock, tls, {
        what: `${server.name}: connect to ${server.text}`,
        timeoutMs,
      }),
    "TLS",
  );
}
