/**
 * utun devices on macOS: a `PF_SYSTEM` kernel-control socket connected to
 * `com.apple.net.utun_control` *is* the interface; closing it destroys the interface, its
 * addresses and every route through it.
 *
 * Sequence ({@linkcode openUtun}): socket → CTLIOCGINFO → connect(unit N+1) →
 * getsockopt(UTUN_OPT_IFNAME) → FD_CLOEXEC + O_NONBLOCK → if_nametoindex → SIOCSIFMTU →
 * SIOCAIFADDR per IPv4 address → SIOCAIFADDR_IN6 per IPv6 address → IFF_UP. A failure at any
 * step closes what was opened (closing the utun fd also drops the addresses already added).
 *
 * Framing: every read and write carries a 4-byte big-endian address family before the IP
 * packet (`packetOffset` 4); {@linkcode setUtunHeader} and {@linkcode utunPacketFamily} handle it
 * in place.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { SysError } from "../../../ffi/errno.ts";
import {
  AF_INET,
  AF_INET6,
  CTLIOCGINFO,
  DARWIN_ERRNO,
  F_GETFL,
  F_SETFD,
  F_SETFL,
  FD_CLOEXEC,
  IFF_UP,
  O_NONBLOCK,
  PF_SYSTEM,
  SIOCAIFADDR,
  SIOCAIFADDR_IN6,
  SIOCGIFFLAGS,
  SIOCSIFFLAGS,
  SIOCSIFMTU,
  SOCK_DGRAM,
  SYSPROTO_CONTROL,
  UTUN_CONTROL_NAME,
  UTUN_HEADER_SIZE,
  UTUN_OPT_IFNAME,
} from "../../../ffi/darwin/constants.ts";
import { type DarwinLibc, fromCString } from "../../../ffi/darwin/libc.ts";
import {
  decodeCtlInfo,
  decodeIfreq,
  encodeCtlInfo,
  encodeIfaliasreq,
  encodeIfreqFlags,
  encodeIfreqMtu,
  encodeIn6Aliasreq,
  encodeSockaddrCtl,
  SOCKADDR_CTL_SIZE,
} from "../../../ffi/darwin/structs.ts";
import { formatPrefix, type Prefix } from "../../net/ip.ts";
import type { TunDevice, TunDeviceConfig } from "../types.ts";

const log = getLogger(["tunbox", "platform"]);

/**
 * The `sc_unit` to connect with for a requested name: N+1 for `utunN`, 0 (kernel picks the
 * next free unit) for an empty name. Other names are rejected: macOS names utun devices itself.
 */
export function utunUnit(name: string): number {
  if (name === "") return 0;
  const problem = utunNameProblem(name);
  if (problem) throw new TypeError(`Invalid TUN interface name "${name}": ${problem}`);
  return Number(name.slice(4)) + 1;
}

/** Why `name` cannot name a utun device (`utunN`), or null when it can. */
export function utunNameProblem(name: string): string | null {
  return /^utun(0|[1-9][0-9]{0,8})$/.test(name)
    ? null
    : "macOS only allows utunN (for example utun8), or leave interface_name empty to pick a free one";
}

/** A failed call, named with the action and the Darwin errno. */
function fail(libc: DarwinLibc, action: string): SysError {
  return new SysError(action, libc.errno(), "darwin");
}

