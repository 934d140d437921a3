/**
 * Micro benchmarks of the reactor's system-call wrappers (`src/io/sys.ts`): the per-call cost of
 * `fdWrite`+`fdRead` on a pipe, `sockSend`+`fdRead` on a TCP loopback pair and
 * `sockSendTo`+`sockRecvFrom` on UDP loopback, 64-byte payloads. These are the calls every packet
 * and every relayed chunk goes through, so a change to the wrappers shows here first.
 *
 * `deno bench -A bench/sys_bench.ts` for Deno's table; `deno run -A bench/sys_bench.ts [n]`
 * prints nanoseconds per round trip (best of 5 runs of n, default 200,000).
 *
 * @module
 */

import {
  fdClose,
  fdRead,
  fdWrite,
  pipeCreate,
  sockAccept,
  sockBind,
  sockConnect,
  sockCreate,
  sockListen,
  sockLocalAddr,
  sockRecvFrom,
  sockSend,
  sockSendTo,
} from "../src/io/sys.ts";
import type { SockAddr } from "../ffi/sockaddr.ts";

const LOOPBACK = new Uint8Array([127, 0, 0, 1]);
const payload = new Uint8Array(64).fill(7);
const sink = new Uint8Array(2048);

const [pipeR, pipeW] = pipeCreate();

function tcpPair(): [number, number] {
  const l = sockCreate(4, "tcp");
  sockBind(l, { addr: LOOPBACK, port: 0 });
  sockListen(l, 4);
  const c = sockCreate(4, "tcp");
  sockConnect(c, sockLocalAddr(l));
  let s = -1;
  for (let i = 0; i < 1000 && s < 0; i++) s = sockAccept(l);
  fdClose(l);
  if (s < 0) throw new Error("accept on loopback did not complete");
  return [c, s];
}
const [tcpA, tcpB] = tcpPair();

const udpA = sockCreate(4, "udp"), udpB = sockCreate(4, "udp");
sockBind(udpA, { addr: LOOPBACK, port: 0 });
sockBind(udpB, { addr: LOOPBACK, port: 0 });
const udpBAddr = sockLocalAddr(udpB);
const from: SockAddr = { addr: new Uint8Array(4), port: 0 };

function pipeRoundTrip(): void {
  fdWrite(pipeW, payload);
  fdRead(pipeR, sink);
}

function tcpRoundTrip(): void {
  sockSend(tcpA, payload);
  fdRead(tcpB, sink);
}

function udpRoundTrip(): void {
  sockSendTo(udpA, payload, udpBAddr);
  sockRecvFrom(udpB, sink, from);
}

Deno.bench("fdWrite + fdRead, pipe, 64 B", pipeRoundTrip);
Deno.bench("sockSend + fdRead, TCP loopback, 64 B", tcpRoundTrip);
Deno.bench("sockSendTo + sockRecvFrom, UDP loopback, 64 B", udpRoundTrip);

if (import.meta.main) {
  const n = Number(Deno.args[0] ?? 200_000);
  for (
    const [name, fn] of [["pipe", pipeRoundTrip], ["tcp", tcpRoundTrip], [
      "udp",
      udpRoundTrip,
    ]] as const
  ) {
    let best = Infinity;
    for (let run = 0; run < 5; run++) {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) fn();
      best = Math.min(best, ((performance.now() - t0) * 1e6) / n);
    }
    console.log(`${name.padEnd(5)} ${best.toFixed(0)} ns per round trip`);
  }
  for (const fd of [pipeR, pipeW, tcpA, tcpB, udpA, udpB]) fdClose(fd);
}
