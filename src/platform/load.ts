/**
 * The {@linkcode Platform} of the running OS. Each implementation is imported lazily, so a
 * Linux process never loads macOS code (and the other way round).
 *
 * @module
 */

import type { Platform } from "./types.ts";

let cached: Promise<Platform> | undefined;

/**
 * Returns the platform for `Deno.build.os` (one instance per thread). Throws a TypeError for
 * an unsupported OS and an Error naming the module when an implementation is missing.
 */
export function loadPlatform(): Promise<Platform> {
  cached ??= load().catch((e) => {
    cached = undefined;
    throw e;
  });
  return cached;
}

async function load(): Promise<Platform> {
  switch (Deno.build.os) {
    case "linux": {
      const mod = await import("./linux/platform.ts");
      return mod.createPlatform();
    }
    case "darwin": {
      let mod: Record<string, unknown>;
      try {
        mod = await import("./darwin/platform.ts");
      } catch (cause) {
        throw new Error(
          "The macOS platform module (src/platform/darwin/platform.ts) is missing or failed to load",
          { cause },
        );
      }
      const create = mod.createDarwinPlatform;
      if (typeof create !== "function") {
        throw new Error("src/platform/darwin/platform.ts does not export createDarwinPlatform()");
      }
      return (create as () => Platform)();
    }
    default:
      throw new TypeError(
        `tunbox does not support ${Deno.build.os}: TUN mode needs Linux or macOS`,
      );
  }
}
