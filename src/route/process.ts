/**
 * Process rule items (sing-box `route/rule/rule_item_process_*.go`, `rule_item_user*.go`):
 * `process_name` (the executable's file name), `process_path`, `process_path_regex`, `user`
 * and `user_id` match the local process that opened the connection.
 *
 * The process is looked up once per flow, when the first such item is evaluated (or at routing
 * when `route.find_process` is on), through the thread's lookup ({@linkcode setProcessLookup},
 * set once per worker from the platform; Linux and macOS). Without a lookup, or when the socket's
 * process cannot be found, the items do not match, as in sing-box.
 *
 * ```ts
 * setProcessLookup((network, source) => platform.findProcess!(network, source)); // per worker
 * const item = processNameItem(["curl"]);
 * item.match(meta); // true for a flow curl opened
 * ```
 *
 * @module
 */

import type { ProcessInfo } from "../platform/mod.ts";
import type { ConnMetadata, Endpoint } from "./metadata.ts";
import { compileGoRegex } from "../config/go_regex.ts";
import { describeList } from "./rule_items.ts";
import { featureId, isSupported } from "../config/support.ts";

/** Finds the process owning a flow's local socket (null: not found). May throw. */
export type ProcessLookup = (network: "tcp" | "udp", source: Endpoint) => ProcessInfo | null;

let lookup: ProcessLookup | null = null;
let onError: (error: unknown) => void = () => {};

/**
 * Sets this thread's process lookup (null: none, the items never match). `error` hears a
 * lookup that threw (the flow then has no process).
 */
export function setProcessLookup(
  fn: ProcessLookup | null,
  error: (error: unknown) => void = () => {},
): void {
  lookup = fn;
  onError = error;
}

/** True when this thread can look processes up. */
export function hasProcessLookup(): boolean {
  return lookup !== null;
}

/** The process of flow `m`, looked up on first use and kept on the metadata (null: unknown). */
export function processOf(m: ConnMetadata): ProcessInfo | null {
  if (m.process !== undefined) return m.process;
  let found: ProcessInfo | null = null;
  if (lookup !== null && (m.network === "tcp" || m.network === "udp")) {
    try {
      found = lookup(m.network, m.source);
    } catch (error) {
      onError(error);
    }
  }
  m.process = found;
  return found;
}

/** The file name of an executable path (`/usr/bin/curl` → `curl`). */
export function processName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

interface Item {
  readonly text: string;
  match(meta: ConnMetadata): boolean;
}

/** The item's text, as the route rules' other items describe themselves. */
function describe(field: string, values: readonly (string | number)[]): string {
  return describeList(field, values.map(String));
}

/** An item on the executable's path: `test` decides, when the flow has a known process. */
function pathItem(text: string, test: (path: string) => boolean): Item {
  return {
    text,
    match: (m) => {
      const p = processOf(m);
      return p !== null && p.path !== "" && test(p.path);
    },
  };
}

/** `process_name`: the executable's file name equals one of `names`. */
export function processNameItem(names: readonly string[]): Item {
  const set = new Set(names);
  return pathItem(describe("process_name", names), (path) => set.has(processName(path)));
}

/** `process_path`: the executable's path equals one of `paths`. */
export function processPathItem(paths: readonly string[]): Item {
  const set = new Set(paths);
  return pathItem(describe("process_path", paths), (path) => set.has(path));
}

/** `process_path_regex`: the executable's path matches one of `patterns` (Go RE2 syntax). */
export function processPathRegexItem(patterns: readonly string[], where: string): Item {
  const regexes = patterns.map((source, i) => {
    try {
      return compileGoRegex(source);
    } catch (e) {
      throw new SyntaxError(
        `${where}.process_path_regex[${i}]: invalid regular expression ${JSON.stringify(source)}: ${
          e instanceof Error ? e.message : String(e)
        }`,
      );
    }
  });
  return pathItem(
    describe("process_path_regex", patterns),
    (path) => regexes.some((r) => r.test(path)),
  );
}

/** An item on the socket owner's uid. */
function uidItem(text: string, uids: ReadonlySet<number>): Item {
  return {
    text,
    match: (m) => {
      const p = processOf(m);
      return p !== null && uids.has(p.uid);
    },
  };
}

/** `user_id`: the socket's owner uid is one of `uids`. */
export function userIdItem(uids: readonly number[]): Item {
  return uidItem(describe("user_id", uids), new Set(uids));
}

/**
 * `user`: the socket owner's user name is one of `names`; `uidOf` maps a name to its uid (the
 * system's user database), names it does not know never match.
 */
export function userItem(names: readonly string[], uidOf: (name: string) => number | null): Item {
  const uids = new Set<number>();
  for (const n of names) {
    const uid = uidOf(n);
    if (uid !== null) uids.add(uid);
  }
  return uidItem(describe("user", names), uids);
}

/** A user's uid from `/etc/passwd` text (`name:x:uid:...` lines), or null. */
export function uidFromPasswd(passwd: string, name: string): number | null {
  for (const line of passwd.split("\n")) {
    const f = line.split(":");
    if (f[0] === name && f.length > 2) {
      const uid = Number(f[2]);
      return Number.isInteger(uid) && uid >= 0 ? uid : null;
    }
  }
  return null;
}

/** The process fields of a rule (route, DNS or rule-set), as decoded. */
export interface ProcessFields {
  process_name: readonly string[];
  process_path: readonly string[];
  process_path_regex: readonly string[];
  user?: readonly string[];
  user_id?: readonly number[];
}

/**
 * The rule items for `r`'s process fields that are set: an item where this OS looks processes
 * up (the verdict of `rule.<field>`, the one `check` reports), else `item: null` for the caller's
 * never-matching item and warning.
 */
export function processRuleItems(
  r: ProcessFields,
  where: string,
  os: string = Deno.build.os,
): { field: string; values: readonly unknown[]; item: Item | null }[] {
  const out: { field: string; values: readonly unknown[]; item: Item | null }[] = [];
  const add = (field: string, values: readonly unknown[] | undefined, make: () => Item) => {
    if (!values || values.length === 0) return;
    const id = featureId("rule", field);
    out.push({ field, values, item: id && isSupported(id, os) ? make() : null });
  };
  add("process_name", r.process_name, () => processNameItem(r.process_name));
  add("process_path", r.process_path, () => processPathItem(r.process_path));
  add(
    "process_path_regex",
    r.process_path_regex,
    () => processPathRegexItem(r.process_path_regex, where),
  );
  add("user", r.user, () => userItem(r.user!, systemUid));
  add("user_id", r.user_id, () => userIdItem(r.user_id!));
  return out;
}

let passwd: string | null = null;
let userLookup: ((name: string) => number | null) | null = null;

/**
 * Sets this thread's user database for `user` items (`Platform.userId`; null: `/etc/passwd`
 * only). Set before rules are compiled: names are resolved to uids once, when an item is built.
 */
export function setUserLookup(fn: ((name: string) => number | null) | null): void {
  userLookup = fn;
}

/** A user's uid from the platform's user database, else this system's `/etc/passwd`, or null. */
function systemUid(name: string): number | null {
  if (userLookup !== null) {
    try {
      const uid = userLookup(name);
      if (uid !== null) return uid;
    } catch { /* the passwd file below still answers for system accounts */ }
  }
  if (passwd === null) {
    try {
      passwd = Deno.readTextFileSync("/etc/passwd");
    } catch {
      passwd = "";
    }
  }
  return uidFromPasswd(passwd, name);
}
