/**
 * Strict, error-collecting accessors over a {@linkcode JsonObject}. Every accessor records the
 * key as known; {@linkcode Obj.done} then reports the keys nobody asked for as unknown fields,
 * with a "did you mean" suggestion. Wrong values are reported at their position and read as
 * absent, so decoding continues and one run reports every problem.
 *
 * @module
 */

import type { Prefix } from "../net/ip.ts";
import type { Diagnostics, Pos } from "./diagnostic.ts";
import { describe, type JsonNode, type JsonObject, type JsonProp } from "./jsonc.ts";
import { indexPath, joinPath } from "./merge.ts";
import { didYouMean } from "./suggest.ts";
import { type FeatureId, verdict } from "./support.ts";
import type { PortRange } from "./types.ts";
import {
  Invalid,
  parseAddress,
  parseDuration,
  parsePortRange,
  parsePrefixText,
  parseUintAuto,
} from "./values.ts";

/** A value node with its JSON path. */
export interface At {
  node: JsonNode;
  path: string;
}

/** What a tag reference points at. */
export type RefKind = "outbound" | "inbound" | "dns server" | "rule-set" | "http client";

/** A tag used somewhere (checked against the defined tags once everything is decoded). */
export interface Ref {
  kind: RefKind;
  tag: string;
  pos: Pos;
  path: string;
}

/** Why an outbound is left out: the verdict's message, and the outbound's path (`outbounds[2]`). */
export interface LeftOut {
  message: string;
  /** The outbound the reason belongs to; for a group left out with its members, the group. */
  path: string;
  /** For a group left out because every member is: the members' tags. */
  members?: string[];
}

/** A tag defined by an inbound, outbound, DNS server or rule-set (whatever its type). */
export interface TagDef {
  tag: string;
  pos: Pos;
  path: string;
}

/** Shared decoding state: where diagnostics go, and the tags defined and referenced so far. */
export class Ctx {
  readonly refs: Ref[] = [];
  /**
   * Every tag defined, including those of entries whose type tunbox does not implement or
   * could not decode: one root cause gets one error, not a cascade of "unknown outbound".
   */
  readonly defs: Record<RefKind, TagDef[]> = {
    inbound: [],
    outbound: [],
    "dns server": [],
    "rule-set": [],
    "http client": [],
  };
  /** The reader each decoded option object came from, for positions in later checks. */
  readonly where: WeakMap<object, Obj> = new WeakMap();
  /** The OS whose verdicts apply (`Deno.build.os` values). */
  readonly os: string;
  /**
   * Outbounds tunbox cannot build and leaves out (tag → the verdict's message and the path of the
   * outbound whose warning says so): uses of them are checked after decoding (`validate.ts`).
   */
  readonly leftOut: Map<string, LeftOut> = new Map();
  /**
   * `server`/`server_port` missing from an outbound with a `detour`: an error unless the detour
   * is left out (then that is the one root cause), checked in `validate.ts`.
   */
  readonly missingBehindDetour: { pos: Pos; path: string; detour: string; message: string }[] = [];
  /** Tags of legacy `rcode://` DNS servers (removed from the server list by the upgrade). */
  readonly rcodeServers: Set<string> = new Set();

  constructor(readonly diag: Diagnostics, os: string = Deno.build.os) {
    this.os = os;
  }

  /** Records a defined tag. */
  define(kind: RefKind, tag: string, at: { pos: Pos }, path: string): void {
    this.defs[kind].push({ tag, pos: at.pos, path });
  }

  /**
   * Reports the verdict on feature `id` at `at` (nothing when it is supported; a warning or an
   * error otherwise, worded by `support.ts`). True when the feature is supported.
   */
  support(id: FeatureId, at: { pos: Pos } | Pos, path: string): boolean {
    const v = verdict(id, this.os);
    if (v.level === "error") this.error(at, path, v.message);
    else if (v.level === "warning") this.warn(at, path, v.message);
    return v.level === "supported";
  }

  /** Records a reference to a tag, to be checked after decoding. */
  ref(kind: RefKind, tag: string, at: { pos: Pos }, path: string): void {
    this.refs.push({ kind, tag, pos: at.pos, path });
  }

  error(at: { pos: Pos } | Pos, path: string, message: string): void {
    this.diag.error("pos" in at ? at.pos : at, path, message);
  }

  warn(at: { pos: Pos } | Pos, path: string, message: string): void {
    this.diag.warn("pos" in at ? at.pos : at, path, message);
  }

  /** Reports a type mismatch: `expected <what>, got <actual>`. */
  expected(node: JsonNode, path: string, what: string): void {
    this.error(node, path, `expected ${what}, got ${describe(node)}`);
  }

