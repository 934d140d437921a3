/**
 * A test NTP server on the reactor (loopback UDP), written from RFC 5905 independently of
 * `src/ntp/`: it answers each request with its own clock (the real one plus `offsetMs`), echoing
 * the request's transmit timestamp. `mode` makes it misbehave: `garbage` (random bytes),
 * `kod` (a kiss-o'-death), `silent` (no answer), `wrong-origin` (another request's answer).
 */

import type { SockAddr } from "../../ffi/sockaddr.ts";
import type { Reactor } from "../../src/io/reactor.ts";
import { UdpSocket, WOULD_BLOCK } from "../../src/io/socket.ts";

const LOOPBACK = new Uint8Array([127, 0, 0, 1]);
const UNIX_TO_NTP_S = 2_208_988_800;

export type ResponderMode = "ok" | "garbage" | "kod" | "silent" | "wrong-origin";

export interface Responder {
  readonly addr: SockAddr;
  /** Requests received (their raw bytes). */
  readonly requests: Uint8Array[];
  mode: ResponderMode;
  offsetMs: number;
  close(): void;
}

function ntpStamp(out: DataView, at: number, unixMs: number): void {
  const s = Math.floor(unixMs / 1000);
  out.setUint32(at, s + UNIX_TO_NTP_S);
  out.setUint32(at + 4, Math.floor(((unixMs - s * 1000) / 1000) * 0x100000000));
}

export function startResponder(
  r: Reactor,
  mode: ResponderMode = "ok",
  offsetMs = 0,
  addr: Uint8Array = LOOPBACK,
): Responder {
  const sock = UdpSocket.open(r, 4, {}, { addr, port: 0 });
  const buf = new Uint8Array(512);
  const from: SockAddr = { addr: new Uint8Array(4), port: 0 };
  const state: Responder = {
    addr: sock.localAddr(),
    requests: [],
    mode,
    offsetMs,
    close: () => sock.close(),
  };
  sock.onReadable = () => {
    for (;;) {
      const n = sock.recvFrom(buf, from);
      if (n === WOULD_BLOCK) return;
      state.requests.push(buf.slice(0, n));
      const to = { addr: from.addr, port: from.port };
      if (state.mode === "silent") continue;
      if (state.mode === "garbage") {
        sock.sendTo(crypto.getRandomValues(new Uint8Array(48)), to);
        continue;
      }
      const out = new Uint8Array(48);
      const v = new DataView(out.buffer);
      const now = Date.now() + state.offsetMs;
      out[0] = (0 << 6) | (4 << 3) | 4; // no leap warning, version 4, server
      out[1] = state.mode === "kod" ? 0 : 2; // stratum
      if (state.mode === "kod") out.set(new TextEncoder().encode("RATE"), 12);
      ntpStamp(v, 16, now - 60_000); // reference
      if (state.mode === "wrong-origin") out.set(crypto.getRandomValues(new Uint8Array(8)), 24);
      else out.set(buf.subarray(40, 48), 24); // originate = the request's transmit
      ntpStamp(v, 32, now); // receive
      ntpStamp(v, 40, now + 1); // transmit
      sock.sendTo(out, to);
    }
  };
  return state;
}
