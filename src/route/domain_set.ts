/**
 * Domain matchers with sing-box's semantics (SagerNet/sing `common/domain/matcher.go`).
 *
 * `domain` and `domain_suffix` share one set, as in sing-box:
 * - `domain: "x.com"` matches exactly `x.com`;
 * - `domain_suffix: "x.com"` (since sing-box 1.9) matches `x.com` and every `*.x.com`, but not
 *   `ax.com`;
 * - `domain_suffix: ".x.com"` is a literal string suffix: `a.x.com` and `.x.com`, not `x.com`.
 *
 * Entries are compared as written (sing-box does not lowercase them; the name being matched is
 * lowercased by the rule item), so an entry with capitals never matches.
 *
 * The set is sing-box's own structure: a trie ({@linkcode ByteTrie}) of the entries written
 * backwards (by character, as UTF-8), where a suffix entry ends in a marker label: `\r` for a
 * literal suffix (".x.com" is stored as `moc.x.\r`), `\n` for a dot-less suffix ("x.com" is
 * stored as `moc.x\n`; rule-set version 1 files store it as the exact name plus the literal
 * suffix ".x.com" instead). A lookup walks the name once from its end. The same trie is what a
 * binary rule-set (`.srs`) holds, so a set read from a file is used as it is.
 *
 * @module
 */

import { ByteTrie, type ByteTrieData } from "./byte_trie.ts";

/** Marker label of a literal suffix (sing `prefixLabel`). */
export const PREFIX_LABEL = 0x0d;
/** Marker label of a dot-less suffix (sing `rootLabel`). */
export const ROOT_LABEL = 0x0a;
const DOT = 0x2e;

/**
 * `name` written backwards by character, as a byte string of UTF-8 (sing `reverseDomain`):
 * `"a.com"` → `"moc.a"`; a multi-byte character keeps its bytes in order.
 */
