/** A stand-in for `src/tun/setup.ts` in cleanup tests: reports what it "removed". */
import type { Options } from "../../src/config/types.ts";

export function cleanup(options: Options): Promise<string[]> {
  return Promise.resolve(options.inbounds.map((i) => `TUN device of inbound ${i.tag}`));
}
