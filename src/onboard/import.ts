/**
 * `tunbox import`: reads a proxy client's config (V2Ray/Xray JSON v4 or v5, V2rayU's config,
 * Clash/mihomo YAML, ss-local JSON), converts it with the matching importer and writes a
 * commented tunbox (sing-box) config. With `tun`, the safe TUN setup of `tunbox init` is added
 * in front of the converted rules.
 *
 * @module
 */

import { parse as parseJsonc, type ParseError, printParseErrorCode } from "jsonc-parser";
import { type Imported, ImportError, type RemoteServer } from "./convert.ts";
import { importClash, parseYaml } from "./import_clash.ts";
import { importSsLocal, isSsLocalConfig } from "./import_sslocal.ts";
import { importV2ray, isV2rayConfig } from "./import_v2ray.ts";
import { commented, type Jsonc, stripComments, writeJsonc } from "./jsonc_writer.ts";
import { type ExcludedServer, proxiedDns, tunInbound, tunRules } from "./tun_profile.ts";

export { type Imported, ImportError };

type O = Record<string, unknown>;

/** Parses and converts a client config's text; throws {@linkcode ImportError}. */
export function importText(text: string): Imported {
  const trimmed = text.replace(/^\uFEFF/, "").trimStart();
  if (trimmed.startsWith("{")) {
    const errors: ParseError[] = [];
    const root = parseJsonc(trimmed, errors, { allowTrailingComma: true });
    if (errors.length > 0) {
      const e = errors[0]!;
      const before = trimmed.slice(0, e.offset).split("\n");
      throw new ImportError(
        `not valid JSON: line ${before.length}, column ${before[before.length - 1]!.length + 1}: ${
          printParseErrorCode(e.error)
        }`,
      );
    }
    if (root === null || typeof root !== "object" || Array.isArray(root)) {
      throw new ImportError("not a config: the JSON is not an object");
    }
    const r = root as O;
    const typed = (k: string) =>
      Array.isArray(r[k]) &&
      (r[k] as O[]).some((x) => x !== null && typeof x === "object" && "type" in x);
    if ("route" in r || typed("inbounds") || typed("outbounds")) {
      throw new ImportError(
        "this looks like a sing-box config already: run it with tunbox as it is (tunbox check -c FILE)",
      );
    }
    if (isSsLocalConfig(root as O) && !isV2rayConfig(root as O)) return importSsLocal(root as O);
    if (isV2rayConfig(root as O)) return importV2ray(root as O);
    throw new ImportError(
      "not a config tunbox can import (V2Ray/Xray, V2rayU, Clash/mihomo, ss-local)",
    );
  }
  return importClash(parseYaml(text));
}

/** What the TUN setup needs when `import --tun` adds it. */
export interface TunAddition {
  os: "linux" | "darwin";
  /** The imported servers with their addresses (names resolved by the caller). */
  servers: ExcludedServer[];
  /** Date of the resolution, for the comments (YYYY-MM-DD). */
  date: string;
}

/** The servers of an import whose addresses must stay out of the TUN. */
export function serversToExclude(imported: Imported): RemoteServer[] {
  return imported.servers;
}

/** Writes the converted config as commented JSONC. */
export function renderImport(
  imported: Imported,
  source: string,
  date: string,
  tun?: TunAddition,
): string {
  const c = { ...imported.config };
  if (tun) addTun(c, imported, tun);
  const order = ["log", "dns", "inbounds", "outbounds", "route", "experimental"];
  const out: Record<string, Jsonc> = {};
  for (const k of order) if (k in c) out[k] = c[k]!;
  for (const [k, v] of Object.entries(c)) if (!(k in out)) out[k] = v;
  const header = [
    `Converted by \`tunbox import\` from ${source} (${imported.format}) on ${date}.`,
    imported.dropped.length === 0
      ? "Everything in it was converted."
      : `${imported.dropped.length} part(s) could not be converted: see the comments saying "not converted".`,
    "Check it with `tunbox check -c <this file>`.",
  ];
  return writeJsonc(out, header);
}

function addTun(c: Record<string, Jsonc>, imported: Imported, tun: TunAddition): void {
  const inbounds = Array.isArray(c.inbounds) ? [...c.inbounds] : [];
  if (!inbounds.some((i) => typeof i === "object" && i !== null && (i as O).type === "tun")) {
    inbounds.unshift(tunInbound(tun.os, tun.servers));
  }
  c.inbounds = inbounds;
  const route = { ...(c.route as Record<string, Jsonc>) };
  const outbounds = c.outbounds as Jsonc[];
  let direct = outbounds.map((o) => stripComments(o) as O).find((o) => o?.type === "direct")
    ?.tag as string | undefined;
  if (!direct) {
    direct = "direct";
    outbounds.push({ type: "direct", tag: direct });
  }
  route.rules = [...tunRules(direct, tun.servers, tun.date), ...(route.rules as Jsonc[] ?? [])];
  route.auto_detect_interface = commented(true, [
    "Direct connections (and tunbox's own, to the proxy server) leave through the real interface.",
  ]);
  c.route = route;
  if (!c.dns && imported.proxyTag) c.dns = proxiedDns(imported.proxyTag, "1.1.1.1", true);
}
