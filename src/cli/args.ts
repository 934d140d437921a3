/**
 * Command-line parsing with `node:util` `parseArgs`: sing-box's global flags (`-c`, `-C`, `-D`,
 * `--disable-color`) anywhere on the line, one command, and each command's own flags.
 *
 * @module
 */

import { parseArgs } from "node:util";

/** A usage mistake: reported with a hint to `--help`, exit status 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Flags every command accepts. */
export interface GlobalFlags {
  /** `-c/--config`, repeatable; `stdin` reads standard input. */
  configs: string[];
  /** `-C/--config-directory`, repeatable. */
  configDirectories: string[];
  /** `-D/--directory`: working directory (created if missing). */
  directory?: string;
  disableColor: boolean;
}

/** One command's description for help and parsing. */
export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  /** Extra help lines (flags and notes). */
  details: string[];
  /** Long names of the command's own flags. */
  flags: string[];
  /** How many positional arguments: exact count, or "any". */
  positionals: number | "any";
  /** Whether the command reads a configuration (and so uses -c/-C). */
  readsConfig: boolean;
}

/** Every command, in help order. */
const DEMO_SUMMARY = "Run tunbox in throwaway network namespaces with real traffic (Linux, root)";

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: "run",
    summary: "Run the proxy",
    usage: "tunbox run [flags] [config.json ...]",
    details: [
      "Config files may also be given as arguments (tunbox run config.json).",
      "SIGHUP reloads the configuration; SIGINT/SIGTERM stop (a second signal forces exit).",
      "      --dry-run         print what would be set up, change nothing",
    ],
    flags: ["dry-run"],
    positionals: "any",
    readsConfig: true,
  },
  {
    name: "check",
    summary: "Check the configuration and report every problem",
    usage: "tunbox check [flags]",
    details: ["Exit status 0 when the configuration loads (warnings allowed), 2 on errors."],
    flags: [],
    positionals: 0,
    readsConfig: true,
  },
  {
    name: "format",
    summary: "Pretty-print configuration files, keeping comments",
    usage: "tunbox format [-w] [flags]",
    details: ["  -w, --write           write the result back to each file instead of stdout"],
    flags: ["write"],
    positionals: 0,
    readsConfig: true,
  },
  {
    name: "merge",
    summary: "Merge the configuration sources into one JSON file",
    usage: "tunbox merge <output> [flags]",
    details: ["Sources are merged as sing-box does; comments are not kept."],
    flags: [],
    positionals: 1,
    readsConfig: true,
  },
  {
    name: "init",
    summary: "Find the local proxy and write a safe TUN config for this machine",
    usage: "tunbox init [--print] [--force] [--proxy host:port] [--dns ip] [-c config.json]",
    details: [
      "Probes SOCKS5/HTTP proxies on the usual local ports (1080, 7890, 10808, ...), reads the",
      "running client's config (V2rayU, V2Ray/Xray, Clash/mihomo, ss-local) for the proxy",
      "server's address, and writes a commented config (default config.json; -c names it).",
      "      --print           write the config to standard output instead",
      "      --force           overwrite an existing file",
      "      --proxy <h:p>     use this proxy instead of probing (e.g. 127.0.0.1:1080)",
      "      --dns <ip>        DNS server queried through the proxy (default 1.1.1.1)",
    ],
    flags: ["print", "force", "proxy", "dns"],
    positionals: 0,
    readsConfig: false,
  },
  {
    name: "import",
    summary: "Convert a V2Ray/Xray, V2rayU, Clash/mihomo or ss-local config",
    usage: "tunbox import <file> [--tun] [--print] [--force] [-c config.json]",
    details: [
      "Writes a commented tunbox config of the same shape (default config.json; -c names it);",
      "every part that cannot be converted becomes a comment saying why.",
      "      --tun             add a TUN inbound with the safe setup of `tunbox init`",
      "      --print           write the config to standard output instead",
      "      --force           overwrite an existing file",
    ],
    flags: ["tun", "print", "force"],
    positionals: 1,
    readsConfig: false,
  },
  {
    name: "doctor",
    summary: "Check this machine and the configuration, with a fix for each problem",
    usage: "tunbox doctor [-c config.json] [--json]",
    details: [
      "Live checks: privileges, the proxy outbounds and their UDP, loops, DNS capture and leaks,",
      "IPv6, rules that never match, other VPNs' routes and rules, stale tunbox rules.",
      "Exit status 0 when nothing failed, 1 otherwise.",
      "      --json            one JSON object for scripts",
    ],
    flags: ["json"],
    positionals: 0,
    readsConfig: true,
  },
  {
    name: "explain",
    summary: "Show which rule, outbound and DNS server a connection would get",
    usage:
      "tunbox explain <destination> [--domain name] [--port n] [--udp] [--process name] [-c config.json]",
    details: [
      "<destination> is an IP address, a domain (resolved now) or a URL. Each rule is tried in",
      "order with why it matched or not, as the router evaluates it.",
      "      --domain <name>   the name sniffing would find (TLS SNI, HTTP Host)",
      "      --port <n>        destination port (default: from the URL, else 443)",
      "      --udp             a UDP flow (QUIC on 443, DNS on 53)",
      "      --process <name>  the process (process rules never match in tunbox; shown as such)",
      "      --inbound <tag>   the inbound the flow arrives on (default: the first tun inbound)",
      "      --json            one JSON object",
    ],
    flags: ["domain", "port", "udp", "process", "inbound", "json"],
    positionals: 1,
    readsConfig: true,
  },
  {
    name: "rule-set",
    summary: "Compile, decompile, format, upgrade, match, merge and convert rule-sets",
    usage:
      "tunbox rule-set <compile|decompile|format|upgrade|match|merge|convert> [flags] <file> ...",
    details: [
      "  tunbox rule-set compile [-o out.srs] <source.json>     source to binary (.srs)",
      "  tunbox rule-set decompile [-o out.json] <file.srs>     binary to source",
      "  tunbox rule-set format [-w] <source.json>              sing-box's form, to stdout or -w",
      "  tunbox rule-set upgrade [-w] <source.json>             version 1 source to the current",
      "  tunbox rule-set match [-f source|binary] <rule-set> <IP|domain>",
      "  tunbox rule-set merge <out.json> -c <a.json> [-c <b.json>] [-C <dir>]",
      "  tunbox rule-set convert -t <type> [--category code] [-o out] <input>",
      "      types: adguard (AdGuard DNS filter), geosite (sing-box geosite.db), geoip (MaxMind",
      "      DB: geoip.db, GeoLite2-Country.mmdb), domains (one per line: example.com, full:x,",
      "      .x, keyword:x, regexp:x, Clash DOMAIN-* lines), cidrs (one CIDR or address per line);",
      "      geosite and geoip write geosite-<code>.srs/geoip-<code>.srs for every code (or",
      "      --category's), -o ending in .json writes source, -o a directory for many sets",
      '  "stdin" as a file reads standard input.',
    ],
    flags: ["output", "write", "format", "type", "category"],
    positionals: "any",
    readsConfig: false,
  },
  {
    name: "connections",
    summary: "Show a running tunbox's live connections, like top",
    usage: "tunbox connections [--api host:port] [--secret s] [--once] [--json] [-c config.json]",
    details: [
      "Reads the Clash API of the running instance (experimental.clash_api in the config, or",
      "--api); one line per connection with its rule, outbound chain, speeds and totals, the",
      "busiest first, redrawn every second. q quits.",
      "      --api <h:p>       the API address (default: external_controller of the config)",
      "      --secret <s>      the API secret (default: the config's)",
      "      --once            print one table and exit (also when stdout is not a terminal)",
      "      --json            print the /connections snapshot as JSON",
    ],
    flags: ["api", "secret", "once", "json"],
    positionals: 0,
    readsConfig: true,
  },
  {
    name: "version",
    summary: "Print the version and environment",
    usage: "tunbox version [-n]",
    details: ["  -n, --name-only       print the version number only"],
    flags: ["name-only"],
    positionals: 0,
    readsConfig: false,
  },
  {
    name: "cleanup",
    summary: "Remove TUN devices, routes and rules left behind by a crashed run",
    usage: "tunbox cleanup [flags]",
    details: [],
    flags: [],
    positionals: 0,
    readsConfig: true,
  },
  {
    name: "service",
    summary: "Install, uninstall or show tunbox as a system service (systemd, launchd)",
    usage: "tunbox service install -c config.json | uninstall [--purge] | status [--dry-run]",
    details: [
      "install copies the configuration (-c, checked first) to /etc/tunbox/config.json and",
      "installs and starts a systemd unit (Linux) or launchd daemon (macOS); needs root.",
      "      --dry-run         print the files and commands, change nothing",
      "      --purge           uninstall: also remove /etc/tunbox",
    ],
    flags: ["dry-run", "purge"],
    positionals: 1,
    readsConfig: false,
  },
];