export function reverseDomainBytes(name: string): string {
  let out = "";
  for (let i = name.length - 1; i >= 0; i--) {
    let cp = name.charCodeAt(i);
    if (cp < 0x80) {
      out += String.fromCharCode(cp);
      continue;
    }
    if (cp >= 0xdc00 && cp <= 0xdfff && i > 0) {
      const hi = name.charCodeAt(i - 1);
      if (hi >= 0xd800 && hi <= 0xdbff) {
        cp = 0x10000 + ((hi - 0xd800) << 10) + (cp - 0xdc00);
        i--;
      }
    }
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
    if (cp < 0x800) {
      out += String.fromCharCode(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += String.fromCharCode(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
    } else {
      out += String.fromCharCode(
        0xf0 | (cp >> 18),
        0x80 | ((cp >> 12) & 0x3f),
        0x80 | ((cp >> 6) & 0x3f),
        0x80 | (cp & 0x3f),
      );
    }
  }
  return out;
}

/** The name a key made by {@linkcode reverseDomainBytes} came from. */
export function unreverseDomainBytes(key: string): string {
  const bytes = new Uint8Array(key.length);
  for (let i = 0; i < key.length; i++) bytes[i] = key.charCodeAt(i);
  return [...new TextDecoder().decode(bytes)].reverse().join("");
}

/** Lookup scratch: the reversed UTF-8 bytes of the name being matched. */
let scratch = new Uint8Array(512);

/** Fills `scratch` with `name` reversed by character (UTF-8); returns the length. */
function reverseInto(name: string): number {
  const n = name.length;
  if (scratch.length < n * 3) scratch = new Uint8Array(n * 3);
  const buf = scratch;
  let len = 0;
  for (let i = n - 1; i >= 0; i--) {
    const c = name.charCodeAt(i);
    if (c < 0x80) {
      buf[len++] = c;
      continue;
    }
    const key = reverseDomainBytes(name);
    if (buf.length < key.length) scratch = new Uint8Array(key.length);
    for (let j = 0; j < key.length; j++) scratch[j] = key.charCodeAt(j);
    return key.length;
  }
  return len;
}

/** sing-box's domain matcher over a {@linkcode ByteTrie}. */
export class DomainSet {
  readonly #trie: ByteTrie;
  readonly #labels: Uint8Array;
  readonly #first: Uint32Array;
  readonly #child: Uint32Array;
  readonly #leaves: Uint8Array;

  /**
   * Builds the set from a rule's `domain` and `domain_suffix` lists, as sing-box's
   * `NewMatcher`, or wraps a trie (read from a binary rule-set, or posted by another thread).
   * `legacy` stores dot-less suffixes as rule-set version 1 did (exact name plus literal
   * suffix); both forms match the same names. `shared` puts the arrays in `SharedArrayBuffer`s.
   */
  constructor(trie: ByteTrie | ByteTrieData);
  constructor(
    domains: readonly string[],
    suffixes: readonly string[],
    legacy?: boolean,
    shared?: boolean,
  );
  constructor(
    source: readonly string[] | ByteTrie | ByteTrieData,
    suffixes: readonly string[] = [],
    legacy = false,
    shared = false,
  ) {
    if (source instanceof ByteTrie) this.#trie = source;
    else if (Array.isArray(source)) {
      this.#trie = ByteTrie.build(domainKeys(source, suffixes, legacy), shared);
    } else this.#trie = ByteTrie.fromData(source as ByteTrieData);
    this.#labels = this.#trie.labels;
    this.#first = this.#trie.first;
    this.#child = this.#trie.child;
    this.#leaves = this.#trie.leaves;
  }

  /** The trie (to write it to a binary rule-set or post it to another thread). */
  get trie(): ByteTrie {
    return this.#trie;
  }

  /** Number of keys in the trie (a dot-less suffix of a version 1 set counts twice). */
  get size(): number {
    let n = 0;
    const nodes = this.#trie.nodeCount;
    for (let i = 0; i < nodes; i++) if (this.#trie.isLeaf(i)) n++;
    return n;
  }

  #leaf(node: number): boolean {
    return ((this.#leaves[node >>> 3]! >>> (node & 7)) & 1) === 1;
  }

  /** True when `name` (already lowercased) matches an entry (sing `Matcher.Match`). */
  match(name: string): boolean {
    const len = reverseInto(name);
    const key = scratch;
    const labels = this.#labels;
    const first = this.#first;
    const child = this.#child;
    let node = 0;
    for (let i = 0; i < len; i++) {
      const c = key[i]!;
      const end = first[node + 1]!;
      let next = -1;
      for (let k = first[node]!; k < end; k++) {
        const label = labels[k]!;
        if (label === PREFIX_LABEL) return true;
        if (label === ROOT_LABEL && c === DOT && this.#leaf(child[k]!)) return true;
        if (label === c) {
          next = child[k]!;
          break;
        }
      }
      if (next < 0) return false;
      node = next;
    }
    if (this.#leaf(node)) return true;
    const end = first[node + 1]!;
    for (let k = first[node]!; k < end; k++) {
      const label = labels[k]!;
      if (label === PREFIX_LABEL || label === ROOT_LABEL) return true;
    }
    return false;
  }

  /**
   * The entries as `domain` and `domain_suffix` lists, each sorted (sing `Matcher.Dump`): a
   * version 1 pair (exact `x.com` and literal `.x.com`) comes back as the suffix `x.com`.
   */
  dump(): { domain: string[]; domain_suffix: string[] } {
    const domains = new Set<string>();
    const literal = new Set<string>();
    const suffixes: string[] = [];
    for (const key of this.#trie.keys()) {
      const name = unreverseDomainBytes(key);
      const first = name.charCodeAt(0);
      if (first === PREFIX_LABEL) literal.add(name.slice(1));
      else if (first === ROOT_LABEL) suffixes.push(name.slice(1));
      else domains.add(name);
    }
    for (const raw of literal) {
      if (raw.startsWith(".") && domains.has(raw.slice(1))) {
        domains.delete(raw.slice(1));
        suffixes.push(raw.slice(1));
        continue;
      }
      suffixes.push(raw);
    }
    return { domain: byteSort([...domains]), domain_suffix: byteSort(suffixes) };
  }
}

/** Sorts strings by their UTF-8 bytes (Go's `sort.Strings`). */
export function byteSort(list: string[]): string[] {
  const enc = new TextEncoder();
  const keyed = list.map((s) => ({ s, b: enc.encode(s) }));
  keyed.sort((x, y) => {
    const n = Math.min(x.b.length, y.b.length);
    for (let i = 0; i < n; i++) if (x.b[i] !== y.b[i]) return x.b[i]! - y.b[i]!;
    return x.b.length - y.b.length;
  });
  return keyed.map((k) => k.s);
}

/** The trie keys of sing's `NewMatcher` (before sorting). */
export function domainKeys(
  domains: readonly string[],
  suffixes: readonly string[],
  legacy: boolean,
): string[] {
  const keys: string[] = [];
  const seen = new Set<string>();
  for (const d of suffixes) {
    if (seen.has(d) || d === "") continue;
    seen.add(d);
    if (d.startsWith(".")) keys.push(reverseDomainBytes("\r" + d));
    else if (legacy) {
      keys.push(reverseDomainBytes(d));
      const dotted = "." + d;
      if (!seen.has(dotted)) {
        seen.add(dotted);
        keys.push(reverseDomainBytes("\r" + dotted));
      }
    } else keys.push(reverseDomainBytes("\n" + d));
  }
  for (const d of domains) {
    if (seen.has(d) || d === "") continue;
    seen.add(d);
    keys.push(reverseDomainBytes(d));
  }
  return keys;
}

/** `domain_keyword`: substring match on the lowercased name. */
export class DomainKeywords {
  readonly #keywords: readonly string[];

  constructor(keywords: readonly string[]) {
    this.#keywords = keywords;
  }

  /** True when `name` (already lowercased) contains a keyword. */
  match(name: string): boolean {
    for (const k of this.#keywords) if (name.includes(k)) return true;
    return false;
  }
}