/** Creates and configures a utun device; see the module comment for the exact sequence. */
export function openUtun(libc: DarwinLibc, config: TunDeviceConfig): TunDevice {
  const unit = utunUnit(config.name);
  const label = config.name === "" ? "utun (next free)" : config.name;
  if (config.queues > 1) {
    log.debug("macOS utun has a single queue; ignoring queues={queues}", { queues: config.queues });
  }
  if (config.vnetHdr) log.debug("vnet_hdr/GSO is Linux-only; ignored on macOS");

  const fd = libc.socket(PF_SYSTEM, SOCK_DGRAM, SYSPROTO_CONTROL);
  if (fd < 0) throw fail(libc, `open TUN device "${label}": socket(PF_SYSTEM, SYSPROTO_CONTROL)`);
  let helper = -1;
  try {
    const info = encodeCtlInfo(UTUN_CONTROL_NAME);
    if (libc.ioctlPtr(fd, CTLIOCGINFO, info) < 0) {
      throw fail(libc, `open TUN device "${label}": ioctl CTLIOCGINFO "${UTUN_CONTROL_NAME}"`);
    }
    const ctlId = decodeCtlInfo(info).id;

    if (libc.connect(fd, encodeSockaddrCtl(ctlId, unit), SOCKADDR_CTL_SIZE) < 0) {
      const errno = libc.errno();
      const cause = new SysError(
        `open TUN device "${label}": connect unit ${unit}`,
        errno,
        "darwin",
      );
      if (errno === DARWIN_ERRNO.EBUSY) {
        throw new Error(
          `open TUN device "${label}" failed: ${label} is in use (another VPN, or a tunbox or ` +
            `sing-box still running, holds it); set interface_name to another utunN or stop ` +
            `that program`,
          { cause },
        );
      }
      throw cause;
    }

    const nameBuf = new Uint8Array(16);
    const nameLen = new Uint32Array([nameBuf.length]);
    if (libc.getsockopt(fd, SYSPROTO_CONTROL, UTUN_OPT_IFNAME, nameBuf, nameLen) < 0) {
      throw fail(libc, `open TUN device "${label}": getsockopt UTUN_OPT_IFNAME`);
    }
    const name = fromCString(nameBuf.subarray(0, Math.min(nameLen[0]!, nameBuf.length)));
    if (config.name !== "" && name !== config.name) {
      log.warn("asked for {want} but the kernel created {got}", { want: config.name, got: name });
    }

    if (libc.fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
      throw fail(libc, `set FD_CLOEXEC on TUN device "${name}"`);
    }
    const flags = libc.fcntl(fd, F_GETFL, 0);
    if (flags < 0 || libc.fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
      throw fail(libc, `set O_NONBLOCK on TUN device "${name}"`);
    }

    const index = libc.if_nametoindex(name);
    if (index === 0) throw fail(libc, `look up the index of TUN device "${name}"`);

    // MTU, IPv4 addresses and the up flag go through one AF_INET datagram socket.
    helper = libc.socket(AF_INET, SOCK_DGRAM, 0);
    if (helper < 0) throw fail(libc, `configure TUN device "${name}": socket(AF_INET)`);
    if (libc.ioctlPtr(helper, SIOCSIFMTU, encodeIfreqMtu(name, config.mtu)) < 0) {
      throw fail(libc, `set MTU ${config.mtu} on TUN device "${name}" (ioctl SIOCSIFMTU)`);
    }
    addUtunAddresses(libc, name, config.addresses, helper);
    // Assigning an address normally brings a utun up; make sure, as ifconfig would.
    bringUtunUp(libc, name, helper);
    libc.close(helper);
    helper = -1;

    log.info("opened {name} (index {index}, MTU {mtu}, {addresses})", {
      name,
      index,
      mtu: config.mtu,
      addresses: config.addresses.map(formatPrefix).join(", ") || "no addresses",
    });
    let open = true;
    return {
      name,
      index,
      mtu: config.mtu,
      fds: [fd],
      packetOffset: UTUN_HEADER_SIZE,
      offload: false,
      close() {
        if (!open) return;
        open = false;
        if (libc.close(fd) < 0) {
          log.warn("closing {name} failed: errno {errno}", { name, errno: libc.errno() });
        }
      },
    };
  } catch (err) {
    if (helper >= 0) libc.close(helper);
    libc.close(fd);
    throw err;
  }
}

