/**
 * A recording test double of {@linkcode DarwinLibc}: it keeps a small model of the kernel state
 * the Darwin platform touches (file descriptors, utun interfaces and their addresses, the
 * routing table, a route dump), decodes every struct it is handed with the decoders from
 * `ffi/darwin/structs.ts`, and logs one readable line per call, result included:
 *
 *     ioctl(4, SIOCAIFADDR, ifaliasreq{utun8 198.18.0.1 dst 198.18.0.1 mask 255.255.0.0}) = 0
 *
 * Failures come from the model (EEXIST for a route that exists, EBUSY for a utun unit in use,
 * ESRCH for a missing route) or are injected: `failAt(n, errno)` fails the n-th call,
 * `failOn(prefix, errno)` the first call whose line starts with `prefix`.
 *
 * @module
 */

import { errnoName } from "../../../ffi/errno.ts";
import {
  AF_INET,
  AF_INET6,
  AF_ROUTE,
  AF_UNSPEC,
  CTLIOCGINFO,
  DARWIN_ERRNO,
  F_GETFL,
  F_SETFD,
  F_SETFL,
  FD_CLOEXEC,
  IFF_UP,
  IP_BOUND_IF,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPV6_BOUND_IF,
  O_NONBLOCK,
  O_RDWR,
  PF_SYSTEM,
  RTF,
  RTM,
  SIOCAIFADDR,
  SIOCAIFADDR_IN6,
  SIOCGIFFLAGS,
  SIOCSIFFLAGS,
  SIOCSIFMTU,
  SOCK_DGRAM,
  SOCK_RAW,
  SYSPROTO_CONTROL,
  UTUN_CONTROL_NAME,
  UTUN_OPT_IFNAME,
} from "../../../ffi/darwin/constants.ts";
import type { DarwinArch, DarwinLibc } from "../../../ffi/darwin/libc.ts";
import {
  decodeCtlInfo,
  decodeIfaliasreq,
  decodeIfreq,
  decodeIn6Aliasreq,
  decodeRouteMessage,
  decodeSockaddrCtl,
  maskBits,
  type RouteMessage,
} from "../../../ffi/darwin/structs.ts";
import { formatIp, ipEqual, parseIp } from "../../../src/net/ip.ts";
import { concat, ifAddr, ifInfo2, routeRecord } from "./_route_messages.ts";
import { ROUTE_DUMP } from "./_route_dump.ts";

type FdKind = "control" | "utun" | "inet" | "inet6" | "route" | "other";

interface Iface {
  index: number;
  flags: number;
  mtu: number;
  addrs: { addr: Uint8Array; bits: number }[];
  /** The fd whose close destroys it (utun only). */
  fd?: number;
}

/** One routing-table entry of the model, keyed by "dst/bits". */
export interface FakeRoute {
  gateway: string;
  /** Interface the gateway resolved to (for utun routes, so closing the utun drops them). */
  iface: string;
}

const IOCTL_NAMES = new Map<number, string>([
  [CTLIOCGINFO, "CTLIOCGINFO"],
  [SIOCSIFMTU, "SIOCSIFMTU"],
  [SIOCAIFADDR, "SIOCAIFADDR"],
  [SIOCAIFADDR_IN6, "SIOCAIFADDR_IN6"],
  [SIOCGIFFLAGS, "SIOCGIFFLAGS"],
  [SIOCSIFFLAGS, "SIOCSIFFLAGS"],
]);

const RTM_NAMES = new Map<number, string>(Object.entries(RTM).map(([k, v]) => [v, `RTM_${k}`]));

/** `UP|GATEWAY|STATIC` for rtm_flags. */
export function rtfNames(flags: number): string {
  const names = Object.entries(RTF).filter(([, bit]) => (flags & bit) !== 0).map(([k]) => k);
  return names.join("|") || "0";
}

/** One line describing a routing message, e.g. `RTM_ADD 0.0.0.0/1 via 198.18.0.1 ...`. */
export function describeRouteMessage(m: RouteMessage): string {
  const [dst, gw, mask] = m.sockaddrs;
  const bits = mask === undefined ? "" : mask.kind === "mask" ? `/${mask.bits}` : "/?";
  const d = dst?.kind === "inet" ? formatIp(dst.addr) + bits : "?";
  const g = gw?.kind === "inet"
    ? formatIp(gw.addr)
    : gw?.kind === "link"
    ? `link#${gw.index}`
    : "?";
  return `${RTM_NAMES.get(m.type) ?? m.type} ${d} via ${g} flags ${rtfNames(m.flags)} seq ${m.seq}`;
}

