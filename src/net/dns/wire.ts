/**
 * DNS messages on the wire (RFC 1035 §4.1): a bounds-checked walk of a whole message that
 * records where every question and resource record sits, plus the byte-level edits tunbox makes
 * to messages it forwards (message id, TTLs, the TC bit) and the small answers it writes itself
 * (status answers, address answers). Upstream responses are never re-encoded: they are patched
 * in place, so record types tunbox does not know pass through unchanged.
 *
 * Names are returned in presentation form without the trailing dot (`www.example.com`, `""` for
 * the root); `.`, `\` and bytes outside printable ASCII inside a label are escaped as
 * `\.`, `\\` and `\DDD`, as miekg/dns prints them.
 *
 * @module
 */

/** Length of the DNS header. */
export const HEADER_LEN = 12;
/** Header flag bits (second 16-bit word). */
export const FLAG_QR = 0x8000;
export const FLAG_AA = 0x0400;
export const FLAG_TC = 0x0200;
export const FLAG_RD = 0x0100;
export const FLAG_RA = 0x0080;
/** Mask of the OPCODE field. */
export const OPCODE_MASK = 0x7800;

/** Record types tunbox looks at. */
export const TYPE_A = 1;
export const TYPE_NS = 2;
export const TYPE_CNAME = 5;
export const TYPE_SOA = 6;
export const TYPE_PTR = 12;
export const TYPE_TXT = 16;
export const TYPE_AAAA = 28;
export const TYPE_OPT = 41;
export const TYPE_HTTPS = 65;
/** Class IN. */
export const CLASS_IN = 1;

/** Response codes (RFC 1035 §4.1.1, RFC 2136). */
export const RCODE_NOERROR = 0;
export const RCODE_FORMERR = 1;
export const RCODE_SERVFAIL = 2;
export const RCODE_NXDOMAIN = 3;
export const RCODE_NOTIMP = 4;
export const RCODE_REFUSED = 5;

/** A message that cannot be walked. `reason` says where it failed. */
export class DnsFormatError extends SyntaxError {
  override name = "DnsFormatError";
}

/** One question. */
export interface QuestionInfo {
  /** Presentation form without the trailing dot. */
  name: string;
  type: number;
  class: number;
  /** Offset of the question's first byte. */
  offset: number;
  /** Offset after the question. */
  end: number;
}

/** Where one resource record sits. `section`: 1 answer, 2 authority, 3 additional. */
export interface RecordInfo {
  section: 1 | 2 | 3;
  /** Offset of the owner name. */
  offset: number;
  /** Owner name (presentation form, no trailing dot). */
  name: string;
  type: number;
  class: number;
  ttl: number;
  ttlOffset: number;
  rdataOffset: number;
  rdlength: number;
  /** Offset after the record. */
  end: number;
}

/** The walked structure of a message. */
export interface MessageLayout {
  id: number;
  flags: number;
  questions: QuestionInfo[];
  records: RecordInfo[];
  /** Offset after the question section. */
  questionEnd: number;
  /** Offset after the last record (trailing bytes are ignored, as miekg/dns does). */
  end: number;
}

/** Reads a big-endian 16-bit value (the caller checked the bounds). */
export function readU16(b: Uint8Array, off: number): number {
  return (b[off]! << 8) | b[off + 1]!;
}

function writeU16(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 8) & 0xff;
  b[off + 1] = v & 0xff;
}

function readU32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

function writeU32(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 24) & 0xff;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}

/** The message id (the caller made sure there are 12 bytes). */
export function messageId(b: Uint8Array): number {
  return readU16(b, 0);
}

/** Overwrites the message id in place. */
export function setMessageId(b: Uint8Array, id: number): void {
  writeU16(b, 0, id);
}

/** The header flags word. */
export function messageFlags(b: Uint8Array): number {
  return readU16(b, 2);
}

/** The 4-bit RCODE of the header. */
export function messageRcode(b: Uint8Array): number {
  return readU16(b, 2) & 0x0f;
}