  // -------------------------------------------------------------------------------------------
  // Node-level readers (used by Obj and for list items)
  // -------------------------------------------------------------------------------------------

  string(node: JsonNode, path: string): string | undefined {
    if (node.kind === "string") return node.value;
    this.expected(node, path, "a string");
    return undefined;
  }

  bool(node: JsonNode, path: string): boolean | undefined {
    if (node.kind === "boolean") return node.value;
    this.expected(node, path, "true or false");
    return undefined;
  }

  /** An integer in `[min, max]`. */
  int(node: JsonNode, path: string, min: number, max: number): number | undefined {
    if (node.kind !== "number") {
      this.expected(node, path, `a number from ${min} to ${max}`);
      return undefined;
    }
    if (!Number.isInteger(node.value) || node.value < min || node.value > max) {
      this.error(node, path, `${node.raw} is not a whole number from ${min} to ${max}`);
      return undefined;
    }
    return node.value;
  }

  /** A string from a fixed set; `aliases` map extra spellings to a canonical value. */
  enumOf<T extends string>(
    node: JsonNode,
    path: string,
    values: readonly T[],
    aliases: Record<string, T> = {},
  ): T | undefined {
    const s = this.string(node, path);
    if (s === undefined) return undefined;
    if ((values as readonly string[]).includes(s)) return s as T;
    // Own keys only: a value like "valueOf" or "constructor" is not an alias.
    if (Object.hasOwn(aliases, s)) return aliases[s];
    const shown = values.filter((v) => v !== "").map((v) => JSON.stringify(v)).join(", ");
    const hint = didYouMean(s, values).replace(/^, /, "; ");
    this.error(node, path, `invalid value ${JSON.stringify(s)}; expected one of ${shown}${hint}`);
    return undefined;
  }

  /** A duration string (milliseconds); with `numberUnitMs`, a bare number counts in that unit. */
  duration(node: JsonNode, path: string, numberUnitMs?: number): number | undefined {
    if (node.kind === "number" && numberUnitMs !== undefined) {
      if (node.value < 0) {
        this.error(node, path, `${node.raw} is negative`);
        return undefined;
      }
      return node.value * numberUnitMs;
    }
    if (node.kind !== "string") {
      this.expected(node, path, 'a duration string such as "10s" or "5m"');
      return undefined;
    }
    const v = parseDuration(node.value);
    if (v instanceof Invalid) {
      this.error(node, path, `invalid duration ${JSON.stringify(node.value)}: ${v.reason}`);
      return undefined;
    }
    if (v < 0) {
      this.error(node, path, `invalid duration ${JSON.stringify(node.value)}: negative`);
      return undefined;
    }
    return v;
  }

  /** A firewall mark: a number or a string such as "0x2023". */
  mark(node: JsonNode, path: string): number | undefined {
    if (node.kind === "number") return this.int(node, path, 0, 0xffffffff);
    if (node.kind !== "string") {
      this.expected(node, path, 'a mark (number or string such as "0x2023")');
      return undefined;
    }
    const v = parseUintAuto(node.value, 0xffffffff);
    if (v instanceof Invalid) {
      this.error(node, path, `invalid mark ${JSON.stringify(node.value)}: ${v.reason}`);
      return undefined;
    }
    return v;
  }

  address(node: JsonNode, path: string): Uint8Array | undefined {
    const s = this.string(node, path);
    if (s === undefined) return undefined;
    const a = parseAddress(s);
    if (a instanceof Invalid) {
      this.error(node, path, `invalid address ${JSON.stringify(s)}: ${a.reason}`);
      return undefined;
    }
    return a;
  }

  prefix(node: JsonNode, path: string, allowBare: boolean): Prefix | undefined {
    const s = this.string(node, path);
    if (s === undefined) return undefined;
    const p = parsePrefixText(s, allowBare);
    if (p instanceof Invalid) {
      this.error(node, path, `invalid prefix ${JSON.stringify(s)}: ${p.reason}`);
      return undefined;
    }
    return p;
  }

  portRange(node: JsonNode, path: string, max = 65535): PortRange | undefined {
    const s = this.string(node, path);
    if (s === undefined) return undefined;
    const r = parsePortRange(s, max);
    if (r instanceof Invalid) {
      this.error(node, path, `invalid range ${JSON.stringify(s)}: ${r.reason}`);
      return undefined;
    }
    return r;
  }