/**
 * Adds `addresses` to the utun `name`: SIOCAIFADDR for IPv4 (the peer set to the address
 * itself, as sing-tun does) on `inet` (an AF_INET datagram socket; one is opened when absent),
 * SIOCAIFADDR_IN6 for IPv6 on an AF_INET6 socket. Throws a SysError naming the address.
 */
export function addUtunAddresses(
  libc: DarwinLibc,
  name: string,
  addresses: readonly Prefix[],
  inet = -1,
): void {
  for (const family of [4, 6] as const) {
    const mine = addresses.filter((p) => p.addr.length === (family === 4 ? 4 : 16));
    if (mine.length === 0) continue;
    const own = family === 6 || inet < 0;
    const fd = !own ? inet : libc.socket(family === 4 ? AF_INET : AF_INET6, SOCK_DGRAM, 0);
    if (fd < 0) {
      const domain = family === 4 ? "AF_INET" : "AF_INET6";
      throw fail(libc, `configure TUN device "${name}": socket(${domain})`);
    }
    try {
      for (const p of mine) {
        const ok = family === 4
          ? libc.ioctlPtr(fd, SIOCAIFADDR, encodeIfaliasreq(name, p.addr, p.bits)) >= 0
          : libc.ioctlPtr(fd, SIOCAIFADDR_IN6, encodeIn6Aliasreq(name, p.addr, p.bits)) >= 0;
        if (!ok) {
          const ioctl = family === 4 ? "SIOCAIFADDR" : "SIOCAIFADDR_IN6";
          throw fail(libc, `add address ${formatPrefix(p)} to "${name}" (ioctl ${ioctl})`);
        }
      }
    } finally {
      if (own) libc.close(fd);
    }
  }
}

/**
 * Sets IFF_UP on `name` when it is not set, through `inet` (an AF_INET datagram socket; one is
 * opened when absent); returns whether it had to.
 */
export function bringUtunUp(libc: DarwinLibc, name: string, inet = -1): boolean {
  const fd = inet >= 0 ? inet : libc.socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) throw fail(libc, `configure TUN device "${name}": socket(AF_INET)`);
  try {
    const ifr = encodeIfreqFlags(name, 0);
    if (libc.ioctlPtr(fd, SIOCGIFFLAGS, ifr) < 0) {
      throw fail(libc, `read flags of TUN device "${name}" (ioctl SIOCGIFFLAGS)`);
    }
    const flags = decodeIfreq(ifr).flags;
    if ((flags & IFF_UP) !== 0) return false;
    if (libc.ioctlPtr(fd, SIOCSIFFLAGS, encodeIfreqFlags(name, flags | IFF_UP)) < 0) {
      throw fail(libc, `bring TUN device "${name}" up (ioctl SIOCSIFFLAGS)`);
    }
    return true;
  } finally {
    if (fd !== inet) libc.close(fd);
  }
}

/**
 * Writes the utun header for the IP packet that starts at `frame[4]`: the big-endian address
 * family taken from the IP version nibble. Returns false (and writes nothing) when the packet is
 * neither IPv4 nor IPv6.
 */
export function setUtunHeader(frame: Uint8Array): boolean {
  if (frame.length <= UTUN_HEADER_SIZE) return false;
  const version = frame[UTUN_HEADER_SIZE]! >> 4;
  const family = version === 4 ? AF_INET : version === 6 ? AF_INET6 : 0;
  if (family === 0) return false;
  frame[0] = 0;
  frame[1] = 0;
  frame[2] = 0;
  frame[3] = family;
  return true;
}

/** The IP version a utun frame's header announces (4, 6), or null for anything else. */
export function utunPacketFamily(frame: Uint8Array): 4 | 6 | null {
  if (frame.length < UTUN_HEADER_SIZE || frame[0] !== 0 || frame[1] !== 0 || frame[2] !== 0) {
    return null;
  }
  return frame[3] === AF_INET ? 4 : frame[3] === AF_INET6 ? 6 : null;
}
