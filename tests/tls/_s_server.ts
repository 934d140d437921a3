/**
 * `openssl s_server` as a TLS peer for the client tests, on 127.0.0.1:<random>, stopped by PID.
 * `-rev` answers each line reversed; `output()` holds what s_server printed (the SNI it saw, the
 * protocol, "CONNECTION CLOSED" on a clean close_notify). The readiness probe of `startPeer`
 * shows up as one "CONNECTION FAILURE" first.
 */

import type { Reactor } from "../../src/io/reactor.ts";
import { freePort, type Peer, startPeer, tool } from "../outbound/_helpers.ts";
import type { Leaf } from "../_helpers/tls_certs.ts";

/** Starts s_server with `leaf` and extra arguments (`-tls1_2`, `-alpn h2`, ...). */
export function startSServer(r: Reactor, leaf: Leaf, extra: string[] = []): Promise<Peer> {
  const openssl = tool("openssl", "openssl");
  const port = freePort();
  // Line-buffered, so what it printed is there when it is stopped.
  return startPeer(r, tool("stdbuf", "coreutils"), [
    "-oL",
    openssl,
    "s_server",
    "-accept",
    `127.0.0.1:${port}`,
    "-cert",
    leaf.certPath,
    "-key",
    leaf.keyPath,
    "-rev",
    ...extra,
  ], port);
}
