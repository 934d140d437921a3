/**
 * Answers DNS queries of flows routed with `hijack-dns` (sing-box `route/dns.go`): the inbound
 * hands over each query message (UDP payload, or a TCP message without its length prefix) and
 * sends back what this returns. Never throws.
 *
 * - fewer than 12 bytes, or a message with QR set (a response): dropped (null);
 * - a header but no readable question section, or not exactly one question: FORMERR;
 * - an OPCODE other than QUERY: NOTIMP;
 * - otherwise the DNS router's answer; `reject` with `drop` gives null; a failed exchange gives
 *   SERVFAIL (sing-box drops the query; an answer lets the client fail over at once);
 * - over UDP, an answer longer than the client's limit (512 bytes, or its EDNS UDP size) is cut
 *   to its header, question and OPT with TC set, so the client asks again over TCP.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { ConnMetadata } from "../route/metadata.ts";
import type { DnsRouter } from "./router.ts";
import {
  DnsFormatError,
  FLAG_QR,
  HEADER_LEN,
  messageFlags,
  type MessageLayout,
  OPCODE_MASK,
  parseMessage,
  RCODE_FORMERR,
  RCODE_NOTIMP,
  RCODE_SERVFAIL,
  statusResponse,
  truncateResponse,
  udpLimit,
} from "../net/dns/wire.ts";

const log = getLogger(["tunbox", "dns"]);

/** Answers hijacked queries through a router. */
export class DnsHijacker {
  constructor(readonly router: DnsRouter) {}

  /** The answer to `query` from the flow `meta`, or null to drop it. */
  async handleQuery(query: Uint8Array, meta: ConnMetadata): Promise<Uint8Array | null> {
    if (query.length < HEADER_LEN) {
      log.debug("[{id}] dropped a DNS message of {n} bytes", { id: meta.id, n: query.length });
      return null;
    }
    const flags = messageFlags(query);
    if (flags & FLAG_QR) {
      log.debug("[{id}] dropped a DNS response sent as a query", { id: meta.id });
      return null;
    }
    let layout: MessageLayout;
    try {
      layout = parseMessage(query);
    } catch (error) {
      log.debug("[{id}] malformed DNS query: {error}", {
        id: meta.id,
        error: error instanceof DnsFormatError ? error.message : String(error),
      });
      return statusResponse(query, null, {
        rcode: RCODE_FORMERR,
        authoritative: false,
        recursionAvailable: false,
      });
    }
    if ((flags & OPCODE_MASK) !== 0) {
      return statusResponse(query, layout, {
        rcode: RCODE_NOTIMP,
        authoritative: false,
        recursionAvailable: false,
      });
    }
    let answer: Uint8Array | null;
    try {
      answer = await this.router.exchange({ bytes: query, layout }, meta);
    } catch {
      // The router logged the failure.
      return statusResponse(query, layout, { rcode: RCODE_SERVFAIL, authoritative: false });
    }
    if (answer === null) return null;
    if (meta.network === "udp") {
      try {
        return truncateResponse(answer, parseMessage(answer), udpLimit(query, layout));
      } catch (error) {
        log.error("[{id}] cannot size the DNS answer: {error}", {
          id: meta.id,
          error: String(error),
        });
        return statusResponse(query, layout, { rcode: RCODE_SERVFAIL, authoritative: false });
      }
    }
    return answer;
  }
}
