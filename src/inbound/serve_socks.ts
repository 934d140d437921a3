/**
 * A SOCKS5 (and SOCKS4/4a) server that dials everything directly: the demo's embedded proxy
 * and a test peer. CONNECT and UDP ASSOCIATE, optional username/password.
 *
 * As a library: {@linkcode startSocksServer} on a running reactor. Standalone:
 *
 * ```sh
 * deno run -A src/inbound/serve_socks.ts --listen 127.0.0.1:1080 [--user name:pass]... [--mixed]
 * ```
 *
 * prints `listening on 127.0.0.1:1080` on stdout when ready and runs until SIGTERM or SIGINT.
 * Domains are resolved from /etc/hosts (there is no DNS client here).
 *
 * @module
 */

import type { SockAddr } from "../../ffi/sockaddr.ts";
import type { InboundUser } from "../config/types.ts";
import { Reactor } from "../io/reactor.ts";
import { formatSockAddr } from "../io/socket.ts";
import { DirectDialer } from "../outbound/direct_dialer.ts";
import type { DialContext, Dialer } from "../outbound/mod.ts";
import { hostsResolver } from "../dns/hosts_file.ts";
import { ListenerInbound } from "./listener.ts";
import { createOutboundHandler, type OutboundHandler } from "./outbound_handler.ts";
import { parseIp } from "../net/ip.ts";

export interface SocksServerOptions {
  reactor: Reactor;
  listen: SockAddr;
  users?: InboundUser[];
  /** Where connections go; default: a direct dialer on `reactor`. */
  dial?: Dialer;
  /** Context for the default direct dialer (default resolver: /etc/hosts). */
  context?: Partial<DialContext>;
  /** `mixed` also speaks HTTP proxy on the same port. Default `socks`. */
  type?: "socks" | "mixed";
  udpTimeoutMs?: number;
}

/** A running server. */
export interface SocksServer {
  readonly inbound: ListenerInbound;
  readonly handler: OutboundHandler;
  localAddr(): SockAddr;
  close(): void;
}

/** Starts a SOCKS server on a running reactor. */
export function startSocksServer(options: SocksServerOptions): SocksServer {
  const dial = options.dial ?? new DirectDialer("socks server direct", {}, {
    resolve: hostsResolver(),
    ...options.context,
    reactor: options.reactor,
  });
  const handler = createOutboundHandler(options.reactor, dial);
  const inbound = new ListenerInbound(
    options.reactor,
    {
      type: options.type ?? "socks",
      tag: options.type ?? "socks",
      listen: options.listen.addr,
      listen_port: options.listen.port,
      users: options.users ?? [],
      ...(options.udpTimeoutMs ? { udp_timeout: options.udpTimeoutMs } : {}),
    },
    handler,
    { nextId: () => handler.path.nextId() },
  );
  return {
    inbound,
    handler,
    localAddr: () => inbound.localAddr(),
    close() {
      inbound.close();
      handler.close();
    },
  };
}

/** Parses the standalone command line; throws TypeError naming the bad argument. */
export function parseServeArgs(
  args: string[],
): { listen: SockAddr; users: InboundUser[]; type: "socks" | "mixed" } {
  let listen: SockAddr = { addr: new Uint8Array([127, 0, 0, 1]), port: 1080 };
  const users: InboundUser[] = [];
  let type: "socks" | "mixed" = "socks";
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const value = () => {
      const v = args[++i];
      if (v === undefined) throw new TypeError(`${arg} needs a value`);
      return v;
    };
    if (arg === "--listen") {
      const text = value();
      const m = /^\[?([^\]]*?)\]?:(\d{1,5})$/.exec(text);
      const addr = m ? parseIp(m[1]!) : null;
      const port = m ? Number(m[2]) : NaN;
      if (!addr || port > 65535) throw new TypeError(`--listen "${text}": expected IP:port`);
      listen = { addr, port };
    } else if (arg === "--user") {
      const text = value();
      const colon = text.indexOf(":");
      if (colon <= 0) throw new TypeError(`--user "${text}": expected name:password`);
      users.push({ username: text.slice(0, colon), password: text.slice(colon + 1) });
    } else if (arg === "--mixed") {
      type = "mixed";
    } else {
      throw new TypeError(`unknown argument "${arg}"`);
    }
  }
  return { listen, users, type };
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseServeArgs(Deno.args);
  } catch (error) {
    Deno.stderr.writeSync(
      new TextEncoder().encode(
        `serve_socks: ${
          (error as Error).message
        }\nusage: serve_socks.ts --listen IP:PORT [--user name:pass]... [--mixed]\n`,
      ),
    );
    Deno.exit(2);
  }
  const reactor = new Reactor();
  const server = startSocksServer({ reactor, ...parsed });
  const stop = () => reactor.stop();
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  Deno.stdout.writeSync(
    new TextEncoder().encode(`listening on ${formatSockAddr(server.localAddr())}\n`),
  );
  await reactor.run();
  server.close();
  reactor.close();
  Deno.removeSignalListener("SIGTERM", stop);
  Deno.removeSignalListener("SIGINT", stop);
}

if (import.meta.main) await main();
