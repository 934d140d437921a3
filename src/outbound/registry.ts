/**
 * The outbound registry: `{type → factory}`. Each outbound type registers a factory; building
 * outbounds from options is a table lookup, never a switch over types (as sing-box's
 * `adapter/outbound` registry).
 *
 * Factories run at config time and throw (TypeError) for options tunbox cannot honour; the error
 * is wrapped as `initialize outbound[i] ("tag"): ...`. References between outbounds (`detour`,
 * selector/urltest members) are declared through {@linkcode OutboundEnv.ref} and checked after
 * every outbound exists: a missing tag or a cycle is a config-time error.
 *
 * @module
 */

import type { DialOptions, OutboundOptions } from "../config/types.ts";
import { type DialRouteOptions, DirectDialer } from "./direct_dialer.ts";
import type { DialContext, Dialer, Outbound } from "./types.ts";

/** What a factory gets besides its options. */
export interface OutboundEnv {
  readonly ctx: DialContext;
  readonly route: DialRouteOptions;
  /**
   * Declares that this outbound uses outbound `tag` (`field` names the option, for errors) and
   * returns a getter to call at dial time, when every outbound exists.
   */
  ref(tag: string, field: string): () => Outbound;
  /** The dialer for a set of dial fields: through `detour` when set, else a direct dialer. */
  dialer(name: string, options: DialOptions): Dialer;
}

/** Builds one outbound from its decoded options. */
export type OutboundFactory<O extends OutboundOptions = OutboundOptions> = (
  options: O,
  env: OutboundEnv,
) => Outbound;

type OptionsOf<T extends string> = Extract<OutboundOptions, { type: T }>;

/** A table of outbound factories by `type`. */
export class OutboundRegistry {
  #factories = new Map<string, OutboundFactory>();

  /** Registers the factory for `type` (a later registration replaces an earlier one). */
  register<T extends OutboundOptions["type"]>(
    type: T,
    factory: OutboundFactory<OptionsOf<T>>,
  ): this {
    this.#factories.set(type, factory as OutboundFactory);
    return this;
  }

  has(type: string): boolean {
    return this.#factories.has(type);
  }

  get types(): string[] {
    return [...this.#factories.keys()];
  }

  /** Creates one outbound; throws TypeError for an unknown type. */
  create(options: OutboundOptions, env: OutboundEnv): Outbound {
    const factory = this.#factories.get(options.type);
    if (!factory) {
      throw new TypeError(
        `unknown outbound type "${options.type}" (supported: ${this.types.join(", ")})`,
      );
    }
    return factory(options, env);
  }
}

/** Outbound types that exist in sing-box configs but are not outbounds in tunbox. */
const IGNORED_TYPES = new Set(["dns"]);

/**
 * Creates every outbound in `options` (legacy `dns` outbounds are skipped: the router handles
 * them as `hijack-dns`). Throws a TypeError naming the outbound's index and tag on the first
 * problem; outbounds created before it are closed.
 */
export function createOutbounds(
  options: readonly OutboundOptions[],
  ctx: DialContext,
  route: DialRouteOptions,
  registry: OutboundRegistry,
): Map<string, Outbound> {
  const result = new Map<string, Outbound>();
  const refs: { index: number; from: string; tag: string; field: string }[] = [];
  const get = (tag: string): Outbound => {
    const o = result.get(tag);
    if (!o) throw new TypeError(`outbound "${tag}" does not exist`);
    return o;
  };
  const fail = (index: number, tag: string, message: string, cause?: unknown): never => {
    for (const o of result.values()) o.close();
    throw new TypeError(`initialize outbound[${index}] ("${tag}"): ${message}`, { cause });
  };
  options.forEach((opt, index) => {
    if (IGNORED_TYPES.has(opt.type)) return;
    if (result.has(opt.tag)) fail(index, opt.tag, `duplicate tag "${opt.tag}"`);
    const env: OutboundEnv = {
      ctx,
      route,
      ref(tag, field) {
        refs.push({ index, from: opt.tag, tag, field });
        return () => get(tag);
      },
      dialer(name, dial) {
        if (dial.detour) {
          const target = env.ref(dial.detour, "detour");
          return {
            dialTcp: (dest, meta) => target().dialTcp(dest, meta),
            openUdp: (meta) => target().openUdp(meta),
          };
        }
        return new DirectDialer(name, dial, ctx, route, opt.tag);
      },
    };
    try {
      result.set(opt.tag, registry.create(opt, env));
    } catch (error) {
      fail(index, opt.tag, error instanceof Error ? error.message : String(error), error);
    }
  });
  for (const r of refs) {
    if (!result.has(r.tag)) fail(r.index, r.from, `${r.field} "${r.tag}" does not exist`);
  }
  // Cycles (a detour chain or a group that reaches itself) would recurse forever at dial time.
  const edges = new Map<string, string[]>();
  for (const r of refs) edges.set(r.from, [...(edges.get(r.from) ?? []), r.tag]);
  const state = new Map<string, 1 | 2>();
  const visit = (tag: string, path: string[]): void => {
    if (state.get(tag) === 2) return;
    if (state.get(tag) === 1) {
      const start = path.indexOf(tag);
      const ref = refs.find((r) => r.from === tag)!;
      fail(ref.index, tag, `reference cycle: ${[...path.slice(start), tag].join(" → ")}`);
    }
    state.set(tag, 1);
    for (const next of edges.get(tag) ?? []) visit(next, [...path, tag]);
    state.set(tag, 2);
  };
  for (const tag of edges.keys()) visit(tag, []);
  return result;
}
