/**
 * The launchd daemon property list for `tunbox service install` on macOS (pure text
 * generation): started at boot and kept alive, logs in `/var/log/tunbox.log`, configuration in
 * `/etc/tunbox/`.
 *
 * @module
 */

import { CONFIG_DIR, CONFIG_PATH, LAUNCHD_LABEL, LAUNCHD_LOG_PATH } from "./layout.ts";
import { type Program, programArgv } from "./program.ts";

/** The daemon's open-files limit (soft and hard). */
export const LAUNCHD_NOFILE = 65536;

/** Seconds launchd waits after SIGTERM before SIGKILL (tunbox gives up closing after 10). */
export const LAUNCHD_EXIT_TIMEOUT = 15;

/** A property list value. */
export type PlistValue =
  | string
  | number
  | boolean
  | PlistValue[]
  | { [key: string]: PlistValue };

// Characters XML 1.0 does not allow at all (not even escaped).
// deno-lint-ignore no-control-regex
const XML_FORBIDDEN = /[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/;

/** Escapes text for XML character data. Throws a RangeError for characters XML cannot hold. */
export function xmlEscape(text: string): string {
  const bad = XML_FORBIDDEN.exec(text);
  if (bad) {
    throw new RangeError(
      `Cannot write ${JSON.stringify(text)} in a property list: character U+${
        bad[0].charCodeAt(0).toString(16).padStart(4, "0").toUpperCase()
      } is not allowed in XML`,
    );
  }
  return text.replace(/[&<>"']/g, (c) => `&${ENTITY[c]};`);
}

const ENTITY: Record<string, string> = {
  "&": "amp",
  "<": "lt",
  ">": "gt",
  '"': "quot",
  "'": "apos",
};

function encode(value: PlistValue, indent: string, out: string[]): void {
  if (typeof value === "string") out.push(`${indent}<string>${xmlEscape(value)}</string>`);
  else if (typeof value === "boolean") out.push(`${indent}<${value}/>`);
  else if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) {
      throw new RangeError(`Property list integers must be safe integers, got ${value}`);
    }
    out.push(`${indent}<integer>${value}</integer>`);
  } else if (Array.isArray(value)) {
    out.push(`${indent}<array>`);
    for (const v of value) encode(v, indent + "\t", out);
    out.push(`${indent}</array>`);
  } else {
    out.push(`${indent}<dict>`);
    for (const [k, v] of Object.entries(value)) {
      out.push(`${indent}\t<key>${xmlEscape(k)}</key>`);
      encode(v, indent + "\t", out);
    }
    out.push(`${indent}</dict>`);
  }
}

/** An XML property list (Apple's DTD) holding `root`. */
export function plistXml(root: { [key: string]: PlistValue }): string {
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    '<plist version="1.0">',
  ];
  encode(root, "", out);
  out.push("</plist>");
  return out.join("\n") + "\n";
}

/** The daemon's property list entries for running `program` as the tunbox service. */
export function launchdJob(program: Program): { [key: string]: PlistValue } {
  const job: { [key: string]: PlistValue } = {
    Label: LAUNCHD_LABEL,
    ProgramArguments: programArgv(program, ["run", "-c", CONFIG_PATH]),
    WorkingDirectory: CONFIG_DIR,
    RunAtLoad: true,
    KeepAlive: true,
    StandardOutPath: LAUNCHD_LOG_PATH,
    StandardErrorPath: LAUNCHD_LOG_PATH,
    ExitTimeOut: LAUNCHD_EXIT_TIMEOUT,
    SoftResourceLimits: { NumberOfFiles: LAUNCHD_NOFILE },
    HardResourceLimits: { NumberOfFiles: LAUNCHD_NOFILE },
  };
  if (Object.keys(program.env).length > 0) job.EnvironmentVariables = { ...program.env };
  return job;
}

/** The plist file text for running `program` as the tunbox service. */
export function launchdPlist(program: Program): string {
  return plistXml(launchdJob(program));
}
