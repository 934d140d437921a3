/**
 * Tiny V2Ray geo data files (`geoip.dat`, `geosite.dat`, `custom.dat`) so `v2ray -test` can
 * load the import fixtures that name geoip/geosite lists. Protobuf, written by hand: a list
 * message (field 1, repeated) of entries `{1: code, 2: one CIDR or domain}`.
 */

function varint(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>>= 7;
    if (n === 0) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

function lenField(field: number, data: number[]): number[] {
  return [...varint((field << 3) | 2), ...varint(data.length), ...data];
}

function intField(field: number, n: number): number[] {
  return [...varint(field << 3), ...varint(n)];
}

const text = (s: string) => [...new TextEncoder().encode(s)];

function list(codes: string[], entry: number[]): Uint8Array {
  return new Uint8Array(
    codes.flatMap((c) => lenField(1, [...lenField(1, text(c)), ...lenField(2, entry)])),
  );
}

/** Writes the three files into `dir`. */
export async function writeGeoData(dir: string): Promise<void> {
  const cidr = [...lenField(1, [10, 0, 0, 0]), ...intField(2, 8)];
  const domain = [...intField(1, 2), ...lenField(2, text("example.cn"))];
  await Deno.writeFile(`${dir}/geoip.dat`, list(["PRIVATE", "CN"], cidr));
  await Deno.writeFile(`${dir}/geosite.dat`, list(["CN", "CATEGORY-ADS-ALL", "GOOGLE"], domain));
  await Deno.writeFile(`${dir}/custom.dat`, list(["WORK"], domain));
}
