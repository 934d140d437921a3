/**
 * `tunbox version`: the version from `deno.json`, the Deno runtime and the platform.
 *
 * @module
 */

import denoJson from "../../deno.json" with { type: "json" };

/** The version in `deno.json`. */
export const VERSION: string = denoJson.version;

/** Prints the version; with `nameOnly`, only the number. Returns the exit status. */
export function versionCommand(nameOnly: boolean): number {
  if (nameOnly) {
    console.log(VERSION);
    return 0;
  }
  console.log(`tunbox ${VERSION}`);
  console.log("");
  console.log(
    `Environment: Deno ${Deno.version.deno} (V8 ${Deno.version.v8}, TypeScript ${Deno.version.typescript}) ${Deno.build.os}/${Deno.build.arch}`,
  );
  return 0;
}
