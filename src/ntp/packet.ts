/**
 * SNTP messages (RFC 4330, the client side of RFC 5905): the 48-byte header, NTP timestamps, and
 * the checks a client makes on a server's answer.
 *
 * ```
 *  0: LI(2) VN(3) Mode(3) | Stratum | Poll | Precision
 *  4: Root Delay           8: Root Dispersion          12: Reference ID
 * 16: Reference Timestamp 24: Originate Timestamp      32: Receive Timestamp
 * 40: Transmit Timestamp  (each 64 bits: seconds since 1900 . fraction)
 * ```
 *
 * A request carries a random transmit timestamp (as sing-box's client does, so the local clock is
 * not revealed); the answer must echo it as its originate timestamp, which also tells an answer
 * to this request from a stale or forged one.
 *
 * ```ts
 * const nonce = crypto.getRandomValues(new Uint8Array(8));
 * const t1 = Date.now();
 * send(buildRequest(nonce));
 * const sample = parseResponse(answer, nonce, t1, Date.now()); // sample.offsetMs
 * ```
 *
 * @module
 */

/** Size of an NTP header without extensions. */
export const NTP_PACKET_SIZE = 48;
/** Milliseconds from 1900-01-01 (the NTP epoch) to 1970-01-01. */
export const NTP_UNIX_OFFSET_MS = 2_208_988_800_000;

const MODE_CLIENT = 3;
const MODE_SERVER = 4;
const VERSION = 4;
const LEAP_NOT_IN_SYNC = 3;

/** A server's answer that a client must not use. */
export class NtpError extends Error {
  override name = "NtpError";
}

/**
 * Unix milliseconds of the NTP timestamp at `offset`, or 0 for the zero timestamp. Seconds with
 * the top bit clear are read in era 1 (2036–2104), as RFC 4330 section 3 says.
 */
export function readNtpTime(bytes: Uint8Array, offset: number): number {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const seconds = v.getUint32(offset);
  const fraction = v.getUint32(offset + 4);
  if (seconds === 0 && fraction === 0) return 0;
  const era = seconds < 0x80000000 ? 2 ** 32 : 0;
  return (seconds + era) * 1000 + fraction * 1000 / 2 ** 32 - NTP_UNIX_OFFSET_MS;
}

/** Writes Unix milliseconds `ms` as an NTP timestamp at `offset`. */
export function writeNtpTime(bytes: Uint8Array, offset: number, ms: number): void {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ntpMs = ms + NTP_UNIX_OFFSET_MS;
  const seconds = Math.floor(ntpMs / 1000);
  v.setUint32(offset, seconds % 2 ** 32);
  v.setUint32(offset + 4, Math.floor((ntpMs - seconds * 1000) / 1000 * 2 ** 32));
}

/** A client request (version 4, mode 3, leap "not in sync") carrying `nonce` as its transmit time. */
export function buildRequest(nonce: Uint8Array): Uint8Array {
  if (nonce.length !== 8) throw new RangeError(`NTP nonce must be 8 bytes, got ${nonce.length}`);
  const out = new Uint8Array(NTP_PACKET_SIZE);
  out[0] = (LEAP_NOT_IN_SYNC << 6) | (VERSION << 3) | MODE_CLIENT;
  out.set(nonce, 40);
  return out;
}

/** What one exchange tells about the local clock. */
export interface NtpSample {
  /** Add to the local clock to get the server's time (RFC 5905 θ). */
  offsetMs: number;
  /** Round trip minus the server's processing time (δ). */
  delayMs: number;
  stratum: number;
  /** The server's time when the answer arrived (T4 + offset), Unix ms. */
  timeMs: number;
}

/**
 * Checks a server's answer to the request that carried `nonce`, sent at local time `t1` and
 * answered at `t4` (Unix ms), and computes the clock offset. Throws {@linkcode NtpError} naming
 * the problem (short, wrong mode or version, kiss-o'-death, unsynchronised server, not an answer
 * to this request, zero timestamps).
 */
export function parseResponse(
  answer: Uint8Array,
  nonce: Uint8Array,
  t1: number,
  t4: number,
): NtpSample {
  if (answer.length < NTP_PACKET_SIZE) {
    throw new NtpError(`answer of ${answer.length} bytes is shorter than an NTP header (48)`);
  }
  const leap = answer[0]! >> 6;
  const version = (answer[0]! >> 3) & 7;
  const mode = answer[0]! & 7;
  const stratum = answer[1]!;
  if (mode !== MODE_SERVER) throw new NtpError(`answer has mode ${mode}, not 4 (server)`);
  if (version < 1 || version > 4) throw new NtpError(`answer has NTP version ${version}`);
  if (stratum === 0) {
    const code = String.fromCharCode(...answer.subarray(12, 16)).replace(/[^\x20-\x7e]/g, "?");
    throw new NtpError(`kiss-o'-death from the server (code "${code}")`);
  }
  if (stratum > 15) throw new NtpError(`answer has stratum ${stratum} (unsynchronised)`);
  if (leap === LEAP_NOT_IN_SYNC) throw new NtpError("server clock is not synchronised (leap 3)");
  for (let i = 0; i < 8; i++) {
    if (answer[24 + i] !== nonce[i]) {
      throw new NtpError("answer is not for this request (originate timestamp differs)");
    }
  }
  const t2 = readNtpTime(answer, 32);
  const t3 = readNtpTime(answer, 40);
  if (t2 === 0 || t3 === 0) throw new NtpError("answer has a zero receive or transmit timestamp");
  const offsetMs = ((t2 - t1) + (t3 - t4)) / 2;
  const delayMs = Math.max(0, (t4 - t1) - (t3 - t2));
  return { offsetMs, delayMs, stratum, timeMs: t4 + offsetMs };
}
