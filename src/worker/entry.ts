/**
 * Entry module of a reactor worker that runs in a Deno Worker: serves the worker protocol
 * (`runtime.ts`) on this worker's scope. Nothing imports it; `pool.ts` starts it by URL.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { serveWorker } from "./runtime.ts";

serveWorker(self, self, false);
