/**
 * Persistent state behind `experimental.cache_file` (see `cache_file.ts`).
 *
 * ```ts
 * import { CacheFile } from "../store/mod.ts";
 * const cache = CacheFile.open(options.experimental.cache_file ?? {}, workingDirectory);
 * ```
 *
 * @module
 */

export {
  CacheFile,
  DEFAULT_CACHE_PATH,
  DEFAULT_RDRC_TIMEOUT_MS,
  type FakeIpEntry,
  type FakeIpMetadata,
  type RdrcEntry,
  type SavedRuleSet,
} from "./cache_file.ts";
