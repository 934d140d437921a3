/**
 * The `selector` outbound: delegates every dial to its selected member (`default`, else the
 * first of `outbounds`). `select()` switches it (the Clash API's job in sing-box); connections
 * already open stay where they are. With shared choices in the dial context (`selections`), the
 * choice is the one every worker sees, restored from the cache file at start.
 *
 * @module
 */

import type { SelectorOutboundOptions } from "../config/types.ts";
import type { Stream } from "../io/stream.ts";
import type { OutboundEnv } from "./registry.ts";
import type { Destination, DialMeta, Outbound, SelectorChoices, UdpFlow } from "./types.ts";

/** Uses one member, chosen by `default` or `select()`. */
export class SelectorOutbound implements Outbound {
  readonly type = "selector";
  readonly members: readonly string[];
  #get: Map<string, () => Outbound>;
  #selected: string;

  constructor(readonly tag: string, options: SelectorOutboundOptions, env: OutboundEnv) {
    if (options.outbounds.length === 0) throw new TypeError("outbounds: at least one is required");
    this.members = [...options.outbounds];
    this.#get = new Map(options.outbounds.map((t, i) => [t, env.ref(t, `outbounds[${i}]`)]));
    if (options.default !== undefined && !this.#get.has(options.default)) {
      throw new TypeError(`default "${options.default}" is not one of outbounds`);
    }
    this.#selected = options.default ?? options.outbounds[0]!;
    const shared = env.ctx.selections;
    if (shared?.hasSelector(tag)) this.#shared = shared;
  }

  #shared: SelectorChoices | null = null;

  /** The selected member's tag. */
  get selected(): string {
    if (this.#shared) {
      const s = this.#shared.selected(this.tag);
      if (s !== undefined && this.#get.has(s)) return s;
    }
    return this.#selected;
  }

  /** Selects member `tag`; returns false when it is not a member. */
  select(tag: string): boolean {
    if (!this.#get.has(tag)) return false;
    this.#selected = tag;
    this.#shared?.select(this.tag, tag);
    return true;
  }

  get current(): Outbound {
    return this.#get.get(this.selected)!();
  }

  get networks(): ReadonlySet<"tcp" | "udp"> {
    return this.current.networks;
  }

  dialTcp(dest: Destination, meta: DialMeta): Promise<Stream> {
    return this.current.dialTcp(dest, meta);
  }

  openUdp(meta: DialMeta): Promise<UdpFlow> {
    return this.current.openUdp(meta);
  }

  close(): void {}
}

/** Registry factory for `selector`. */
export function createSelectorOutbound(
  options: SelectorOutboundOptions,
  env: OutboundEnv,
): Outbound {
  return new SelectorOutbound(options.tag, options, env);
}
