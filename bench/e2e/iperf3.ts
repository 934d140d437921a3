/**
 * Parsing of `iperf3 -J` output into the few numbers the suite reports.
 *
 * @module
 */

/** What one iperf3 TCP test moved, seen by the receiving side. */
export interface Iperf3Result {
  /** Receiver throughput in Gbit/s (10^9 bits per second). */
  gbps: number;
  /** Bytes the receiver got. */
  bytes: number;
  /** Receiver-side test duration in seconds. */
  seconds: number;
  /** Sender-side throughput in Gbit/s (higher than {@linkcode gbps} when a proxy buffers). */
  senderGbps: number;
  /** TCP retransmissions counted by the sending side, when iperf3 reports them. */
  retransmits?: number;
  /** Number of parallel streams. */
  streams: number;
  /** True for a `-R` (server sends) test. */
  reverse: boolean;
  /** Per-interval sum throughput in Gbit/s, as the client saw it. */
  intervalsGbps: number[];
}

/** An iperf3 run that ended with an error (`"error"` key in its JSON). */
export class Iperf3Error extends Error {
  override name = "Iperf3Error";
}

type Json = Record<string, unknown>;

function obj(v: unknown, what: string): Json {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new SyntaxError(`iperf3 JSON: ${what} is not an object`);
  }
  return v as Json;
}

function num(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new SyntaxError(`iperf3 JSON: ${what} is not a number`);
  }
  return v;
}

/**
 * Parses the JSON document `iperf3 -J` printed for a TCP test.
 *
 * @throws {Iperf3Error} when iperf3 reported an error.
 * @throws {SyntaxError} when the text is not iperf3 TCP JSON.
 */
export function parseIperf3Json(text: string): Iperf3Result {
  let doc: Json;
  try {
    doc = obj(JSON.parse(text), "document");
  } catch (e) {
    if (e instanceof SyntaxError && text.trim() === "") {
      throw new SyntaxError("iperf3 printed no JSON", { cause: e });
    }
    throw e;
  }
  if (typeof doc.error === "string") throw new Iperf3Error(`iperf3 failed: ${doc.error}`);
  const start = obj(doc.start, "start");
  const testStart = obj(start.test_start, "start.test_start");
  const end = obj(doc.end, "end");
  const received = obj(end.sum_received, "end.sum_received");
  const sent = obj(end.sum_sent, "end.sum_sent");
  const intervals = Array.isArray(doc.intervals) ? doc.intervals : [];
  const result: Iperf3Result = {
    gbps: num(received.bits_per_second, "end.sum_received.bits_per_second") / 1e9,
    bytes: num(received.bytes, "end.sum_received.bytes"),
    seconds: num(received.seconds, "end.sum_received.seconds"),
    senderGbps: num(sent.bits_per_second, "end.sum_sent.bits_per_second") / 1e9,
    streams: num(testStart.num_streams, "start.test_start.num_streams"),
    reverse: testStart.reverse === 1 || testStart.reverse === true,
    intervalsGbps: intervals.map((iv, i) =>
      num(obj(obj(iv, `intervals[${i}]`).sum, `intervals[${i}].sum`).bits_per_second, "sum") / 1e9
    ),
  };
  if (typeof sent.retransmits === "number") result.retransmits = sent.retransmits;
  return result;
}