/** Sets the TTL field of a record in place. */
export function setRecordTtl(b: Uint8Array, rec: RecordInfo, ttl: number): void {
  writeU32(b, rec.ttlOffset, ttl >>> 0);
  rec.ttl = ttl >>> 0;
}

function escapeLabel(b: Uint8Array, start: number, len: number): string {
  let s = "";
  for (let i = start; i < start + len; i++) {
    const c = b[i]!;
    if (c === 0x2e || c === 0x5c) s += "\\" + String.fromCharCode(c);
    else if (c > 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += "\\" + String(c).padStart(3, "0");
  }
  return s;
}

/**
 * Reads a (possibly compressed) name at `off`. Pointers must point backwards and the name must
 * fit in 255 bytes (RFC 1035 §2.3.4, §4.1.4). Returns the name and the offset after it.
 */
export function readName(b: Uint8Array, off: number): { name: string; next: number } {
  let pos = off;
  let next = -1;
  let wireLen = 0;
  let name = "";
  let limit = off;
  for (let jumps = 0;;) {
    if (pos >= b.length) throw new DnsFormatError(`name at offset ${off} runs past the message`);
    const len = b[pos]!;
    if (len === 0) {
      wireLen += 1;
      if (next < 0) next = pos + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= b.length) throw new DnsFormatError(`name at offset ${off} is truncated`);
      const target = ((len & 0x3f) << 8) | b[pos + 1]!;
      if (target >= limit) {
        throw new DnsFormatError(`name at offset ${off} has a forward compression pointer`);
      }
      if (next < 0) next = pos + 2;
      if (++jumps > 64) throw new DnsFormatError(`name at offset ${off} has too many pointers`);
      limit = target;
      pos = target;
      continue;
    }
    if (kind !== 0) throw new DnsFormatError(`name at offset ${off} has a reserved label type`);
    if (pos + 1 + len > b.length) throw new DnsFormatError(`name at offset ${off} is truncated`);
    wireLen += len + 1;
    if (wireLen > 255) throw new DnsFormatError(`name at offset ${off} is longer than 255 bytes`);
    name += (name === "" ? "" : ".") + escapeLabel(b, pos + 1, len);
    pos += len + 1;
  }
  return { name, next };
}

/**
 * Walks a whole message: header, every question and every record the counts announce.
 * Throws {@linkcode DnsFormatError} naming what is wrong.
 */
export function parseMessage(b: Uint8Array): MessageLayout {
  if (b.length < HEADER_LEN) {
    throw new DnsFormatError(`message of ${b.length} bytes is shorter than a DNS header`);
  }
  const qd = readU16(b, 4);
  const counts = [readU16(b, 6), readU16(b, 8), readU16(b, 10)];
  let off = HEADER_LEN;
  const questions: QuestionInfo[] = [];
  for (let i = 0; i < qd; i++) {
    const { name, next } = readName(b, off);
    if (next + 4 > b.length) throw new DnsFormatError(`question ${i} is truncated`);
    questions.push({
      name,
      type: readU16(b, next),
      class: readU16(b, next + 2),
      offset: off,
      end: next + 4,
    });
    off = next + 4;
  }
  const questionEnd = off;
  const records: RecordInfo[] = [];
  for (let s = 0; s < 3; s++) {
    const section = (s + 1) as 1 | 2 | 3;
    for (let i = 0; i < counts[s]!; i++) {
      const start = off;
      const { name, next } = readName(b, off);
      if (next + 10 > b.length) throw new DnsFormatError(`record at offset ${start} is truncated`);
      const rdlength = readU16(b, next + 8);
      const end = next + 10 + rdlength;
      if (end > b.length) throw new DnsFormatError(`record data at offset ${start} is truncated`);
      records.push({
        section,
        offset: start,
        name,
        type: readU16(b, next),
        class: readU16(b, next + 2),
        ttl: readU32(b, next + 4),
        ttlOffset: next + 4,
        rdataOffset: next + 10,
        rdlength,
        end,
      });
      off = end;
    }
  }
  return { id: readU16(b, 0), flags: readU16(b, 2), questions, records, questionEnd, end: off };
}