function v4(a: number, b: number, c: number, d: number): Uint8Array {
  return new Uint8Array([a, b, c, d]);
}

/** The recording fake; see the module comment. */
export class FakeDarwinLibc implements DarwinLibc {
  readonly arch: DarwinArch = "aarch64";
  /** One line per call, in order. */
  readonly calls: string[] = [];
  /** Kernel control id CTLIOCGINFO returns for the utun control. */
  ctlId = 42;
  euid = 0;
  /** Bring a utun up when an address is assigned (what xnu does); false leaves it down. */
  upOnAddress = true;
  /** What sysctl NET_RT_DUMP returns. */
  dump: Uint8Array = ROUTE_DUMP;
  /** The routing table the route socket edits (keyed by "dst/bits"). */
  readonly routes = new Map<string, FakeRoute>();
  /** Interfaces by name; utun0..utun3 exist as on a stock Mac. */
  readonly ifaces = new Map<string, Iface>([
    ["lo0", { index: 1, flags: 0x8049, mtu: 16384, addrs: [{ addr: v4(127, 0, 0, 1), bits: 8 }] }],
    ["en0", {
      index: 6,
      flags: 0x8863,
      mtu: 1500,
      addrs: [{ addr: v4(192, 168, 1, 20), bits: 24 }],
    }],
    ["en5", { index: 12, flags: 0x8863, mtu: 1500, addrs: [{ addr: v4(10, 0, 0, 2), bits: 24 }] }],
    ["utun0", { index: 14, flags: 0x8051, mtu: 1380, addrs: [] }],
    ["utun1", { index: 15, flags: 0x8051, mtu: 2000, addrs: [] }],
    ["utun2", { index: 16, flags: 0x8051, mtu: 1000, addrs: [] }],
    ["utun3", { index: 17, flags: 0x8051, mtu: 1000, addrs: [] }],
  ]);
  /** Results for pollAsync, in order; when empty, polls time out (0) after 1 ms. */
  readonly pollResults: number[] = [];
  /** Chunks `read` returns on a route socket, in order; when empty, EAGAIN. */
  readonly readQueue: Uint8Array[] = [];
  /** Fail the first data `sysctl` with ENOMEM (the table grew between the two calls). */
  dumpGrowsOnce = false;
  /** What `sysctlbyname` returns, by name (`net.inet.tcp.pcblist_n`, ...). */
  readonly sysctlNames = new Map<string, Uint8Array>();
  /** Fail the first data `sysctlbyname` with ENOMEM (more sockets between the two calls). */
  listGrowsOnce = false;
  /** Executable paths `proc_pidpath` knows, by pid (others: ESRCH). */
  readonly processPaths = new Map<number, string>();
  /** Users `getpwnam` knows, by name. */
  readonly users = new Map<string, number>([["root", 0], ["alice", 501]]);

  #errno = 0;
  #nextIfIndex = 20;
  readonly #fds = new Map<number, FdKind>();
  readonly #failures: { at?: number; prefix?: string; errno: number; used: boolean }[] = [];

  /** Fails the call with index `n` (0-based, counting every call) with `errno`. */
  failAt(n: number, errno: number): this {
    this.#failures.push({ at: n, errno, used: false });
    return this;
  }

  /** Fails the first call whose line starts with `prefix` with `errno`. */
  failOn(prefix: string, errno: number): this {
    this.#failures.push({ prefix, errno, used: false });
    return this;
  }

