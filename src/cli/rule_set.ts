/**
 * `tunbox rule-set`: sing-box's rule-set commands.
 *
 * - `compile [-o out.srs] <source.json>`: source → binary (version as sing-box chooses it:
 *   the source's, lowered to the oldest that holds its items);
 * - `decompile [-o out.json] <file.srs>`: binary → source;
 * - `format [-w] <source.json>`: rewrite a source file in sing-box's encoder form;
 * - `upgrade [-w] <source.json>`: a version 1 source set as the current version (the rules are
 *   the same; version 2 only changed how binary sets store `domain_suffix`), in the encoder
 *   form; a newer set is "already up-to-date" and left alone;
 * - `match [-f source|binary] <rule-set> <IP|domain>`: print each rule that matches;
 * - `merge <output.json> -c a.json [-c b.json] [-C dir]`: merge source files as sing-box does;
 * - `convert -t <type> [-o out] [--category code] <input>`: from an AdGuard filter (`adguard`),
 *   a geosite database (`geosite`, sing-box's `geosite.db`), a geoip database (`geoip`, MaxMind
 *   DB: sing-box's `geoip.db` or GeoLite2 Country), or plain lists (`domains`: one domain per
 *   line, a leading `.` or `+.` for a suffix; `cidrs`: one CIDR or address per line).
 *
 * `stdin` as a path reads standard input, as in sing-box.
 *
 * @module
 */

import { RULE_SET_VERSION_CURRENT } from "../config/decode_rule_set.ts";
import { parseIp } from "../net/ip.ts";
import { newConnMetadata } from "../route/metadata.ts";
import { compileRuleSet, type RuleSetRule } from "../route/headless.ts";
import { MatchState } from "../route/match_state.ts";
import { CONVERT_TYPES, convertInput, type ConvertType } from "../ruleset/convert.ts";
import { RuleSetLoadError } from "../ruleset/load.ts";
import { formatRuleSetSource, parseRuleSetSource, type RuleSetSource } from "../ruleset/source.ts";
import { downgradeVersion, isSrs, readSrs, recoverLists, writeSrs } from "../ruleset/srs.ts";
import { mergeRuleSetSources } from "../ruleset/merge.ts";

/** What `tunbox rule-set <sub>` was given. */
export interface RuleSetCommand {
  sub: string;
  args: string[];
  output?: string;
  write?: boolean;
  format?: string;
  type?: string;
  category?: string;
  /** `merge`: `-c` files and `-C` directories. */
  configs: string[];
  directories: string[];
}

/** The subcommands, for help. */
export const RULE_SET_USAGE = [
  "tunbox rule-set compile [-o out.srs] <source.json>",
  "tunbox rule-set decompile [-o out.json] <file.srs>",
  "tunbox rule-set format [-w] <source.json>",
  "tunbox rule-set upgrade [-w] <source.json>",
  "tunbox rule-set match [-f source|binary] <rule-set> <IP|domain>",
  "tunbox rule-set merge <output.json> -c <a.json> [-c <b.json>] [-C <dir>]",
  `tunbox rule-set convert -t ${CONVERT_TYPES.join("|")} [--category code] [-o out] <input>`,
];

async function readInput(path: string): Promise<Uint8Array> {
  if (path === "stdin") {
    return new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer());
  }
  return await Deno.readFile(path);
}

function fail(message: string): number {
  console.error(`tunbox rule-set: ${message}`);
  return 1;
}

function parseSource(bytes: Uint8Array, name: string): RuleSetSource {
  if (isSrs(bytes)) {
    throw new RuleSetLoadError(`${name}: this is a binary rule-set; use "rule-set decompile"`);
  }
  const parsed = parseRuleSetSource(new TextDecoder().decode(bytes), name);
  for (const w of parsed.warnings) console.error(`warning: ${w.format()}`);
  if (!parsed.set) throw new RuleSetLoadError(parsed.errors.map((e) => e.format()).join("\n"));
  return parsed.set;
}

function replaceExtension(path: string, from: string, to: string): string {
  return path.endsWith(from) ? path.slice(0, -from.length) + to : path + to;
}

