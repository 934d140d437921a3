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
 * name at each dot. Entries are compared as written (sing-box does not lowercase them; the name
 * being matched is lowercased by the rule item), so an entry with capitals never matches.
 *
 * @module
 */

/** Exact names plus dot-led suffixes, each a hash-set lookup. */
export class DomainSet {
  readonly #exact = new Set<string>();
  readonly #suffix = new Set<string>();

  /** Builds the set from a rule's `domain` and `domain_suffix` lists. */
  constructor(domains: readonly string[], suffixes: readonly string[]) {
    for (const d of domains) this.#exact.add(d);
    for (const s of suffixes) {
      if (s.startsWith(".")) this.#suffix.add(s);
      else {
        this.#exact.add(s);
        this.#suffix.add("." + s);
      }
    }
  }

  /** Number of exact and suffix entries. */
  get size(): number {
    return this.#exact.size + this.#suffix.size;
  }

  /** True when `name` (already lowercased) matches an entry. */
  match(name: string): boolean {
    if (this.#exact.has(name)) return true;
    const suffix = this.#suffix;
    if (suffix.size === 0) return false;
    for (let i = name.indexOf("."); i >= 0; i = name.indexOf(".", i + 1)) {
      if (suffix.has(i === 0 ? name : name.slice(i))) return true;
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
