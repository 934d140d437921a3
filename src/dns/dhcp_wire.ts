/**
 * DHCPv4 messages as the `dhcp` DNS server needs them (RFC 2131 §2, options RFC 2132): a
 * DHCPDISCOVER asking for the DNS servers, and the options of the OFFER that answers it.
 *
 * ```ts
 * const discover = encodeDiscover(xid, mac);
 * const offer = decodeDhcp(reply); // null: not a BOOTREPLY with the magic cookie
 * if (offer?.xid === xid && offer.type === DHCP_OFFER) use(offer.dnsServers);
 * ```
 *
 * @module
 */

/** The DHCP message types used here (option 53). */
export const DHCP_DISCOVER = 1;
export const DHCP_OFFER = 2;
export const DHCP_ACK = 5;

/** Server and client ports (RFC 2131 §4.1). */
export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;

const BOOTREQUEST = 1;
const BOOTREPLY = 2;
const MAGIC = [99, 130, 83, 99];
/** The fixed BOOTP header before the options. */
const HEADER = 236;
const OPT_PAD = 0;
const OPT_SUBNET = 1;
const OPT_ROUTER = 3;
const OPT_DNS = 6;
const OPT_DOMAIN = 15;
const OPT_MSG_TYPE = 53;
const OPT_PARAMS = 55;
const OPT_MAX_SIZE = 57;
const OPT_SEARCH = 119;
const OPT_END = 255;

/**
 * A DHCPDISCOVER from `mac` with transaction id `xid`, broadcast flag set (the client has no
 * address the offer could be sent to), asking for subnet, router, DNS servers, domain and search
 * list. Padded to BOOTP's 300 bytes.
 */
export function encodeDiscover(xid: number, mac: Uint8Array): Uint8Array {
  const options = [
    OPT_MSG_TYPE,
    1,
    DHCP_DISCOVER,
    OPT_PARAMS,
    5,
    OPT_SUBNET,
    OPT_ROUTER,
    OPT_DNS,
    OPT_DOMAIN,
    OPT_SEARCH,
    OPT_MAX_SIZE,
    2,
    0x05,
    0xdc, // 1500
    OPT_END,
  ];
  const out = new Uint8Array(Math.max(300, HEADER + 4 + options.length));
  const v = new DataView(out.buffer);
  out[0] = BOOTREQUEST;
  out[1] = 1; // htype: Ethernet
  out[2] = 6; // hlen
  v.setUint32(4, xid >>> 0);
  v.setUint16(10, 0x8000); // flags: broadcast
  out.set(mac.subarray(0, 16), 28); // chaddr
  out.set(MAGIC, HEADER);
  out.set(options, HEADER + 4);
  return out;
}

/** What a DHCP reply carries for the `dhcp` DNS server. */
export interface DhcpReply {
  xid: number;
  /** Option 53 (0 when absent). */
  type: number;
  chaddr: Uint8Array;
  /** Option 6, in order. */
  dnsServers: Uint8Array[];
  /** Option 15, when present. */
  domain?: string;
}

/** Decodes a BOOTREPLY; null for anything else (wrong op, too short, no magic cookie). */
export function decodeDhcp(msg: Uint8Array): DhcpReply | null {
  if (msg.length < HEADER + 4 || msg[0] !== BOOTREPLY) return null;
  for (let i = 0; i < 4; i++) if (msg[HEADER + i] !== MAGIC[i]) return null;
  const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const hlen = Math.min(msg[2]!, 16);
  const out: DhcpReply = {
    xid: v.getUint32(4),
    type: 0,
    chaddr: msg.slice(28, 28 + hlen),
    dnsServers: [],
  };
  let i = HEADER + 4;
  while (i < msg.length) {
    const code = msg[i]!;
    if (code === OPT_END) break;
    if (code === OPT_PAD) {
      i++;
      continue;
    }
    if (i + 1 >= msg.length) return null;
    const len = msg[i + 1]!;
    const start = i + 2;
    if (start + len > msg.length) return null;
    const data = msg.subarray(start, start + len);
    if (code === OPT_MSG_TYPE && len === 1) out.type = data[0]!;
    else if (code === OPT_DNS) {
      for (let k = 0; k + 4 <= len; k += 4) out.dnsServers.push(data.slice(k, k + 4));
    } else if (code === OPT_DOMAIN) {
      out.domain = new TextDecoder().decode(data).replace(/\0+$/, "");
    }
    i = start + len;
  }
  return out;
}
