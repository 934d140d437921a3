/// <reference lib="deno.worker" />
// Worker for netns_test.ts: moves its own thread into a namespace with enterNetns() and
// reports the inode it ended up in (or the error). Only this worker's thread moves.

import { enterNetns, threadNetnsInode } from "../../../src/platform/linux/netns.ts";

self.onmessage = (e: MessageEvent<string>) => {
  try {
    const entered = enterNetns(e.data);
    self.postMessage({ entered, here: threadNetnsInode() });
  } catch (error) {
    self.postMessage({ error: error instanceof Error ? error.message : String(error) });
  }
  self.close();
};