  /** Descriptors that are open now. */
  openFds(): number[] {
    return [...this.#fds.keys()].sort((a, b) => a - b);
  }

  /** The routing table as sorted "dst/bits via gw" lines. */
  routeLines(): string[] {
    return [...this.routes].map(([k, r]) => `${k} via ${r.gateway}`).sort();
  }

  // ---------------------------------------------------------------------------------------
  // Machinery
  // ---------------------------------------------------------------------------------------

  #call(text: string, run: () => number, failValue = -1, detail?: () => string): number {
    const n = this.calls.length;
    const rule = this.#failures.find((f) =>
      !f.used && (f.at === n || (f.prefix !== undefined && text.startsWith(f.prefix)))
    );
    if (rule) {
      rule.used = true;
      this.#errno = rule.errno;
      this.calls.push(`${text} = ${failValue} ${errnoName(rule.errno, "darwin")}`);
      return failValue;
    }
    const r = run();
    const failed = r === failValue;
    const suffix = failed ? ` ${errnoName(this.#errno, "darwin")}` : detail ? ` ${detail()}` : "";
    this.calls.push(`${text} = ${r}${suffix}`);
    return r;
  }

  #fail(errno: number, value = -1): number {
    this.#errno = errno;
    return value;
  }

  #newFd(kind: FdKind): number {
    let fd = 3;
    while (this.#fds.has(fd)) fd++;
    this.#fds.set(fd, kind);
    return fd;
  }

  #kind(fd: number): FdKind | undefined {
    return this.#fds.get(fd);
  }

  #ifaceOfUtunFd(fd: number): [string, Iface] | undefined {
    return [...this.ifaces].find(([, i]) => i.fd === fd);
  }

  // ---------------------------------------------------------------------------------------
  // DarwinLibc
  // ---------------------------------------------------------------------------------------

  socket(domain: number, type: number, protocol: number): number {
    const d = domain === PF_SYSTEM
      ? "PF_SYSTEM"
      : domain === AF_INET
      ? "AF_INET"
      : domain === AF_INET6
      ? "AF_INET6"
      : domain === AF_ROUTE
      ? "AF_ROUTE"
      : String(domain);
    const t = type === SOCK_DGRAM ? "SOCK_DGRAM" : type === SOCK_RAW ? "SOCK_RAW" : String(type);
    const p = domain === PF_SYSTEM && protocol === SYSPROTO_CONTROL
      ? "SYSPROTO_CONTROL"
      : domain === AF_ROUTE && protocol === AF_UNSPEC
      ? "AF_UNSPEC"
      : String(protocol);
    return this.#call(`socket(${d}, ${t}, ${p})`, () => {
      if (this.euid !== 0 && domain === PF_SYSTEM) return this.#fail(DARWIN_ERRNO.EPERM);
      const kind: FdKind = domain === PF_SYSTEM
        ? "control"
        : domain === AF_INET
        ? "inet"
        : domain === AF_INET6
        ? "inet6"
        : domain === AF_ROUTE
        ? "route"
        : "other";
      return this.#newFd(kind);
    });
  }

  connect(fd: number, addr: Uint8Array, len: number): number {
    const sa = decodeSockaddrCtl(addr);
    if (sa.len !== 32 || sa.family !== PF_SYSTEM || sa.sysaddr !== 2 || len !== 32) {
      throw new Error(`fake: malformed sockaddr_ctl ${JSON.stringify(sa)} (len ${len})`);
    }
    return this.#call(`connect(${fd}, sockaddr_ctl{id ${sa.id}, unit ${sa.unit}})`, () => {
      if (this.#kind(fd) !== "control") return this.#fail(DARWIN_ERRNO.EINVAL);
      if (sa.id !== this.ctlId) return this.#fail(DARWIN_ERRNO.ENOENT);
      let unit = sa.unit - 1;
      if (sa.unit === 0) {
        unit = 0;
        while (this.ifaces.has(`utun${unit}`)) unit++;
      }
      const name = `utun${unit}`;
      if (this.ifaces.has(name)) return this.#fail(DARWIN_ERRNO.EBUSY);
      // A fresh utun: POINTOPOINT|RUNNING|MULTICAST, not yet up, MTU 1500.
      this.ifaces.set(name, {
        index: this.#nextIfIndex++,
        flags: 0x8050,
        mtu: 1500,
        addrs: [],
        fd,
      });
      this.#fds.set(fd, "utun");
      return 0;
    });
  }

  close(fd: number): number {
    return this.#call(`close(${fd})`, () => {
      if (!this.#fds.delete(fd)) return this.#fail(DARWIN_ERRNO.EINVAL);
      const utun = this.#ifaceOfUtunFd(fd);
      if (utun) {
        // The kernel destroys the utun and every route through it.
        this.ifaces.delete(utun[0]);
        for (const [key, r] of this.routes) if (r.iface === utun[0]) this.routes.delete(key);
      }
      return 0;
    });
  }

  ioctlPtr(fd: number, request: number, buf: Uint8Array): number {
    const req = IOCTL_NAMES.get(request) ?? `0x${request.toString(16)}`;
    const kind = this.#kind(fd);
    switch (request) {
      case CTLIOCGINFO: {
        const info = decodeCtlInfo(buf);
        return this.#call(`ioctl(${fd}, ${req}, ctl_info{${info.name}})`, () => {
          if (kind !== "control") return this.#fail(DARWIN_ERRNO.EINVAL);
          if (info.name !== UTUN_CONTROL_NAME) return this.#fail(DARWIN_ERRNO.ENOENT);
          new DataView(buf.buffer, buf.byteOffset).setUint32(0, this.ctlId, true);
          return 0;
        });
      }
      case SIOCSIFMTU: {
        const r = decodeIfreq(buf);
        return this.#call(`ioctl(${fd}, ${req}, ifreq{${r.name} mtu ${r.mtu}})`, () => {
          const iface = this.ifaces.get(r.name);
          if (kind !== "inet" && kind !== "inet6") return this.#fail(DARWIN_ERRNO.EINVAL);
          if (!iface) return this.#fail(DARWIN_ERRNO.ENXIO);
          iface.mtu = r.mtu;
          return 0;
        });
      }
      case SIOCGIFFLAGS: {
        const r = decodeIfreq(buf);
        let flags = 0;
        return this.#call(
          `ioctl(${fd}, ${req}, ifreq{${r.name}})`,
          () => {
            const iface = this.ifaces.get(r.name);
            if (kind !== "inet" && kind !== "inet6") return this.#fail(DARWIN_ERRNO.EINVAL);
            if (!iface) return this.#fail(DARWIN_ERRNO.ENXIO);
            flags = iface.flags;
            new DataView(buf.buffer, buf.byteOffset).setInt16(16, flags, true);
            return 0;
          },
          -1,
          () => `flags 0x${flags.toString(16)}`,
        );
      }
      case SIOCSIFFLAGS: {
        const r = decodeIfreq(buf);
        return this.#call(
          `ioctl(${fd}, ${req}, ifreq{${r.name} flags 0x${r.flags.toString(16)}})`,
          () => {
            const iface = this.ifaces.get(r.name);
            if (kind !== "inet" && kind !== "inet6") return this.#fail(DARWIN_ERRNO.EINVAL);
            if (!iface) return this.#fail(DARWIN_ERRNO.ENXIO);
            iface.flags = r.flags;
            return 0;
          },
        );
      }
      case SIOCAIFADDR: {
        const r = decodeIfaliasreq(buf);
        const text = `ifaliasreq{${r.name} ${formatIp(r.addr)} dst ${formatIp(r.dst)} ` +
          `mask ${formatIp(r.mask)}}`;
        return this.#call(`ioctl(${fd}, ${req}, ${text})`, () => {
          const iface = this.ifaces.get(r.name);
          if (kind !== "inet") return this.#fail(DARWIN_ERRNO.EINVAL);
          if (!iface) return this.#fail(DARWIN_ERRNO.ENXIO);
          iface.addrs.push({ addr: r.addr, bits: maskBits(r.mask) ?? 32 });
          if (this.upOnAddress) iface.flags |= IFF_UP;
          return 0;
        });
      }
      case SIOCAIFADDR_IN6: {
        const r = decodeIn6Aliasreq(buf);
        const life = (v: number) => v === 0xffffffff ? "inf" : String(v);
        const text = `in6_aliasreq{${r.name} ${formatIp(r.addr)}/${maskBits(r.mask)}` +
          (r.dst ? ` dst ${formatIp(r.dst)}` : "") +
          ` flags 0x${r.flags.toString(16)} vltime ${life(r.vltime)} pltime ${life(r.pltime)}}`;
        return this.#call(`ioctl(${fd}, ${req}, ${text})`, () => {
          const iface = this.ifaces.get(r.name);
          if (kind !== "inet6") return this.#fail(DARWIN_ERRNO.EINVAL);
          if (!iface) return this.#fail(DARWIN_ERRNO.ENXIO);
          iface.addrs.push({ addr: r.addr, bits: maskBits(r.mask) ?? 128 });
          if (this.upOnAddress) iface.flags |= IFF_UP;
          return 0;
        });
      }
      default:
        throw new Error(`fake: unexpected ioctl ${req} on fd ${fd}`);
    }
  }

  fcntl(fd: number, cmd: number, arg: number): number {
    const flagNames = (v: number) =>
      [v & O_RDWR ? "O_RDWR" : "", v & O_NONBLOCK ? "O_NONBLOCK" : ""].filter(Boolean).join("|") ||
      String(v);
    const text = cmd === F_SETFD
      ? `fcntl(${fd}, F_SETFD, ${arg === FD_CLOEXEC ? "FD_CLOEXEC" : arg})`
      : cmd === F_GETFL
      ? `fcntl(${fd}, F_GETFL, ${arg})`
      : cmd === F_SETFL
      ? `fcntl(${fd}, F_SETFL, ${flagNames(arg)})`
      : `fcntl(${fd}, ${cmd}, ${arg})`;
    return this.#call(text, () => {
      if (!this.#fds.has(fd)) return this.#fail(DARWIN_ERRNO.EINVAL);
      return cmd === F_GETFL ? O_RDWR : 0;
    });
  }

  open(path: string, flags: number, mode: number): number {
    throw new Error(`fake: unexpected open(${path}, ${flags}, ${mode})`);
  }

  getsockopt(
    fd: number,
    level: number,
    name: number,
    value: Uint8Array,
    optlen: Uint32Array,
  ): number {
    if (level !== SYSPROTO_CONTROL || name !== UTUN_OPT_IFNAME) {
      throw new Error(`fake: unexpected getsockopt level ${level} name ${name}`);
    }
    let got = "";
    return this.#call(
      `getsockopt(${fd}, SYSPROTO_CONTROL, UTUN_OPT_IFNAME, ${optlen[0]})`,
      () => {
        const utun = this.#ifaceOfUtunFd(fd);
        if (!utun) return this.#fail(DARWIN_ERRNO.EINVAL);
        const bytes = new TextEncoder().encode(utun[0]);
        if (optlen[0]! < bytes.length + 1 || value.length < optlen[0]!) {
          return this.#fail(40 /* EMSGSIZE */);
        }
        value.fill(0, 0, optlen[0]);
        value.set(bytes);
        optlen[0] = bytes.length + 1; // the kernel reports strlen + 1
        got = utun[0];
        return 0;
      },
      -1,
      () => `"${got}"`,
    );
  }

  setsockopt(fd: number, level: number, name: number, value: Uint8Array, optlen: number): number {
    const opt = level === IPPROTO_IP && name === IP_BOUND_IF
      ? "IPPROTO_IP, IP_BOUND_IF"
      : level === IPPROTO_IPV6 && name === IPV6_BOUND_IF
      ? "IPPROTO_IPV6, IPV6_BOUND_IF"
      : `${level}, ${name}`;
    if (optlen !== 4 || value.length < 4) throw new Error(`fake: setsockopt optlen ${optlen}`);
    const index = new DataView(value.buffer, value.byteOffset).getInt32(0, true);
    return this.#call(`setsockopt(${fd}, ${opt}, ${index})`, () => {
      if (!this.#fds.has(fd)) return this.#fail(9 /* EBADF */);
      if (![...this.ifaces.values()].some((i) => i.index === index)) {
        return this.#fail(DARWIN_ERRNO.ENXIO);
      }
      return 0;
    });
  }

  read(fd: number, buf: Uint8Array, n: number): number {
    return this.#call(`read(${fd}, ${n})`, () => {
      if (this.#kind(fd) !== "route") return this.#fail(DARWIN_ERRNO.EINVAL);
      const chunk = this.readQueue.shift();
      if (!chunk) return this.#fail(DARWIN_ERRNO.EAGAIN);
      buf.set(chunk.subarray(0, Math.min(n, buf.length)));
      return Math.min(chunk.length, n);
    });
  }

  write(fd: number, buf: Uint8Array, n: number): number {
    if (this.#kind(fd) !== "route") throw new Error(`fake: unexpected write on fd ${fd}`);
    const msg = decodeRouteMessage(buf);
    if (msg.msglen !== n || n !== buf.length || msg.version !== 5) {
      throw new Error(
        `fake: bad routing message: msglen ${msg.msglen}, n ${n}, ${buf.length} bytes`,
      );
    }
    return this.#call(`write(${fd}, ${describeRouteMessage(msg)})`, () => this.#route(msg, n));
  }

  /** The routing-table side of an RTM_ADD / RTM_DELETE. */
  #route(msg: RouteMessage, n: number): number {
    const [dst, gw, mask] = msg.sockaddrs;
    if (dst?.kind !== "inet" || gw?.kind !== "inet" || mask?.kind !== "mask") {
      return this.#fail(DARWIN_ERRNO.EINVAL);
    }
    const key = `${formatIp(dst.addr)}/${mask.bits}`;
    if (msg.type === RTM.ADD) {
      if (this.routes.has(key)) return this.#fail(DARWIN_ERRNO.EEXIST);
      const via = [...this.ifaces].find(([, i]) => i.addrs.some((a) => ipEqual(a.addr, gw.addr)));
      if (!via) return this.#fail(DARWIN_ERRNO.ENETUNREACH);
      this.routes.set(key, { gateway: formatIp(gw.addr), iface: via[0] });
      return n;
    }
    if (msg.type === RTM.DELETE) {
      if (!this.routes.delete(key)) return this.#fail(DARWIN_ERRNO.ESRCH);
      return n;
    }
    return this.#fail(DARWIN_ERRNO.EINVAL);
  }

  writev(fd: number, _iov: Uint8Array, count: number): number {
    throw new Error(`fake: unexpected writev(${fd}, ${count})`);
  }

  poll(fds: Uint8Array, nfds: number, timeoutMs: number): number {
    throw new Error(`fake: unexpected synchronous poll(${fds.length}, ${nfds}, ${timeoutMs})`);
  }

  pollAsync(fds: Uint8Array, nfds: number, timeoutMs: number): Promise<number> {
    const dv = new DataView(fds.buffer, fds.byteOffset);
    const fd = dv.getInt32(0, true), events = dv.getInt16(4, true);
    if (nfds !== 1 || events !== 1 || !this.#fds.has(fd)) {
      throw new Error(`fake: unexpected poll(fd ${fd}, events ${events}, nfds ${nfds})`);
    }
    const scripted = this.pollResults.shift();
    if (scripted !== undefined) {
      this.calls.push(`poll(${fd}, POLLIN, ${timeoutMs}) = ${scripted}`);
      if (scripted > 0) dv.setInt16(6, 1, true);
      return Promise.resolve(scripted);
    }
    // Idle: time out quickly (not logged, so tests do not depend on timing).
    return new Promise((resolve) => setTimeout(() => resolve(0), 1));
  }

  sysctl(
    mib: Int32Array,
    oldp: Uint8Array | null,
    oldlen: BigUint64Array,
    newp: Uint8Array | null,
    newlen: number,
  ): number {
    const op = mib.length === 6 && [4, 17, 0, 0].every((v, i) => mib[i] === v) && mib[5] === 0
      ? mib[4]
      : undefined;
    const name = op === 1 ? "NET_RT_DUMP" : op === 6 ? "NET_RT_IFLIST2" : undefined;
    if (!name || newp !== null || newlen !== 0) {
      throw new Error(`fake: unexpected sysctl {${[...mib].join(", ")}}`);
    }
    const data = op === 1 ? this.routeDump() : this.interfaceList();
    const what = oldp === null ? "size" : `${oldlen[0]} bytes`;
    return this.#call(
      `sysctl(${name}, ${what})`,
      () => {
        if (oldp === null) {
          oldlen[0] = BigInt(data.length);
          return 0;
        }
        if (this.dumpGrowsOnce && op === 1) {
          this.dumpGrowsOnce = false;
          return this.#fail(DARWIN_ERRNO.ENOMEM);
        }
        if (Number(oldlen[0]) < data.length || oldp.length < Number(oldlen[0])) {
          return this.#fail(DARWIN_ERRNO.ENOMEM);
        }
        oldp.set(data);
        oldlen[0] = BigInt(data.length);
        return 0;
      },
      -1,
      () => `(${oldlen[0]} bytes)`,
    );
  }

  sysctlbyname(name: string, oldp: Uint8Array | null, oldlen: BigUint64Array): number {
    const data = this.sysctlNames.get(name);
    const what = oldp === null ? "size" : `${oldlen[0]} bytes`;
    return this.#call(
      `sysctlbyname("${name}", ${what})`,
      () => {
        if (data === undefined) return this.#fail(DARWIN_ERRNO.ENOENT);
        if (oldp === null) {
          oldlen[0] = BigInt(data.length);
          return 0;
        }
        if (this.listGrowsOnce) {
          this.listGrowsOnce = false;
          return this.#fail(DARWIN_ERRNO.ENOMEM);
        }
        if (Number(oldlen[0]) < data.length || oldp.length < Number(oldlen[0])) {
          return this.#fail(DARWIN_ERRNO.ENOMEM);
        }
        oldp.set(data);
        oldlen[0] = BigInt(data.length);
        return 0;
      },
      -1,
      () => `(${oldlen[0]} bytes)`,
    );
  }

  userId(name: string): number | null {
    const uid = this.users.get(name) ?? null;
    this.calls.push(`getpwnam("${name}") = ${uid === null ? "NULL" : `passwd{uid ${uid}}`}`);
    return uid;
  }

  proc_pidpath(pid: number, buf: Uint8Array): number {
    return this.#call(`proc_pidpath(${pid}, ${buf.length})`, () => {
      // libproc.c refuses buffers outside [PROC_PIDPATHINFO_SIZE, PROC_PIDPATHINFO_MAXSIZE].
      if (buf.length < 1024) return this.#fail(DARWIN_ERRNO.ENOMEM, 0);
      if (buf.length > 4096) return this.#fail(DARWIN_ERRNO.EOVERFLOW, 0);
      const path = this.processPaths.get(pid);
      if (path === undefined) return this.#fail(DARWIN_ERRNO.ESRCH, 0);
      const bytes = new TextEncoder().encode(path);
      buf.fill(0);
      buf.set(bytes);
      return bytes.length;
    }, 0);
  }

  /** NET_RT_DUMP also lists the routes the route socket added (as the kernel would). */
  routesInDump = false;

  /** NET_RT_DUMP: the fixture records, then (with `routesInDump`) the model's routes. */
  routeDump(): Uint8Array {
    if (!this.routesInDump) return this.dump;
    const extra = [...this.routes].map(([key, r]) => {
      const [dst, bits] = key.split("/");
      return routeRecord(
        RTM.GET,
        this.ifaces.get(r.iface)?.index ?? 0,
        RTF.UP | RTF.GATEWAY | RTF.STATIC,
        parseIp(dst!)!,
        Number(bits),
        parseIp(r.gateway)!,
      );
    });
    return concat([this.dump, ...extra]);
  }

  /** NET_RT_IFLIST2 of the model: RTM_IFINFO2 per interface, RTM_NEWADDR per address. */
  interfaceList(): Uint8Array {
    const parts: Uint8Array[] = [];
    for (const [name, i] of [...this.ifaces].sort((a, b) => a[1].index - b[1].index)) {
      parts.push(ifInfo2(i.index, name, i.flags, i.mtu));
      for (const a of i.addrs) parts.push(ifAddr(RTM.NEWADDR, i.index, a.addr, a.bits));
    }
    return concat(parts);
  }

  /** Processes `kill(pid, 0)` reports alive (besides this one). */
  readonly alivePids = new Set<number>();

  kill(pid: number, sig: number): number {
    return this.#call(`kill(${pid}, ${sig})`, () => {
      if (sig !== 0) throw new Error(`fake: unexpected kill(${pid}, ${sig})`);
      return pid === Deno.pid || this.alivePids.has(pid) ? 0 : this.#fail(DARWIN_ERRNO.ESRCH);
    });
  }

  if_nametoindex(name: string): number {
    return this.#call(`if_nametoindex("${name}")`, () => {
      return this.ifaces.get(name)?.index ?? this.#fail(DARWIN_ERRNO.ENXIO, 0);
    }, 0);
  }

  if_indextoname(index: number): string | null {
    const found = [...this.ifaces].find(([, i]) => i.index === index)?.[0] ?? null;
    this.calls.push(`if_indextoname(${index}) = ${found === null ? "NULL" : `"${found}"`}`);
    return found;
  }

  geteuid(): number {
    this.calls.push(`geteuid() = ${this.euid}`);
    return this.euid;
  }

  errno(): number {
    return this.#errno;
  }
}
