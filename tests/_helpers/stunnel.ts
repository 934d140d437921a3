/**
 * stunnel4 (Debian) as a TLS server in front of a plain TCP service, for tests of TLS clients:
 * `accept` on 127.0.0.1:<random> (or a given address), `connect` to the service. Stopped by PID.
 */

import type { Reactor } from "../../src/io/reactor.ts";
import { freePort, type Peer, startPeer, tool } from "../outbound/_helpers.ts";
import type { Leaf } from "./tls_certs.ts";

/** Starts stunnel terminating TLS with `leaf` and forwarding to `connect` (`host:port`). */
export async function startStunnel(
  r: Reactor,
  leaf: Leaf,
  connect: string,
  extra: string[] = [],
): Promise<Peer> {
  const stunnel = tool("stunnel4", "stunnel4");
  const dir = await Deno.makeTempDir({ prefix: "tunbox-stunnel-" });
  const port = freePort();
  const conf = `${dir}/stunnel.conf`;
  await Deno.writeTextFile(
    conf,
    [
      "foreground = yes",
      "pid =",
      "debug = info",
      "[tls]",
      `accept = 127.0.0.1:${port}`,
      `connect = ${connect}`,
      `cert = ${leaf.certPath}`,
      `key = ${leaf.keyPath}`,
      ...extra,
      "",
    ].join("\n"),
  );
  try {
    const peer = await startPeer(r, stunnel, [conf], port);
    const stop = peer.stop;
    peer.stop = async () => {
      await stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    };
    return peer;
  } catch (error) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
}