/** The OPT pseudo-record of a message, if any. */
export function findOpt(layout: MessageLayout): RecordInfo | undefined {
  for (const r of layout.records) if (r.section === 3 && r.type === TYPE_OPT) return r;
  return undefined;
}

/** A/AAAA addresses in the answer section (copies), in message order. */
export function answerAddresses(b: Uint8Array, layout: MessageLayout): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const r of layout.records) {
    if (r.section !== 1 || r.class !== CLASS_IN) continue;
    if (
      (r.type === TYPE_A && r.rdlength === 4) || (r.type === TYPE_AAAA && r.rdlength === 16)
    ) {
      out.push(b.slice(r.rdataOffset, r.rdataOffset + r.rdlength));
    }
  }
  return out;
}

/** Lower-cases ASCII letters of a presentation-form name (DNS names compare case-insensitively). */
export function canonicalName(name: string): string {
  return name.toLowerCase();
}

/** True when two messages ask the same questions (names compared ignoring ASCII case). */
export function sameQuestions(la: MessageLayout, lb: MessageLayout): boolean {
  if (la.questions.length !== lb.questions.length) return false;
  for (let i = 0; i < la.questions.length; i++) {
    const qa = la.questions[i]!, qb = lb.questions[i]!;
    if (qa.type !== qb.type || qa.class !== qb.class) return false;
    if (canonicalName(qa.name) !== canonicalName(qb.name)) return false;
  }
  return true;
}

/** Options for the header of an answer tunbox writes itself. */
export interface HeaderOptions {
  rcode: number;
  /** Default true (sing-box's fixed answers are authoritative). */
  authoritative?: boolean;
  /** Default true. */
  recursionAvailable?: boolean;
}

function responseFlags(queryFlags: number, o: HeaderOptions): number {
  let f = FLAG_QR | (queryFlags & OPCODE_MASK) | FLAG_RD | (o.rcode & 0x0f);
  if (o.authoritative ?? true) f |= FLAG_AA;
  if (o.recursionAvailable ?? true) f |= FLAG_RA;
  return f;
}

/**
 * An answer with no records: the query's id and question section, and `rcode`. With `layout`
 * null only the header is echoed (for queries whose question cannot be read: FORMERR).
 */
export function statusResponse(
  query: Uint8Array,
  layout: MessageLayout | null,
  o: HeaderOptions,
): Uint8Array {
  const qEnd = layout ? layout.questionEnd : HEADER_LEN;
  const out = new Uint8Array(qEnd);
  out.set(query.subarray(0, qEnd));
  writeU16(out, 2, responseFlags(readU16(query, 2), o));
  writeU16(out, 4, layout ? layout.questions.length : 0);
  writeU16(out, 6, 0);
  writeU16(out, 8, 0);
  writeU16(out, 10, 0);
  return out;
}

/**
 * A NOERROR answer for the first question with one A/AAAA record per address of the question's
 * family (other families are left out, as sing-box's `FixedResponse`); names point at the
 * question (compression pointer to offset 12).
 */
