#!/usr/bin/env python3
"""A host that answers ICMP echo slowly: the far side of the honest-ping test.

This kernel has no sch_netem, so `tc ... netem delay` cannot slow replies down. Instead the test
turns the far namespace's own echo replies off (net.ipv4.icmp_echo_ignore_all=1) and runs this
responder: it reads echo requests on a raw socket and answers each one after --delay-ms, from
the address that was pinged. Prints "ready" when listening. Only addresses given with --addr are
answered.
"""

import argparse
import select
import socket
import struct
import sys
import time


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--delay-ms", type=float, required=True)
    ap.add_argument("--addr", action="append", required=True)
    args = ap.parse_args()
    # One bound raw socket per answered address, so each reply leaves from the pinged address.
    senders = {}
    for a in args.addr:
        out = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        out.bind((a, 0))  # receives only what is sent to `a`; replies leave from `a`
        senders[a] = out
    answer = set(args.addr)
    pending = []  # (due, reply bytes, to, from)
    print("ready", flush=True)
    while True:
        timeout = max(0.0, pending[0][0] - time.monotonic()) if pending else 1.0
        ready, _, _ = select.select(list(senders.values()), [], [], timeout)
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            _, reply, to, frm = pending.pop(0)
            senders[frm].sendto(reply, (to, 0))
        for sock in ready:
            packet, (src, _) = sock.recvfrom(65535)
            ihl = (packet[0] & 0x0F) * 4
            dst = socket.inet_ntoa(packet[16:20])
            icmp = packet[ihl:]
            if len(icmp) < 8 or icmp[0] != 8 or icmp[1] != 0 or dst not in answer:
                continue
            body = bytes([0, 0, 0, 0]) + icmp[4:]
            reply = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
            pending.append((now + args.delay_ms / 1000.0, reply, src, dst))
            pending.sort(key=lambda p: p[0])


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
