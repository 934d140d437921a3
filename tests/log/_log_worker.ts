/// <reference lib="deno.worker" />
/**
 * Worker for the logging test: configures logging to a file, logs one line, tells the main
 * thread, then blocks its event loop (as a packet worker blocked in epoll_wait would).
 */
import { getLogger } from "@logtape/logtape";
import { configureLogging } from "../../src/log/mod.ts";

self.onmessage = async (e: MessageEvent<{ path: string; flag: SharedArrayBuffer }>) => {
  await configureLogging({ level: "debug", output: e.data.path }, {
    color: false,
    workerName: "worker-1",
  });
  getLogger(["tunbox", "stack"]).debug("packet loop {state}", { state: "running" });
  const flag = new Int32Array(e.data.flag);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
  // Block until the main thread has checked the file.
  Atomics.wait(flag, 0, 1, 10_000);
  self.close();
};
