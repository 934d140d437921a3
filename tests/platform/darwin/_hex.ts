/**
 * Test helpers for writing expected bytes out by hand: `hex("10 02 00 00", zeros(8))`.
 *
 * @module
 */

/** Concatenates hex strings (whitespace ignored) into bytes. */
export function hex(...parts: string[]): Uint8Array {
  const text = parts.join(" ").replace(/\s+/g, "");
  if (text.length % 2 !== 0 || /[^0-9a-fA-F]/.test(text)) {
    throw new SyntaxError(`Bad hex fixture: ${text}`);
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** `n` zero bytes, as a hex string for {@linkcode hex}. */
export function zeros(n: number): string {
  return "00".repeat(n);
}

/** Formats bytes as rows of 16 hex pairs with offsets, for readable assertion failures. */
export function dump(buf: Uint8Array): string {
  const rows: string[] = [];
  for (let i = 0; i < buf.length; i += 16) {
    const row = Array.from(buf.subarray(i, i + 16), (b) => b.toString(16).padStart(2, "0"));
    rows.push(`${i.toString().padStart(4)}: ${row.join(" ")}`);
  }
  return rows.join("\n");
}