const OPTIONS = {
  config: { type: "string", short: "c", multiple: true },
  "config-directory": { type: "string", short: "C", multiple: true },
  directory: { type: "string", short: "D" },
  "disable-color": { type: "boolean" },
  help: { type: "boolean", short: "h" },
  "dry-run": { type: "boolean" },
  purge: { type: "boolean" },
  write: { type: "boolean", short: "w" },
  "name-only": { type: "boolean", short: "n" },
  print: { type: "boolean" },
  force: { type: "boolean" },
  tun: { type: "boolean" },
  json: { type: "boolean" },
  udp: { type: "boolean" },
  proxy: { type: "string" },
  dns: { type: "string" },
  domain: { type: "string" },
  port: { type: "string" },
  process: { type: "string" },
  inbound: { type: "string" },
  output: { type: "string", short: "o" },
  format: { type: "string", short: "f" },
  type: { type: "string", short: "t" },
  category: { type: "string" },
  api: { type: "string" },
  secret: { type: "string" },
  once: { type: "boolean" },
} as const;

const GLOBAL_FLAGS = new Set(["config", "config-directory", "directory", "disable-color", "help"]);

const GLOBAL_HELP = [
  '  -c, --config <file>             configuration file (repeatable; "stdin" reads standard input;',
  "                                  default config.json)",
  "  -C, --config-directory <dir>    every *.json/*.jsonc in <dir>, in name order (repeatable)",
  "  -D, --directory <dir>           working directory (created if missing)",
  "      --disable-color             no colors in output",
  "  -h, --help                      help",
];

