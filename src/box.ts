/**
 * One running tunbox instance built from decoded options.
 *
 * This is a placeholder that holds no resources: it logs that it started and stopped. The real
 * instance (inbounds, outbounds, router, workers) replaces it with the same interface.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Options } from "./config/types.ts";

const log = getLogger(["tunbox", "box"]);

/** What {@linkcode Box.create} needs. */
export interface BoxInit {
  options: Options;
  /** The config files the options came from (for reload and messages). */
  configPaths: string[];
  workingDirectory: string;
  /** Describe what would be done without touching the system. */
  dryRun: boolean;
}

/** A tunbox instance: create, start, close (in reverse order of start). */
export class Box {
  readonly #init: BoxInit;
  #started = false;

  private constructor(init: BoxInit) {
    this.#init = init;
  }

  /** Builds an instance from options (nothing is opened yet). */
  static create(init: BoxInit): Promise<Box> {
    return Promise.resolve(new Box(init));
  }

  /** Starts the instance. */
  start(): Promise<void> {
    this.#started = true;
    const { options, dryRun } = this.#init;
    log.info(
      "{mode} with {inbounds} inbound(s), {outbounds} outbound(s), {rules} route rule(s)",
      {
        mode: dryRun ? "dry run" : "started",
        inbounds: options.inbounds.length,
        outbounds: options.outbounds.length,
        rules: options.route.rules.length,
      },
    );
    return Promise.resolve();
  }

  /** Stops the instance and releases what it holds. */
  close(): Promise<void> {
    if (this.#started) log.info("closed");
    this.#started = false;
    return Promise.resolve();
  }
}
