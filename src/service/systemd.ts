/**
 * The systemd unit for `tunbox service install` on Linux (pure text generation).
 *
 * The unit runs `tunbox run -c /etc/tunbox/config.json` after the network is online, reloads it
 * with SIGHUP (`systemctl reload tunbox`; a bad config is reported and the running one kept),
 * removes leftovers with `tunbox cleanup` after every stop, restarts it on failure, and bounds
 * its capabilities to the three it needs.
 *
 * @module
 */

import { CONFIG_DIR, CONFIG_PATH } from "./layout.ts";
import { type Program, programArgv } from "./program.ts";

/** The capabilities the service keeps (bounding set) and gets (ambient set). */
export const SERVICE_CAPABILITIES = "CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE";

/** The service's open-files limit (systemd's own default hard limit since v240). */
export const SERVICE_NOFILE = 524288;

const PLAIN = /^[A-Za-z0-9_@+=:,./-]+$/;

function escapeQuoted(s: string): string {
  return s.replace(/[\\"]/g, (c) => `\\${c}`).replace(/\n/g, "\\n").replace(/\t/g, "\\t");
}

/**
 * One argument of an `Exec*=` line: `%` and `$` doubled (no specifier or variable expansion),
 * double-quoted with C escapes when it holds anything but plain path characters. The
 * executable (`first`) gets no `$` doubling: systemd expands variables in arguments only.
 */
export function systemdExecArg(arg: string, first = false): string {
  const s = arg.replace(first ? /%/g : /[%$]/g, (c) => c + c);
  return PLAIN.test(s) && s !== "" ? s : `"${escapeQuoted(s)}"`;
}

/** An `Exec*=` command line; the executable must be an absolute path. */
export function systemdCommandLine(argv: readonly string[]): string {
  const exe = argv[0];
  if (exe === undefined || !exe.startsWith("/")) {
    throw new RangeError(`systemd needs an absolute executable path, got ${JSON.stringify(exe)}`);
  }
  return argv.map((a, i) => systemdExecArg(a, i === 0)).join(" ");
}

/** One `Environment=` assignment, quoted when needed (`%` doubled). */
export function systemdEnvironment(name: string, value: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw new RangeError(`Invalid environment variable name ${JSON.stringify(name)}`);
  }
  const s = `${name}=${value}`.replace(/%/g, "%%");
  return PLAIN.test(s) ? s : `"${escapeQuoted(s)}"`;
}

/** The unit file text for running `program` as the tunbox service. */
export function systemdUnit(program: Program): string {
  const config = ["-c", CONFIG_PATH];
  const lines = [
    '# Written by "tunbox service install"; remove it with "tunbox service uninstall".',
    "[Unit]",
    "Description=tunbox transparent proxy (TUN)",
    "After=network-online.target",
    "Wants=network-online.target",
    "",
    "[Service]",
    "Type=exec",
    `WorkingDirectory=${CONFIG_DIR}`,
    ...Object.entries(program.env).map(([k, v]) => `Environment=${systemdEnvironment(k, v)}`),
    `ExecStart=${systemdCommandLine(programArgv(program, ["run", ...config]))}`,
    // tunbox reloads its configuration on SIGHUP and keeps the old one when the new has errors.
    "ExecReload=/bin/kill -HUP $MAINPID",
    // "-": a cleanup that finds a broken config must not mark the stop as failed.
    `ExecStopPost=-${systemdCommandLine(programArgv(program, ["cleanup", ...config]))}`,
    "Restart=on-failure",
    "RestartSec=2s",
    "TimeoutStopSec=15s",
    `CapabilityBoundingSet=${SERVICE_CAPABILITIES}`,
    `AmbientCapabilities=${SERVICE_CAPABILITIES}`,
    "NoNewPrivileges=yes",
    `LimitNOFILE=${SERVICE_NOFILE}`,
    "",
    "[Install]",
    "WantedBy=multi-user.target",
  ];
  return lines.join("\n") + "\n";
}
