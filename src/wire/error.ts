/**
 * Why a packet view or parse was rejected. Parsers return one of these strings instead of throwing,
 * so the packet path never pays for exceptions; callers count drops by reason.
 *
 * @module
 */

/** A reason a packet was rejected by `check()` or `parse()`. */
export type WireError =
  /** The buffer is shorter than a header or a length field says. */
  | "truncated"
  /** A field has a value the format does not allow (bad version, header length, ...). */
  | "malformed"
  /** A checksum was verified and is wrong. */
  | "checksum"
  /** Valid, but a feature this implementation does not handle. */
  | "unsupported";
