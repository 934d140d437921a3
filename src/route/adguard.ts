/**
 * The AdGuard domain matcher of binary rule-sets made by `rule-set convert --type adguard`
 * (SagerNet/sing `common/domain/adguard_matcher.go`): AdGuard filter patterns stored backwards
 * in a {@linkcode ByteTrie}, with wildcards.
 *
 * A pattern is stored as written, minus its anchors, reversed, with markers:
 * - `||x.com^` (a domain and its subdomains) ends in `\n`; `|x.com^` (an exact start) has no
 *   start marker; anything else starts with `\r` (matches inside a name);
 * - without a closing `^` the pattern may continue, marked by a leading `\b`;
 * - `*` matches any run of characters.
 *
 * Wildcard matching recurses; the recursion depth is capped at 100 as in sing-box, and a lookup
 * gives up (no match) after {@linkcode MAX_STEPS} recursive steps, so a pattern with many
 * wildcards cannot make one lookup take exponential time.
 *
 * @module
 */

import { ByteTrie, type ByteTrieData } from "./byte_trie.ts";
import { byteSort, PREFIX_LABEL, reverseDomainBytes, ROOT_LABEL } from "./domain_set.ts";

const ANY_LABEL = 0x2a; // '*'
const SUFFIX_LABEL = 0x08; // '\b'
const DOT = 0x2e;
const MAX_DEPTH = 100;
/** Recursive steps one lookup may take. */
export const MAX_STEPS = 20_000;

function toBytes(key: string): Uint8Array {
  const out = new Uint8Array(key.length);
  for (let i = 0; i < key.length; i++) out[i] = key.charCodeAt(i);
  return out;
}

/** The trie keys of sing's `NewAdGuardMatcher` for filter lines such as `||ads.example^`. */
export function adGuardKeys(lines: readonly string[]): string[] {
  const out: string[] = [];
  for (let line of lines) {
    let isSuffix = false, hasStart = false, hasEnd = false;
    if (line.startsWith("||")) {
      line = line.slice(2);
      isSuffix = true;
    } else if (line.startsWith("|")) {
      line = line.slice(1);
      hasStart = true;
    }
    if (line.endsWith("^")) {
      line = line.slice(0, -1);
      hasEnd = true;
    }
    if (isSuffix) line = "\n" + line;
    else if (!hasStart) line = "\r" + line;
    if (!hasEnd) {
      if (line.endsWith(".")) line = line.slice(0, -1);
      line += "\b";
    }
    out.push(reverseDomainBytes(line));
  }
  return out;
}

/** AdGuard filter patterns, matched as sing-box does. */
export class AdGuardMatcher {
  readonly trie: ByteTrie;
  readonly #labels: Uint8Array;
  readonly #first: Uint32Array;
  readonly #child: Uint32Array;
  #steps = 0;

  /** Builds from filter lines, or wraps a trie read from a binary rule-set / another thread. */
  constructor(source: readonly string[] | ByteTrie | ByteTrieData, shared = false) {
    if (source instanceof ByteTrie) this.trie = source;
    else if (Array.isArray(source)) this.trie = ByteTrie.build(adGuardKeys(source), shared);
    else this.trie = ByteTrie.fromData(source as ByteTrieData);
    this.#labels = this.trie.labels;
    this.#first = this.trie.first;
    this.#child = this.trie.child;
  }

  /** True when `name` (lowercased) matches a pattern (sing `AdGuardMatcher.Match`). */
  match(name: string): boolean {
    this.#steps = 0;
    let key = toBytes(reverseDomainBytes(name));
    if (this.#has(key, 0, 0, 0)) return true;
    const withSuffix = new Uint8Array(key.length + 1);
    for (;;) {
      withSuffix[0] = SUFFIX_LABEL;
      withSuffix.set(key, 1);
      if (this.#has(withSuffix.subarray(0, key.length + 1), 0, 0, 0)) return true;
      const dot = key.indexOf(DOT);
      if (dot < 0) return false;
      key = key.subarray(dot + 1);
    }
  }

  #has(key: Uint8Array, from: number, node: number, depth: number): boolean {
    if (depth > MAX_DEPTH || ++this.#steps > MAX_STEPS) return false;
    const labels = this.#labels;
    const first = this.#first;
    const child = this.#child;
    const trie = this.trie;
    for (let i = from; i < key.length; i++) {
      const c = key[i]!;
      const end = first[node + 1]!;
      let next = -1;
      for (let k = first[node]!; k < end; k++) {
        const label = labels[k]!;
        if (label === PREFIX_LABEL) return true;
        if (label === ROOT_LABEL && c === DOT && trie.isLeaf(child[k]!)) return true;
        if (label === c) {
          next = child[k]!;
          break;
        }
        if (label === ANY_LABEL || label === SUFFIX_LABEL) {
          for (let j = i; j <= key.length; j++) {
            if (this.#has(key, j, child[k]!, depth + 1)) return true;
          }
        }
      }
      if (next < 0) return false;
      node = next;
    }
    if (trie.isLeaf(node)) return true;
    const end = first[node + 1]!;
    for (let k = first[node]!; k < end; k++) {
      const label = labels[k]!;
      if (label === PREFIX_LABEL || label === ROOT_LABEL || label === SUFFIX_LABEL) return true;
      if (label === ANY_LABEL) return this.#has(key, key.length, child[k]!, depth + 1);
    }
    return false;
  }

  /** The patterns as filter lines, sorted (sing `AdGuardMatcher.Dump`). */
  dump(): string[] {
    const out: string[] = [];
    const dec = new TextDecoder();
    for (const raw of this.trie.keys()) {
      let key = [...dec.decode(toBytes(raw))].reverse().join("");
      let isSuffix = false, hasStart = false, hasEnd = false;
      if (key.charCodeAt(0) === PREFIX_LABEL) key = key.slice(1);
      else if (key.charCodeAt(0) === ROOT_LABEL) {
        key = key.slice(1);
        isSuffix = true;
      } else hasStart = true;
      if (key.charCodeAt(key.length - 1) === SUFFIX_LABEL) key = key.slice(0, -1);
      else hasEnd = true;
      if (isSuffix) key = "||" + key;
      else if (hasStart) key = "|" + key;
      if (hasEnd) key += "^";
      out.push(key);
    }
    return byteSort(out);
  }
}
