/**
 * The web UI at `/ui/`: the files of `external_ui` (a directory, as sing-box serves it), or
 * tunbox's built-in dashboard (`src/api/dashboard/`), which `deno compile` embeds in the binary
 * (the files are named with `new URL(..., import.meta.url)`, so `scripts/compile.ts` includes
 * them).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";

const log = getLogger(["tunbox", "api"]);

/** The built-in dashboard's files, by path under `/ui/`. */
export const DASHBOARD_FILES: Readonly<Record<string, URL>> = {
  "index.html": new URL("./dashboard/index.html", import.meta.url),
  "app.js": new URL("./dashboard/app.js", import.meta.url),
  "style.css": new URL("./dashboard/style.css", import.meta.url),
  "icon.svg": new URL("./dashboard/icon.svg", import.meta.url),
};

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  ico: "image/x-icon",
  woff: "font/woff",
  woff2: "font/woff2",
  ttf: "font/ttf",
  txt: "text/plain; charset=utf-8",
  map: "application/json; charset=utf-8",
  webmanifest: "application/manifest+json",
  wasm: "application/wasm",
};

/** The content type for a file name. */
export function contentType(name: string): string {
  const dot = name.lastIndexOf(".");
  return TYPES[name.slice(dot + 1).toLowerCase()] ?? "application/octet-stream";
}

/**
 * The path under the UI root for a request path below `/ui/`, or null when it leaves the root
 * (`..`), is malformed, or names a hidden file.
 */
export function uiPath(rest: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rest);
  } catch {
    return null;
  }
  if (decoded.includes("\0") || decoded.includes("\\")) return null;
  const parts = decoded.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.some((p) => p === ".." || p.startsWith("."))) return null;
  return parts.join("/");
}

/** Serves `/ui/...` from a directory or the built-in dashboard. */
export class UiFiles {
  readonly #dir: string | null;
  readonly #cache = new Map<string, Uint8Array>();

  /** `dir`: `external_ui` resolved against the working directory, or null for the built-in. */
  constructor(dir: string | null) {
    this.#dir = dir;
  }

  /**
   * Picks the UI: `external_ui` when its directory has files, else the built-in dashboard (with
   * a warning saying why).
   */
  static forOption(externalUi: string | undefined, workingDirectory: string): UiFiles {
    if (!externalUi) return new UiFiles(null);
    const dir = externalUi.startsWith("/") ? externalUi : `${workingDirectory}/${externalUi}`;
    try {
      let any = false;
      for (const _ of Deno.readDirSync(dir)) {
        any = true;
        break;
      }
      if (any) return new UiFiles(dir);
      log.warn(
        "clash-api: external_ui directory {dir} is empty; tunbox does not download dashboards (external_ui_download_url): put the files there. Serving the built-in dashboard",
        { dir },
      );
    } catch (error) {
      log.warn("clash-api: external_ui directory {dir}: {error}; serving the built-in dashboard", {
        dir,
        error: error instanceof Error ? error.message : String(error),
      });
    }
    return new UiFiles(null);
  }

  /** Whether files come from `external_ui`. */
  get external(): boolean {
    return this.#dir !== null;
  }

  /** The answer for the path below `/ui/` (`""` is the index). */
  async serve(rest: string, method: string): Promise<Response> {
    if (method !== "GET" && method !== "HEAD") {
      return new Response("Method Not Allowed", { status: 405 });
    }
    const path = uiPath(rest);
    if (path === null) return new Response("Not Found", { status: 404 });
    const bytes = await this.#read(path === "" ? "index.html" : path);
    if (bytes === null) return new Response("Not Found", { status: 404 });
    const name = path === "" ? "index.html" : path;
    return new Response(method === "HEAD" ? null : bytes as Uint8Array<ArrayBuffer>, {
      headers: {
        "content-type": contentType(name),
        "cache-control": this.#dir === null ? "no-cache" : "public, max-age=300",
        "x-content-type-options": "nosniff",
      },
    });
  }

  async #read(path: string): Promise<Uint8Array | null> {
    if (this.#dir === null) {
      const url = DASHBOARD_FILES[path];
      if (!url) return null;
      let bytes = this.#cache.get(path);
      if (!bytes) {
        bytes = await Deno.readFile(url);
        this.#cache.set(path, bytes);
      }
      return bytes;
    }
    const file = `${this.#dir}/${path}`;
    try {
      const info = await Deno.stat(file);
      if (info.isDirectory) return await this.#read(`${path}/index.html`);
      return await Deno.readFile(file);
    } catch {
      return null;
    }
  }
}
