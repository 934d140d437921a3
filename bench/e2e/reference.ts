/**
 * Reference figures measured on a machine of the same kind (2 vCPU EPYC VM, kernel 6.18,
 * iperf3 3.12, 10 s tests), from the project's research notes
 * (`shared/research/performance-techniques.md` §4). Compare ratios, not absolute numbers: the
 * notes say another harness was active then (±10–15 %).
 *
 * @module
 */

/** One reference row. */
export interface ReferenceRow {
  label: string;
  uploadGbps?: number;
  downloadGbps?: number;
  upload4Gbps?: number;
  rrP50Us?: number;
  rssMiB?: number;
}

/** hev-socks5-tunnel 2.15.0 (C, lwIP), TUN MTU 8500, upstream danted 1.4.2: the row tunbox is compared with. */
export const HEV_DANTED: ReferenceRow = {
  label: "hev-socks5-tunnel MTU 8500 → danted",
  uploadGbps: 5.91,
  downloadGbps: 4.38,
  upload4Gbps: 6.18,
  rrP50Us: 84,
  rssMiB: 3.7,
};

/** The same tunnel with hev-socks5-server upstream (the "about 6 up / 5 down"). */
export const HEV_HEVSERVER: ReferenceRow = {
  label: "hev-socks5-tunnel MTU 8500 → hev-socks5-server",
  uploadGbps: 6.1,
  downloadGbps: 5.14,
  upload4Gbps: 6.35,
  rrP50Us: 78,
  rssMiB: 3.5,
};

/** redsocks (iptables REDIRECT, kernel TCP) → hev-socks5-server. */
export const REDSOCKS_REF: ReferenceRow = {
  label: "redsocks → hev-socks5-server",
  uploadGbps: 13.1,
  downloadGbps: 14.8,
  rrP50Us: 86,
  rssMiB: 2.0,
};

/** Direct veth, no proxy (ranged 21.5–28.6 Gbps). */
export const DIRECT_REF: ReferenceRow = {
  label: "direct veth",
  uploadGbps: 27.8,
  downloadGbps: 27.9,
  rrP50Us: 22,
};

/** All reference rows, for the report. */
export const REFERENCES: readonly ReferenceRow[] = [
  DIRECT_REF,
  REDSOCKS_REF,
  HEV_DANTED,
  HEV_HEVSERVER,
];

/** The aims for tunbox. */
export const AIMS = {
  systemUploadGbps: 9,
  userspaceGbps: 6,
  addedLatencyUs: 60,
} as const;
