/**
 * Linux TUN devices: `/dev/net/tun` + TUNSETIFF, then MTU, addresses and link-up through
 * rtnetlink (sing-tun `tun_linux.go` `open()` / `configure()` / `Start()`).
 *
 * - Flags: IFF_TUN | IFF_NO_PI, plus IFF_MULTI_QUEUE when `queues > 1` (N fds opened with the
 *   same name, one per worker) and IFF_VNET_HDR when asked (TUNSETVNETHDRSZ 10; every packet
 *   then starts with a 10-byte virtio_net_hdr, `packetOffset` 10).
 * - With IFF_VNET_HDR, TUNSETOFFLOAD turns on checksum and TCP segmentation offload
 *   (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6, as sing-tun and wireguard-go do): the kernel then
 *   hands over TCP segments of up to 64 KiB whatever the MTU, with partial checksums, and takes
 *   them back the same way (`src/tun/offload.ts`). A kernel that refuses it leaves `offload`
 *   false; the header stays (all zero), which is still correct.
 * - fds are O_NONBLOCK | O_CLOEXEC.
 * - An empty name becomes `tun%d`; the kernel's choice is read back from the ifreq.
 * - IPv6 addresses get IFA_F_NODAD so they are usable at once.
 * - `close()` deletes the addresses this device added, then closes every fd (closing the last
 *   fd destroys a non-persistent device, with every route through it).
 *
 * @module
 */

import { linuxErrno, linuxLibc } from "../../../ffi/linux/libc.ts";
import { E, SysError } from "../../../ffi/errno.ts";
import { O_CLOEXEC, O_NONBLOCK, O_RDWR } from "../../../ffi/linux/constants.ts";
import {
  assertInterfaceName,
  decodeIfreqName,
  encodeIfreqFlags,
} from "../../../ffi/linux/ifreq.ts";
import {
  IFF_MULTI_QUEUE,
  IFF_NO_PI,
  IFF_TUN,
  IFF_VNET_HDR,
  TUN_CLONE_PATH,
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
  TUNSETIFF,
  TUNSETOFFLOAD,
  TUNSETVNETHDRSZ,
  VIRTIO_NET_HDR_LEN,
} from "../../../ffi/linux/if_tun.ts";
import { ARPHRD_NONE, IFA_F_NODAD } from "../../../ffi/linux/netlink.ts";
import { formatPrefix, type Prefix } from "../../net/ip.ts";
import type { TunDevice, TunDeviceConfig } from "../types.ts";
import { NetlinkError, type RtNetlink, withRtNetlink } from "./rtnetlink/mod.ts";
import { getLogger } from "@logtape/logtape";

const log = getLogger(["tunbox", "platform", "tun"]);

/** The kernel's maximum MTU for a TUN device. */
export const TUN_MAX_MTU = 65535;

/** A device name is taken by an interface that is not a TUN device. */
export class InterfaceConflictError extends Error {
  override name = "InterfaceConflictError";
}

function cstr(s: string): Uint8Array {
  return new TextEncoder().encode(s + "\0");
}

/** True when a link is a layer-3 TUN device (what tunbox creates). */
export function isTunLink(link: { type: number; kind?: string }): boolean {
  return link.kind === "tun" && link.type === ARPHRD_NONE;
}

/**
 * Opens one queue fd: open(2) the clone device and TUNSETIFF. Returns the fd and the name the
 * kernel chose. Throws SysError naming the device.
 */
/** The offloads tunbox asks for with IFF_VNET_HDR. */
const OFFLOADS = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;

function openQueue(
  name: string,
  flags: number,
  vnetHdr: boolean,
): { fd: number; name: string; offload: boolean } {
  const libc = linuxLibc();
  const fd = libc.open(cstr(TUN_CLONE_PATH), O_RDWR | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd < 0) throw new SysError(`open ${TUN_CLONE_PATH}`, linuxErrno());
  try {
    const ifr = encodeIfreqFlags(name, flags);
    if (libc.ioctl(fd, BigInt(TUNSETIFF), ifr) < 0) {
      throw new SysError(`open TUN device "${name}" (ioctl TUNSETIFF)`, linuxErrno());
    }
    const actual = decodeIfreqName(ifr);
    if (vnetHdr) {
      const size = new Int32Array([VIRTIO_NET_HDR_LEN]);
      if (libc.ioctl(fd, BigInt(TUNSETVNETHDRSZ), new Uint8Array(size.buffer)) < 0) {
        throw new SysError(`set vnet header size on TUN device "${actual}"`, linuxErrno());
      }
      if (libc.ioctl_int(fd, BigInt(TUNSETOFFLOAD), BigInt(OFFLOADS)) < 0) {
        const errno = linuxErrno();
        log.debug("TUN device {name}: no checksum/segmentation offload ({error})", {
          name: actual,
          error: new SysError("ioctl TUNSETOFFLOAD", errno).message,
        });
        return { fd, name: actual, offload: false };
      }
      return { fd, name: actual, offload: true };
    }
    return { fd, name: actual, offload: false };
  } catch (e) {
    libc.close(fd);
    throw e;
  }
}

class LinuxTunDevice implements TunDevice {
  readonly packetOffset: number;
  #closed = false;

