/**
 * Worker of `tunbox demo probe`: reports the network namespace inode of its own thread.
 *
 * @module
 */

/// <reference lib="deno.worker" />

self.postMessage(Deno.statSync("/proc/thread-self/ns/net").ino);
