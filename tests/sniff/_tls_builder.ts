/** Builds TLS ClientHello messages and records for sniffer tests. */

export interface HelloOptions {
  serverName?: string | null;
  /** Extra server names (a second host_name makes the hello invalid). */
  extraNames?: string[];
  cipherSuites?: number[];
  versions?: number[];
  groups?: number[];
  signatureAlgorithms?: number[];
  alpn?: string[];
  /** Bytes of a padding extension (21), to make big hellos. */
  padding?: number;
  /** Raw extra extensions appended as given: [type, data]. */
  extensions?: [number, Uint8Array][];
}

function u16(v: number): number[] {
  return [(v >> 8) & 0xff, v & 0xff];
}

function bytes(s: string): number[] {
  return [...new TextEncoder().encode(s)];
}

function ext(type: number, data: number[]): number[] {
  return [...u16(type), ...u16(data.length), ...data];
}

/** A ClientHello handshake message (4-byte header included). */
export function clientHello(o: HelloOptions = {}): Uint8Array {
  const body: number[] = [0x03, 0x03];
  for (let i = 0; i < 32; i++) body.push(i);
  body.push(32);
  for (let i = 0; i < 32; i++) body.push(0xa0 + (i & 0x0f));
  const suites = o.cipherSuites ?? [0x1301, 0x1302, 0x1303, 0xc02b];
  body.push(...u16(suites.length * 2), ...suites.flatMap(u16));
  body.push(1, 0);
  const exts: number[] = [];
  const serverName = o.serverName === undefined ? "example.com" : o.serverName;
  if (serverName !== null) {
    const entries: number[] = [];
    for (const n of [serverName, ...(o.extraNames ?? [])]) {
      const b = bytes(n);
      entries.push(0, ...u16(b.length), ...b);
    }
    exts.push(...ext(0, [...u16(entries.length), ...entries]));
  }
  const groups = o.groups ?? [0x001d, 0x0017];
  exts.push(...ext(10, [...u16(groups.length * 2), ...groups.flatMap(u16)]));
  const sigs = o.signatureAlgorithms ?? [0x0403, 0x0804, 0x0401];
  exts.push(...ext(13, [...u16(sigs.length * 2), ...sigs.flatMap(u16)]));
  if (o.alpn) {
    const list = o.alpn.flatMap((p) => [p.length, ...bytes(p)]);
    exts.push(...ext(16, [...u16(list.length), ...list]));
  }
  const versions = o.versions ?? [0x0304, 0x0303];
  exts.push(...ext(43, [versions.length * 2, ...versions.flatMap(u16)]));
  if (o.padding) exts.push(...ext(21, new Array<number>(o.padding).fill(0)));
  for (const [type, data] of o.extensions ?? []) exts.push(...ext(type, [...data]));
  body.push(...u16(exts.length), ...exts);
  return new Uint8Array([
    1,
    (body.length >> 16) & 0xff,
    (body.length >> 8) & 0xff,
    body.length & 0xff,
    ...body,
  ]);
}

/** Wraps a handshake message in TLS records of at most `maxFragment` bytes each. */
export function records(message: Uint8Array, maxFragment = 16384, type = 22): Uint8Array {
  const out: number[] = [];
  for (let off = 0; off < message.length || off === 0; off += maxFragment) {
    const frag = message.subarray(off, Math.min(message.length, off + maxFragment));
    out.push(type, 0x03, off === 0 ? 0x01 : 0x03, ...u16(frag.length), ...frag);
    if (message.length === 0) break;
  }
  return new Uint8Array(out);
}

/** Hex string to bytes. */
export function unhex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, "");
  return Uint8Array.from(clean.match(/../g) ?? [], (b) => parseInt(b, 16));
}

/** Bytes to hex. */
export function tohex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}
