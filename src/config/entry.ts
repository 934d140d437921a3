/**
 * Typed, tagged entries (inbounds, outbounds, endpoints, DNS servers, services): their tag is
 * defined whatever happens to the rest, and their `type` gets its verdict from `support.ts`.
 *
 * @module
 */

import { foldKey, type Obj, type RefKind } from "./reader.ts";
import { featureId, isSupported, verdict } from "./support.ts";

/** Records the tag of an entry (its index when it has none), whatever its type. */
export function defineTag(o: Obj, kind: RefKind, index: number): string {
  // sing-box reads "type" and "tag" first and removes them by exact name: no case folding.
  o.strict("type", "tag");
  const at = o.at("tag");
  const s = o.string("tag");
  const tag = s !== undefined && s !== "" ? s : String(index);
  o.ctx.define(kind, tag, at?.node ?? o.node, at?.path ?? o.path);
  return tag;
}

/** Types of `kind` that `support.ts` knows, for "one of ..." messages. */
export function knownTypes(area: string, all: readonly string[], os: string): string {
  return all.filter((t) => isSupported(featureId(area, t)!, os)).map((t) => `"${t}"`).join(", ");
}

/**
 * Reads `type` of a typed entry and reports its verdict. Returns the type when tunbox decodes
 * it, or undefined after reporting why not: missing, unknown (with a suggestion) or not
 * supported (then the entry's other keys are not checked: its tag is still defined).
 */
export function entryType<T extends string>(
  o: Obj,
  area: string,
  decoded: readonly T[],
): T | undefined {
  const ctx = o.ctx;
  const typeAt = o.at("type");
  if (!typeAt || (typeAt.node.kind === "string" && typeAt.node.value === "")) {
    o.known("tag");
    const other = o.node.props.find((p) => p.key !== "type" && foldKey(p.key) === "TYPE");
    if (other) {
      // One error for one cause: the key is there, spelled in another case.
      for (const p of o.node.props) o.known(p.key);
      ctx.error(
        other.keyPos,
        o.p(other.key),
        `write "type" in lower case here: sing-box matches "type" and "tag" of ${
          area.replace(".", " ")
        }s only as spelled`,
      );
      return undefined;
    }
    ctx.error(o.node, o.path, `missing "type" (one of ${knownTypes(area, decoded, ctx.os)})`);
    return undefined;
  }
  const skip = () => {
    for (const p of o.node.props) o.known(p.key);
    return undefined;
  };
  const id = typeAt.node.kind === "string" ? featureId(area, typeAt.node.value) : undefined;
  if (id !== undefined) {
    // A sing-box type: its verdict is the one diagnostic; a type tunbox does not implement
    // leaves the entry's other keys unchecked (its tag is still defined).
    // A DNS server type with a warning runs another way (h3 as https), so it is decoded; other
    // areas' warnings leave the entry out (an outbound tunbox cannot build).
    const supported = ctx.support(id, typeAt.node, typeAt.path);
    const runs = area === "dns.server" && verdict(id, ctx.os).level === "warning";
    if (!supported && !runs) return skip();
  }
  const type = o.enumOf("type", decoded);
  return type === undefined ? skip() : type;
}
