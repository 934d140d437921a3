/**
 * HTTP pieces of the Clash API: JSON answers with sing-box's error bodies, the secret check
 * (constant time), CORS as sing-box's `rs/cors` setup answers it, and streams that are a
 * WebSocket when the client asks for one and newline-delimited JSON over a chunked response
 * otherwise (as sing-box serves `/traffic`, `/memory`, `/logs`).
 *
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";
import type { ClashApiOptions } from "../config/types.ts";

/** sing-box's error bodies. */
export const ERRORS = {
  unauthorized: "Unauthorized",
  badRequest: "Body invalid",
  notFound: "Resource not found",
  timeout: "Timeout",
} as const;

/** A JSON answer. */
export function json(body: unknown, status = 200, headers: HeadersInit = {}): Response {
  const h = new Headers(headers);
  h.set("content-type", "application/json; charset=utf-8");
  return new Response(JSON.stringify(body), { status, headers: h });
}

/** `{"message": ...}` with `status`. */
export function error(status: number, message: string): Response {
  return json({ message }, status);
}

/** 204 No Content. */
export function noContent(): Response {
  return new Response(null, { status: 204 });
}

function digest(text: string): Uint8Array {
  return createHash("sha256").update(text).digest();
}

/** Compares two secrets in constant time (their SHA-256 digests, so lengths do not leak). */
export function sameSecret(given: string, secret: string): boolean {
  return timingSafeEqual(digest(given), digest(secret));
}

/** True when the request asks to become a WebSocket. */
export function wantsWebSocket(req: Request): boolean {
  return (req.headers.get("upgrade") ?? "").toLowerCase() === "websocket";
}

/**
 * sing-box's authentication: with a secret, a WebSocket request may carry it as `?token=`
 * (browsers cannot set headers on WebSockets); anything else needs `Authorization: Bearer
 * <secret>`. Returns true when the request may pass.
 */
export function authorized(req: Request, url: URL, secret: string | undefined): boolean {
  if (!secret) return true;
  const token = url.searchParams.get("token");
  if (wantsWebSocket(req) && token) return sameSecret(token, secret);
  const header = req.headers.get("authorization") ?? "";
  const space = header.indexOf(" ");
  if (space < 0 || header.slice(0, space) !== "Bearer") return false;
  return sameSecret(header.slice(space + 1), secret);
}

const ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE";
const ALLOWED_HEADERS = ["content-type", "authorization"];

/** CORS for one API (`access_control_allow_origin`, `access_control_allow_private_network`). */
export class Cors {
  readonly #origins: string[];
  readonly #any: boolean;

  constructor(
    readonly options: Pick<
      ClashApiOptions,
      "access_control_allow_origin" | "access_control_allow_private_network"
    >,
  ) {
    this.#origins = options.access_control_allow_origin.length > 0
      ? options.access_control_allow_origin
      : ["*"];
    this.#any = this.#origins.includes("*");
  }

  /** The allowed origin to answer with, or null. */
  #allow(origin: string | null): string | null {
    if (origin === null) return this.#any ? "*" : null;
    if (this.#any) return "*";
    return this.#origins.includes(origin) ? origin : null;
  }

  /**
   * Adds the CORS headers for a request from `origin` (read before the request is handled: a
   * WebSocket upgrade closes the request) to `res`.
   */
  apply(origin: string | null, res: Response): Response {
    const allow = this.#allow(origin);
    if (allow === null || res.status === 101) return res;
    try {
      res.headers.set("access-control-allow-origin", allow);
      if (allow !== "*") res.headers.append("vary", "Origin");
    } catch {
      // Immutable headers (a Response.redirect): leave them.
    }
    return res;
  }

  /** The answer to a preflight (`OPTIONS` with `Access-Control-Request-Method`). */
  preflight(req: Request): Response {
    const h = new Headers({
      vary: "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
    });
    const allow = this.#allow(req.headers.get("origin"));
    if (allow !== null) {
      h.set("access-control-allow-origin", allow);
      h.set("access-control-allow-methods", ALLOWED_METHODS);
      const asked = (req.headers.get("access-control-request-headers") ?? "")
        .split(",").map((s) => s.trim().toLowerCase()).filter((s) => s !== "");
      const headers = asked.filter((x) => ALLOWED_HEADERS.includes(x));
      h.set(
        "access-control-allow-headers",
        headers.length > 0 ? headers.join(", ") : "Content-Type, Authorization",
      );
      h.set("access-control-max-age", "300");
      if (
        this.options.access_control_allow_private_network &&
        req.headers.get("access-control-request-private-network") === "true"
      ) {
        h.set("access-control-allow-private-network", "true");
      }
    }
    return new Response(null, { status: 204, headers: h });
  }
}

/**
 * A stream of JSON messages: `start(send)` begins producing and returns the function that stops
 * it. Over a WebSocket each message is a text frame; otherwise the response is chunked
 * newline-delimited JSON. Production stops when the client goes away, or when the function
 * added to `open` (the server's set of open streams) is called at shutdown.
 */
export function jsonStream(
  req: Request,
  start: (send: (body: unknown) => void) => () => void,
  open: Set<() => void> = new Set(),
): Response {
  let stop: (() => void) | null = null;
  let end: () => void = () => {};
  const finish = () => {
    open.delete(end);
    stop?.();
    stop = null;
  };
  if (wantsWebSocket(req)) {
    const { socket, response } = Deno.upgradeWebSocket(req);
    end = () => {
      finish();
      try {
        socket.close(1001, "server closing");
      } catch {
        // already closed
      }
    };
    open.add(end);
    socket.onopen = () => {
      stop = start((body) => {
        if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(body));
      });
    };
    socket.onclose = finish;
    socket.onerror = finish;
    return response;
  }
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      end = () => {
        finish();
        try {
          controller.close();
        } catch {
          // already closed
        }
      };
      open.add(end);
      stop = start((msg) => {
        try {
          controller.enqueue(encoder.encode(JSON.stringify(msg) + "\n"));
        } catch {
          finish();
        }
      });
    },
    cancel() {
      finish();
    },
  });
  return new Response(body, {
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });
}