  constructor(
    readonly name: string,
    readonly index: number,
    readonly mtu: number,
    readonly fds: readonly number[],
    vnetHdr: boolean,
    /** Addresses this device added (deleted again on close). */
    readonly addedAddresses: Prefix[],
    readonly offload: boolean,
  ) {
    this.packetOffset = vnetHdr ? VIRTIO_NET_HDR_LEN : 0;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.addedAddresses.length > 0) {
      try {
        withRtNetlink((nl) => removeAddresses(nl, this.index, this.name, this.addedAddresses));
      } catch (e) {
        log.warn("Cannot remove addresses from {name}: {error}", {
          name: this.name,
          error: String(e),
        });
      }
    }
    const libc = linuxLibc();
    for (const fd of this.fds) libc.close(fd);
  }
}

function removeAddresses(
  nl: RtNetlink,
  index: number,
  name: string,
  addrs: readonly Prefix[],
): void {
  for (const a of [...addrs].reverse()) {
    try {
      nl.deleteAddress(index, a, name);
    } catch (e) {
      // Gone already (device destroyed or address removed by someone else): nothing to undo.
      if (!(e instanceof NetlinkError && (e.code === "EADDRNOTAVAIL" || e.code === "ENODEV"))) {
        throw e;
      }
    }
  }
}

/**
 * Creates (or attaches to) a TUN device and configures it: MTU, every address, link up.
 * On any failure, undoes what it did (addresses, fds) and throws an error naming the step.
 */
export function openTun(config: TunDeviceConfig): TunDevice {
  const requested = config.name === "" ? "tun%d" : config.name;
  assertInterfaceName(requested, true);
  if (!Number.isInteger(config.queues) || config.queues < 1) {
    throw new RangeError(`Invalid TUN queue count ${config.queues}: must be an integer ≥ 1`);
  }
  if (!Number.isInteger(config.mtu) || config.mtu < 68 || config.mtu > TUN_MAX_MTU) {
    throw new RangeError(`Invalid TUN MTU ${config.mtu}: must be between 68 and ${TUN_MAX_MTU}`);
  }
  for (const a of config.addresses) {
    if (a.addr.length !== 4 && a.addr.length !== 16) {
      throw new RangeError(`Invalid TUN address: ${a.addr.length}-byte address`);
    }
  }

  return withRtNetlink((nl) => {
    if (config.name !== "") {
      const existing = nl.getLink(config.name);
      if (existing && !isTunLink(existing)) {
        throw new InterfaceConflictError(
          `Cannot open TUN device "${config.name}": an interface of that name already exists ` +
            `and is ${existing.kind ? `a ${existing.kind} device` : "not a TUN device"}`,
        );
      }
    }

    let flags = IFF_TUN | IFF_NO_PI;
    if (config.queues > 1) flags |= IFF_MULTI_QUEUE;
    if (config.vnetHdr) flags |= IFF_VNET_HDR;

    const fds: number[] = [];
    const added: Prefix[] = [];
    let name = requested;
    let index = 0;
    let vnetHdr = config.vnetHdr;
    let offload = vnetHdr;
    try {
      for (let q = 0; q < config.queues; q++) {
        let opened;
        try {
          opened = openQueue(name, flags, vnetHdr);
        } catch (e) {
          // A kernel (or sandbox) without IFF_VNET_HDR: the same device without offload.
          if (!(q === 0 && vnetHdr && e instanceof SysError && e.code === "EINVAL")) throw e;
          log.debug("TUN device {name}: no IFF_VNET_HDR ({error}); opening it without offload", {
            name,
            error: e.message,
          });
          vnetHdr = offload = false;
          flags &= ~IFF_VNET_HDR;
          opened = openQueue(name, flags, false);
        }
        fds.push(opened.fd);
        name = opened.name;
        offload &&= opened.offload;
      }
      index = linuxLibc().if_nametoindex(cstr(name));
      if (index === 0) throw new SysError(`find index of TUN device "${name}"`, linuxErrno());

      nl.setLinkMtu(index, config.mtu, name);
      for (const a of config.addresses) {
        try {
          nl.addAddress(index, a, a.addr.length === 16 ? IFA_F_NODAD : 0, name);
          added.push(a);
        } catch (e) {
          // Present already (attached to a persistent device that has it): keep, do not own.
          if (!(e instanceof NetlinkError && e.errno === E.EEXIST)) throw e;
          log.debug("Address {addr} already on {name}", { addr: formatPrefix(a), name });
        }
      }
      nl.setLinkUp(index, true, name);
    } catch (e) {
      if (index !== 0) {
        try {
          removeAddresses(nl, index, name, added);
        } catch (undo) {
          log.warn("Undo after failed TUN setup: {error}", { error: String(undo) });
        }
      }
      const libc = linuxLibc();
      for (const fd of fds) libc.close(fd);
      throw e;
    }
    log.debug(
      "Opened TUN device {name} (index {index}, {queues} queue(s), mtu {mtu}, offload {offload})",
      { name, index, queues: fds.length, mtu: config.mtu, offload },
    );
    return new LinuxTunDevice(name, index, config.mtu, fds, vnetHdr, added, offload);
  });
}