  /** An object node as an {@linkcode Obj}; reports anything else. */
  object(node: JsonNode, path: string): Obj | undefined {
    if (node.kind === "object") return new Obj(this, node, path);
    this.expected(node, path, "an object");
    return undefined;
  }

  /** The items of a JSON list (a single non-list value reports an error). */
  items(node: JsonNode, path: string): At[] {
    if (node.kind === "object") {
      // sing-box's lists of entries take no single object (unlike its Listable values).
      this.error(node, path, "expected a list, got an object (a list of one is written [ { … } ])");
      return [];
    }
    if (node.kind !== "array") {
      this.expected(node, path, "a list");
      return [];
    }
    return node.items.map((n, i) => ({ node: n, path: indexPath(path, i) }));
  }

  /** sing-box's `Listable`: one value or a list of values, each read with `read`. */
  listable<T>(node: JsonNode, path: string, read: (n: JsonNode, p: string) => T | undefined): T[] {
    const out: T[] = [];
    const one = (n: JsonNode, p: string) => {
      if (n.kind === "null") return;
      const v = read(n, p);
      if (v !== undefined) out.push(v);
    };
    if (node.kind === "array") node.items.forEach((n, i) => one(n, indexPath(path, i)));
    else one(node, path);
    return out;
  }
}

/**
 * A key folded as Go's encoding/json compares field names (`bytes.EqualFold` via `foldName`):
 * ASCII letters case-insensitively, plus the two non-ASCII runes that fold to ASCII letters
 * (U+017F LATIN SMALL LETTER LONG S to S, U+212A KELVIN SIGN to K).
 */
export function foldKey(key: string): string {
  const cached = FOLDED.get(key);
  if (cached !== undefined) return cached;
  const folded = foldUncached(key);
  if (FOLDED.size < 4096) FOLDED.set(key, folded);
  return folded;
}

const FOLDED = new Map<string, string>();

function foldUncached(key: string): string {
  let ascii = true;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c >= 0x61 && c <= 0x7a) {
      ascii = false;
      break;
    }
    if (c === 0x17f || c === 0x212a) {
      ascii = false;
      break;
    }
  }
  if (ascii) return key;
  return key.replace(
    /[a-z\u017f\u212a]/g,
    (c) => c === "\u017f" ? "S" : c === "\u212a" ? "K" : c.toUpperCase(),
  );
}

/** True for JSON's zero values, which sing-box's `omitempty` options read as "not set". */
export function isZero(node: JsonNode): boolean {
  switch (node.kind) {
    case "null":
      return true;
    case "boolean":
      return !node.value;
    case "string":
      return node.value === "";
    case "number":
      return node.value === 0;
    case "array":
      return node.items.length === 0;
    case "object":
      return node.props.length === 0;
  }
}

function article(kind: RefKind): string {
  if (kind === "http client") return "an HTTP client";
  return kind === "inbound" || kind === "outbound" ? `an ${kind}` : `a ${kind}`;
}

const NO_KEYS: ReadonlySet<string> = new Set();

/** Strict reader over one JSON object. */
export class Obj {
  readonly ctx: Ctx;
  readonly node: JsonObject;
  readonly path: string;
  /** Every key an accessor asked for (for "did you mean" suggestions). */
  readonly #asked: string[] = [];
  /** Per property: read by some accessor (1) or not yet (0). */
  #seen: Uint8Array | undefined;
  /** Properties matched only by another spelling: [index, the key that read them]. */
  #folded: [number, string][] | undefined;
  /** Whether any key here could match another spelling (has upper case, ſ or K). */
  #mayFold: boolean | undefined;
  /** Keys that sing-box matches only as spelled here (see {@linkcode Obj.strict}). */
  #strict: ReadonlySet<string> = NO_KEYS;

  constructor(ctx: Ctx, node: JsonObject, path: string) {
    this.ctx = ctx;
    this.node = node;
    this.path = path;
  }

  /**
   * Keys sing-box matches exactly in this object: the keys its first decoding pass reads
   * (`type`, `tag`, a rule's match fields, `action`, ...), which it then removes by exact name
   * before decoding the rest strictly, so another spelling ends as "unknown field" there too.
   * A `ReadonlySet` is used as given (share one across many objects).
   */
  strict(...keys: readonly string[]): void;
  strict(keys: ReadonlySet<string>): void;
  strict(...args: unknown[]): void {
    const more = args[0] instanceof Set ? args[0] as ReadonlySet<string> : args as string[];
    if (this.#strict === NO_KEYS && more instanceof Set) {
      this.#strict = more;
      return;
    }
    this.#strict = new Set([...this.#strict, ...more]);
  }

