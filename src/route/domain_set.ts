/**
 * Domain matchers with sing-box's semantics (SagerNet/sing `common/domain/matcher.go`).
 *
 * `domain` and `domain_suffix` share one set, as in sing-box:
 * - `domain: "x.com"` matches exactly `x.com`;
 * - `domain_suffix: "x.com"` (since sing-box 1.9) matches `x.com` and every `*.x.com`, but not
 *   `ax.com`;
 * - `domain_suffix: ".x.com"` is a literal string suffix: `a.x.com` and `.x.com`, not `x.com`.
 *
 * Every suffix therefore starts with a dot, and a suffix match is a lookup of the tail of the
 * name at each dot (string suffix semantics, as sing-box's reversed-string trie). Entries are compared as written (sing-box does not lowercase them; the name
 * being matched is lowercased by the rule item), so an entry with capitals never matches.
 *
 * @module
 */

/**
 * Exact names in a hash set; dot-led suffixes in a map keyed by a hash of the suffix read right
 * to left. A lookup walks the name once from its end, updating the hash; at each dot it probes
 * the map and confirms a candidate with `endsWith`. No substrings are allocated.
 */
export class DomainSet {
  readonly #exact = new Set<string>();
  readonly #suffix = new Map<number, string[]>();
  #suffixCount = 0;

  /** Builds the set from a rule's `domain` and `domain_suffix` lists. */
  constructor(domains: readonly string[], suffixes: readonly string[]) {
    for (const d of domains) this.#exact.add(d);
    for (const s of suffixes) {
      if (s.startsWith(".")) this.#addSuffix(s);
      else {
        this.#exact.add(s);
        this.#addSuffix("." + s);
      }
    }
  }

  #addSuffix(s: string): void {
    let h = 0;
    for (let i = s.length - 1; i >= 0; i--) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
    const list = this.#suffix.get(h);
    if (list === undefined) this.#suffix.set(h, [s]);
    else if (!list.includes(s)) list.push(s);
    else return;
    this.#suffixCount++;
  }

  /** Number of exact and suffix entries. */
  get size(): number {
    return this.#exact.size + this.#suffixCount;
  }

  /** True when `name` (already lowercased) matches an entry. */
  match(name: string): boolean {
    if (this.#exact.has(name)) return true;
    if (this.#suffixCount === 0) return false;
    const suffix = this.#suffix;
    let h = 0;
    for (let i = name.length - 1; i >= 0; i--) {
      const c = name.charCodeAt(i);
      h = (Math.imul(h, 31) + c) | 0;
      if (c !== 0x2e) continue;
      const list = suffix.get(h);
      if (list === undefined) continue;
      const len = name.length - i;
      for (const s of list) if (s.length === len && name.endsWith(s)) return true;
    }
    return false;
  }
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