/** Runs `tunbox rule-set ...`. Returns the exit status. */
export async function ruleSetCommand(c: RuleSetCommand): Promise<number> {
  try {
    switch (c.sub) {
      case "compile":
        return await compile(c);
      case "decompile":
        return await decompile(c);
      case "format":
        return await format(c);
      case "upgrade":
        return await upgrade(c);
      case "match":
        return await match(c);
      case "merge":
        return await merge(c);
      case "convert":
        return await convert(c);
      default:
        return fail(
          `unknown subcommand ${JSON.stringify(c.sub)}; one of: ${RULE_SET_USAGE.join("; ")}`,
        );
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return fail(`${e.message}`);
    return fail(e instanceof Error ? e.message : String(e));
  }
}

async function compile(c: RuleSetCommand): Promise<number> {
  const [path] = c.args;
  if (!path) return fail("compile needs a source file");
  const set = parseSource(await readInput(path), path);
  const out = c.output ?? replaceExtension(path, ".json", ".srs");
  const bytes = writeSrs(set.rules, downgradeVersion(set.version, set.rules));
  await Deno.writeFile(out, bytes);
  return 0;
}

async function decompile(c: RuleSetCommand): Promise<number> {
  const [path] = c.args;
  if (!path) return fail("decompile needs a binary rule-set file");
  const set = readSrs(await readInput(path));
  let adguard = false;
  const rules = recoverLists(set.rules, () => adguard = true);
  if (adguard) return fail("unable to decompile binary AdGuard rules to rule-set.");
  const out = c.output ?? replaceExtension(path, ".srs", ".json");
  await Deno.writeTextFile(out, formatRuleSetSource({ version: set.version, rules }));
  return 0;
}

async function format(c: RuleSetCommand): Promise<number> {
  const [path] = c.args;
  if (!path) return fail("format needs a source file");
  const original = await readInput(path);
  const text = formatRuleSetSource(parseSource(original, path));
  if (!c.write || path === "stdin") {
    console.log(text);
    return 0;
  }
  if (new TextDecoder().decode(original) === text) return 0;
  await Deno.writeTextFile(path, text);
  console.error(await Deno.realPath(path));
  return 0;
}

async function upgrade(c: RuleSetCommand): Promise<number> {
  const [path] = c.args;
  if (!path) return fail("upgrade needs a source file");
  const original = await readInput(path);
  const set = parseSource(original, path);
  if (set.version !== 1) {
    console.error(`${path}: already up-to-date (version ${set.version})`);
    return 0;
  }
  const text = formatRuleSetSource({ version: RULE_SET_VERSION_CURRENT, rules: set.rules });
  if (!c.write || path === "stdin") {
    console.log(text);
    return 0;
  }
  await Deno.writeTextFile(path, text);
  console.error(await Deno.realPath(path));
  return 0;
}

async function match(c: RuleSetCommand): Promise<number> {
  const [path, target] = c.args;
  if (!path || !target) return fail("match needs a rule-set file and an IP address or domain");
  const bytes = await readInput(path);
  const fmt = c.format ?? (path.endsWith(".srs") || isSrs(bytes) ? "binary" : "source");
  let rules: RuleSetRule[];
  if (fmt === "binary") rules = readSrs(bytes).rules;
  else if (fmt === "source") rules = parseSource(bytes, path).rules;
  else return fail(`unknown rule-set format: ${fmt}`);
  const compiled = compileRuleSet(rules, "rules");
  const addr = parseIp(target.replace(/^\[|\]$/g, ""));
  const meta = newConnMetadata({
    id: 0,
    inbound: "",
    inboundType: "",
    network: "tcp",
    source: { addr: new Uint8Array(0), port: 0 },
    destination: addr ? { addr, port: 0 } : { addr: new Uint8Array(0), port: 0 },
  });
  if (!addr) meta.domain = target;
  const st = new MatchState();
  compiled.rules.forEach((r, i) => {
    st.reset();
    if (r.match(meta, st)) console.log(`match rules.[${i}]: ${r.conditionText}`);
  });
  return 0;
}

async function merge(c: RuleSetCommand): Promise<number> {
  const [out] = c.args;
  if (!out) return fail("merge needs an output path");
  const inputs: { path: string; text: string }[] = [];
  for (const p of c.configs) {
    inputs.push({ path: p, text: new TextDecoder().decode(await readInput(p)) });
  }
  for (const dir of c.directories) {
    const names: string[] = [];
    for await (const e of Deno.readDir(dir)) {
      if (!e.isDirectory && e.name.endsWith(".json")) names.push(e.name);
    }
    for (const n of names) {
      const p = `${dir.replace(/\/+$/, "")}/${n}`;
      inputs.push({ path: p, text: await Deno.readTextFile(p) });
    }
  }
  if (inputs.length === 0) return fail("merge needs input files (-c file.json, -C directory)");
  const merged = mergeRuleSetSources(inputs);
  const text = formatRuleSetSource(merged);
  try {
    if ((await Deno.readTextFile(out)) === text) return 0;
  } catch {
    // no such file yet
  }
  const slash = out.lastIndexOf("/");
  if (slash > 0) await Deno.mkdir(out.slice(0, slash), { recursive: true });
  await Deno.writeTextFile(out, text);
  console.error(await Deno.realPath(out));
  return 0;
}

async function convert(c: RuleSetCommand): Promise<number> {
  const [path] = c.args;
  if (!path) return fail("convert needs an input file");
  if (!c.type) return fail(`source type is required (-t ${CONVERT_TYPES.join("|")})`);
  if (!(CONVERT_TYPES as readonly string[]).includes(c.type)) {
    return fail(`unsupported source type: ${c.type} (one of ${CONVERT_TYPES.join(", ")})`);
  }
  const outputs = convertInput(c.type as ConvertType, await readInput(path), {
    ...(c.category ? { category: c.category } : {}),
    onWarning: (w) => console.error(`warning: ${w}`),
  });
  for (const o of outputs) {
    const name = c.output !== undefined && outputs.length === 1
      ? c.output
      : c.output !== undefined
      ? `${c.output.replace(/\/+$/, "")}/${o.name}.srs`
      : o.name === ""
      ? replaceExtension(path, ".txt", ".srs")
      : `${o.name}.srs`;
    if (name.endsWith(".json")) {
      let adguard = false;
      const rules = recoverLists(o.rules, () => adguard = true);
      if (adguard) return fail(`${name}: AdGuard rules have no source form; write a .srs file`);
      await Deno.writeTextFile(name, formatRuleSetSource({ version: o.version, rules }));
    } else {
      await Deno.writeFile(name, writeSrs(o.rules, o.version));
    }
    console.error(`${name}: ${o.summary}`);
  }
  return 0;
}