/** The top-level help text. */
export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    "tunbox: a TUN-mode transparent proxy configured with sing-box's config format",
    "",
    "Usage: tunbox <command> [flags]",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    // `demo` is dispatched before this parser (src/cli/demo.ts) but belongs in the list.
    `  ${"demo".padEnd(width)}  ${DEMO_SUMMARY}`,
    "",
    "Global flags:",
    ...GLOBAL_HELP,
    "",
    'Run "tunbox <command> --help" for a command\'s own flags.',
  ].join("\n");
}

/** Help for one command. */
export function commandHelp(spec: CommandSpec): string {
  return [
    `${spec.summary}.`,
    "",
    `Usage: ${spec.usage}`,
    ...(spec.details.length > 0 ? ["", ...spec.details] : []),
    "",
    "Global flags:",
    ...GLOBAL_HELP,
  ].join("\n");
}

/** The parsed command line. */
export interface CommandLine {
  /** Undefined when only global flags (or nothing) were given. */
  command?: CommandSpec;
  global: GlobalFlags;
  /** The command's own flags that were set. */
  flags: Set<string>;
  /** Values of the command's own string flags (`--domain example.com`). */
  values: Map<string, string>;
  positionals: string[];
  help: boolean;
}

function parseError(e: unknown): UsageError {
  const msg = e instanceof Error ? e.message : String(e);
  // Node's messages end with advice about "--"; keep the first sentence.
  const first = msg.split(". ")[0]!.replace(/\.$/, "");
  return new UsageError(
    first.replace(/^Unknown option/, "unknown flag").replace(/^Option/, "flag"),
  );
}

/** Parses `args` (without the program name). Throws {@linkcode UsageError}. */
export function parseCommandLine(args: readonly string[]): CommandLine {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      options: OPTIONS,
      allowPositionals: true,
      strict: true,
      tokens: true,
    });
  } catch (e) {
    throw parseError(e);
  }
  const { values, positionals, tokens } = parsed;
  const global: GlobalFlags = {
    configs: values.config ?? [],
    configDirectories: values["config-directory"] ?? [],
    disableColor: values["disable-color"] === true,
  };
  if (values.directory !== undefined) global.directory = values.directory;
  const help = values.help === true;
  const [name, ...rest] = positionals;
  if (name === undefined || (name === "help" && rest.length === 0)) {
    return { global, flags: new Set(), values: new Map(), positionals: [], help: true };
  }
  const lookup = name === "help" ? rest[0]! : name;
  const command = COMMANDS.find((c) => c.name === lookup);
  if (!command) throw new UsageError(`unknown command ${JSON.stringify(lookup)}`);
  if (name === "help") {
    return { command, global, flags: new Set(), values: new Map(), positionals: [], help: true };
  }
  const flags = new Set<string>();
  const strings = new Map<string, string>();
  for (const t of tokens) {
    if (t.kind !== "option") continue;
    if (GLOBAL_FLAGS.has(t.name)) continue;
    if (!command.flags.includes(t.name)) {
      throw new UsageError(`unknown flag ${t.rawName} for command "${command.name}"`);
    }
    flags.add(t.name);
    if (typeof t.value === "string") strings.set(t.name, t.value);
  }
  if (!help) {
    if (command.positionals !== "any" && rest.length !== command.positionals) {
      if (rest.length > command.positionals) {
        throw new UsageError(
          `unexpected argument ${JSON.stringify(rest[command.positionals])} for "${command.name}"`,
        );
      }
      throw new UsageError(
        `"${command.name}" needs ${command.positionals} argument(s): ${command.usage}`,
      );
    }
  }
  return { command, global, flags, values: strings, positionals: rest, help };
}
