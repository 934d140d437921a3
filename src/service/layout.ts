/**
 * Where the installed service lives on each OS: one config file under `/etc/tunbox/`, a
 * systemd unit on Linux, a launchd daemon plist on macOS.
 *
 * @module
 */

/** The operating systems `tunbox service` supports. */
export type ServiceOs = "linux" | "darwin";

/** The directory holding the service's configuration (kept by uninstall unless purged). */
export const CONFIG_DIR = "/etc/tunbox";

/** The configuration the service runs with. */
export const CONFIG_PATH = "/etc/tunbox/config.json";

/** The systemd unit name. */
export const SYSTEMD_UNIT = "tunbox.service";

/** The systemd unit file. */
export const SYSTEMD_UNIT_PATH = "/etc/systemd/system/tunbox.service";

/** The launchd job label. */
export const LAUNCHD_LABEL = "com.tunbox.tunbox";

/** The launchd daemon plist. */
export const LAUNCHD_PLIST_PATH = "/Library/LaunchDaemons/com.tunbox.tunbox.plist";

/** The launchd service target (`launchctl print`, `bootout`, `enable`). */
export const LAUNCHD_TARGET = "system/com.tunbox.tunbox";

/** Where launchd writes the daemon's stdout and stderr. */
export const LAUNCHD_LOG_PATH = "/var/log/tunbox.log";

/** The service definition file for `os`. */
export function serviceFilePath(os: ServiceOs): string {
  return os === "linux" ? SYSTEMD_UNIT_PATH : LAUNCHD_PLIST_PATH;
}