export function addressResponse(
  query: Uint8Array,
  layout: MessageLayout,
  addrs: readonly Uint8Array[],
  ttl: number,
): Uint8Array {
  const q = layout.questions[0];
  if (!q) throw new TypeError("addressResponse() needs a query with a question");
  const want = q.type === TYPE_A ? 4 : q.type === TYPE_AAAA ? 16 : 0;
  const picked = addrs.filter((a) => a.length === want);
  const qEnd = q.end;
  const out = new Uint8Array(qEnd + picked.reduce((n, a) => n + 12 + a.length, 0));
  out.set(query.subarray(0, qEnd));
  writeU16(out, 2, responseFlags(readU16(query, 2), { rcode: RCODE_NOERROR }));
  writeU16(out, 4, 1);
  writeU16(out, 6, picked.length);
  writeU16(out, 8, 0);
  writeU16(out, 10, 0);
  let off = qEnd;
  for (const a of picked) {
    writeU16(out, off, 0xc000 | HEADER_LEN);
    writeU16(out, off + 2, q.type);
    writeU16(out, off + 4, CLASS_IN);
    writeU32(out, off + 6, ttl);
    writeU16(out, off + 10, a.length);
    out.set(a, off + 12);
    off += 12 + a.length;
  }
  return out;
}

/**
 * Assembles a message from the query's header and question section and already encoded
 * records (predefined answers).
 */
export function assembleResponse(
  query: Uint8Array,
  layout: MessageLayout,
  o: HeaderOptions,
  sections: readonly [readonly Uint8Array[], readonly Uint8Array[], readonly Uint8Array[]],
): Uint8Array {
  const qEnd = layout.questionEnd;
  let len = qEnd;
  for (const s of sections) for (const r of s) len += r.length;
  const out = new Uint8Array(len);
  out.set(query.subarray(0, qEnd));
  writeU16(out, 2, responseFlags(readU16(query, 2), o));
  writeU16(out, 4, layout.questions.length);
  writeU16(out, 6, sections[0].length);
  writeU16(out, 8, sections[1].length);
  writeU16(out, 10, sections[2].length);
  let off = qEnd;
  for (const s of sections) {
    for (const r of s) {
      out.set(r, off);
      off += r.length;
    }
  }
  return out;
}

/** A copy of `b` without the records `drop` selects (counts adjusted). */
export function withoutRecords(
  b: Uint8Array,
  layout: MessageLayout,
  drop: (r: RecordInfo) => boolean,
): Uint8Array {
  const kept = layout.records.filter((r) => !drop(r));
  if (kept.length === layout.records.length) return b.slice(0, layout.end);
  const len = kept.reduce((n, r) => n + r.end - r.offset, layout.questionEnd);
  const out = new Uint8Array(len);
  out.set(b.subarray(0, layout.questionEnd));
  let off = layout.questionEnd;
  const counts = [0, 0, 0];
  for (const r of kept) {
    out.set(b.subarray(r.offset, r.end), off);
    off += r.end - r.offset;
    counts[r.section - 1]!++;
  }
  writeU16(out, 6, counts[0]!);
  writeU16(out, 8, counts[1]!);
  writeU16(out, 10, counts[2]!);
  return out;
}

/**
 * Fits a response into `limit` bytes for UDP: a longer response becomes its header (TC set),
 * its question section and its OPT record, so the client retries over TCP (RFC 1035 §4.2.1,
 * RFC 6891 §7). A response within the limit is returned as it is.
 */
export function truncateResponse(b: Uint8Array, layout: MessageLayout, limit: number): Uint8Array {
  if (b.length <= limit) return b;
  const opt = findOpt(layout);
  const optLen = opt ? opt.end - opt.offset : 0;
  const out = new Uint8Array(layout.questionEnd + optLen);
  out.set(b.subarray(0, layout.questionEnd));
  if (opt) out.set(b.subarray(opt.offset, opt.end), layout.questionEnd);
  writeU16(out, 2, readU16(b, 2) | FLAG_TC);
  writeU16(out, 6, 0);
  writeU16(out, 8, 0);
  writeU16(out, 10, opt ? 1 : 0);
  return out;
}

/** The UDP payload size a query advertises with EDNS (RFC 6891), at least 512. */
export function udpLimit(query: Uint8Array, layout: MessageLayout): number {
  const opt = findOpt(layout);
  if (!opt) return 512;
  // The OPT record's CLASS field carries the requester's UDP payload size.
  return Math.max(512, readU16(query, opt.ttlOffset - 2));
}