  /**
   * Index of the property for `key` as Go's encoding/json finds it: keys match regardless of
   * case (except {@linkcode Obj.strict} ones), and of several matches the last one wins. Every
   * match is marked as read; -1 when there is none.
   */
  #index(key: string): number {
    const props = this.node.props;
    let hit = -1;
    for (let i = 0; i < props.length; i++) if (props[i]!.key === key) hit = i;
    this.#mayFold ??= props.some((p) => /[A-Z\u017f\u212a]/.test(p.key));
    if (this.#mayFold && !this.#strict.has(key)) {
      const folded = foldKey(key);
      for (let i = 0; i < props.length; i++) {
        const k = props[i]!.key;
        if (k === key || foldKey(k) !== folded) continue;
        if (i > hit) hit = i;
        this.#markFolded(i, key);
      }
    }
    if (hit >= 0) {
      this.#seen ??= new Uint8Array(props.length);
      this.#seen[hit] = 1;
      // An exact spelling that a later one overrode was read too (Go assigns both).
      for (let i = 0; i < hit; i++) if (props[i]!.key === key) this.#seen[i] = 1;
    }
    return hit;
  }

  #markFolded(i: number, key: string): void {
    this.#seen ??= new Uint8Array(this.node.props.length);
    if (this.#seen[i]) return;
    this.#seen[i] = 1;
    (this.#folded ??= []).push([i, key]);
  }

  /**
   * The property for `key` as Go's encoding/json finds it: keys are matched regardless of case
   * (except {@linkcode Obj.strict} ones), and of several matches the last one wins.
   */
  find(key: string): JsonProp | undefined {
    const i = this.#index(key);
    return i < 0 ? undefined : this.node.props[i];
  }

  get pos(): Pos {
    return this.node.pos;
  }

  /** The JSON path of a key in this object. */
  p(key: string): string {
    return joinPath(this.path, key);
  }

  /** Marks keys as known without reading them. */
  known(...keys: string[]): void {
    for (const k of keys) {
      this.#asked.push(k);
      this.#index(k);
    }
  }

  /** The property for `key` (marking it known); `null` values count as absent. */
  prop(key: string): JsonProp | undefined {
    this.#asked.push(key);
    const p = this.find(key);
    if (!p || p.value.kind === "null") return undefined;
    return p;
  }

  /** True when the key is present with a non-null value (marks it known). */
  has(key: string): boolean {
    return this.prop(key) !== undefined;
  }

  /** The value node and path for `key`. */
  at(key: string): At | undefined {
    const p = this.prop(key);
    return p ? { node: p.value, path: this.p(key) } : undefined;
  }

  /** Position of the key itself, or of the object when absent. */
  keyPos(key: string): Pos {
    return this.find(key)?.keyPos ?? this.node.pos;
  }

  #read<T>(key: string, f: (n: JsonNode, path: string) => T | undefined): T | undefined {
    const p = this.prop(key);
    return p ? f(p.value, this.p(key)) : undefined;
  }

  string(key: string): string | undefined {
    return this.#read(key, (n, p) => this.ctx.string(n, p));
  }

  /** A string where `""` means "not set", as sing-box reads it (undefined then). */
  optionalString(key: string): string | undefined {
    const v = this.string(key);
    return v === "" ? undefined : v;
  }

  bool(key: string): boolean | undefined {
    return this.#read(key, (n, p) => this.ctx.bool(n, p));
  }

  int(key: string, min: number, max: number): number | undefined {
    return this.#read(key, (n, p) => this.ctx.int(n, p, min, max));
  }

  port(key: string): number | undefined {
    return this.int(key, 0, 65535);
  }

  /**
   * A string from a fixed set. `""` means "not set" (undefined), as sing-box documents for its
   * optional choices, unless `""` is itself one of `values`.
   */
  enumOf<T extends string>(
    key: string,
    values: readonly T[],
    aliases: Record<string, T> = {},
  ): T | undefined {
    return this.#read(key, (n, p) => {
      if (n.kind === "string" && n.value === "" && !(values as readonly string[]).includes("")) {
        return undefined;
      }
      return this.ctx.enumOf(n, p, values, aliases);
    });
  }

  duration(key: string, numberUnitMs?: number): number | undefined {
    return this.#read(key, (n, p) => this.ctx.duration(n, p, numberUnitMs));
  }

  mark(key: string): number | undefined {
    return this.#read(key, (n, p) => this.ctx.mark(n, p));
  }

  address(key: string): Uint8Array | undefined {
    return this.#read(key, (n, p) => this.ctx.address(n, p));
  }

  prefix(key: string, allowBare: boolean): Prefix | undefined {
    return this.#read(key, (n, p) => this.ctx.prefix(n, p, allowBare));
  }

  object(key: string): Obj | undefined {
    return this.#read(key, (n, p) => this.ctx.object(n, p));
  }

  /** A JSON list's items (not listable: a single value is an error). */
  items(key: string): At[] {
    const p = this.prop(key);
    return p ? this.ctx.items(p.value, this.p(key)) : [];
  }

  listable<T>(key: string, read: (n: JsonNode, p: string) => T | undefined): T[] {
    const p = this.prop(key);
    return p ? this.ctx.listable(p.value, this.p(key), read) : [];
  }

  strings(key: string): string[] {
    return this.listable(key, (n, p) => this.ctx.string(n, p));
  }

  prefixes(key: string, allowBare: boolean): Prefix[] {
    return this.listable(key, (n, p) => this.ctx.prefix(n, p, allowBare));
  }

  addresses(key: string): Uint8Array[] {
    return this.listable(key, (n, p) => this.ctx.address(n, p));
  }

  ints(key: string, min: number, max: number): number[] {
    return this.listable(key, (n, p) => this.ctx.int(n, p, min, max));
  }

  portRanges(key: string): PortRange[] {
    return this.listable(key, (n, p) => this.ctx.portRange(n, p));
  }

  /** A JSON object used as a map: each entry's value read with `read`. */
  map<T>(key: string, read: (n: JsonNode, p: string) => T | undefined): Record<string, T> {
    const o = this.object(key);
    const out: Record<string, T> = {};
    if (!o) return out;
    for (const prop of o.node.props) {
      if (prop.value.kind === "null") continue;
      const v = read(prop.value, o.p(prop.key));
      if (v !== undefined) out[prop.key] = v;
    }
    return out;
  }

  /**
   * Reads a string that names a tag of `kind`, recording the reference. `""` means the default
   * (undefined), as sing-box documents for `final`, `detour`, `download_detour`, ...; with
   * `required`, `""` is an error instead (a route action's `outbound`).
   */
  tagRef(key: string, kind: RefKind, required = false): string | undefined {
    const at = this.at(key);
    if (!at) return undefined;
    const s = this.ctx.string(at.node, at.path);
    if (s === undefined) return undefined;
    if (s === "") {
      if (required) {
        this.ctx.error(
          at.node,
          at.path,
          `must not be empty (expected the tag of ${article(kind)})`,
        );
      }
      return undefined;
    }
    this.ctx.ref(kind, s, at.node, at.path);
    return s;
  }

  /** Reads a listable of tags of `kind`, recording each reference. */
  tagRefs(key: string, kind: RefKind): string[] {
    return this.listable(key, (n, p) => {
      const s = this.ctx.string(n, p);
      if (s !== undefined) this.ctx.ref(kind, s, n, p);
      return s;
    });
  }

  /**
   * When `key` is present (not null), reports the verdict on feature `id` at the key and marks
   * the key known. True when the key is present and the feature supported; the caller decodes
   * the value either way when it has a use for it.
   */
  feature(key: string, id: FeatureId): boolean {
    this.#asked.push(key);
    const p = this.find(key);
    // sing-box reads a zero value (false, "", 0, [], {}) as "not set": nothing to report.
    if (!p || isZero(p.value)) return false;
    return this.ctx.support(id, p.keyPos, this.p(key));
  }

  /** Reports a required key that is missing. */
  require(key: string, what = ""): boolean {
    if (this.has(key)) return true;
    this.ctx.error(this.node, this.path || "(root)", `missing ${JSON.stringify(key)}${what}`);
    return false;
  }

  /** Reports every key that no accessor asked for, with a suggestion. */
  done(context = ""): void {
    const props = this.node.props;
    for (const [i, canonical] of this.#folded ?? []) {
      const p = props[i]!;
      this.ctx.warn(
        p.keyPos,
        this.p(canonical),
        `key ${JSON.stringify(p.key)} is read as ${
          JSON.stringify(canonical)
        } (sing-box matches keys regardless of case); write ${JSON.stringify(canonical)}`,
      );
    }
    let asked: Set<string> | undefined;
    for (let i = 0; i < props.length; i++) {
      if (this.#seen?.[i]) continue;
      const p = props[i]!;
      asked ??= new Set(this.#asked);
      // With a suggestion the path says enough; without one, say what kind of object this is.
      const hint = didYouMean(p.key, asked);
      this.ctx.error(
        p.keyPos,
        this.p(p.key),
        `unknown field ${JSON.stringify(p.key)}${hint || context}`,
      );
    }
  }
}
