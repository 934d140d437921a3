/**
 * A byte-level model of how integer and pointer arguments travel on the two macOS ABIs, to check
 * that a Deno FFI declaration (always called as a fixed-argument function) delivers each argument
 * where a C callee declared with `...` reads it.
 *
 * Caller side (what Deno's FFI does for a declaration):
 * - Apple arm64 (DarwinPCS): the first eight integer/pointer arguments go in x0..x7; the rest go
 *   on the stack, each at the next offset aligned to its own size and taking only its own size
 *   (Apple packs stack arguments; AAPCS64 would use 8-byte slots). A 32-bit argument in a
 *   register leaves the upper 32 bits undefined.
 * - x86_64 System V: the first six in rdi, rsi, rdx, rcx, r8, r9; the rest in 8-byte stack slots.
 *
 * Callee side (a C function `f(named..., ...)`):
 * - Apple arm64: named parameters from x0.., every variadic argument from the stack, one 8-byte
 *   slot each starting at [sp+0] (`va_arg` reads `sizeof(T)` bytes at the slot).
 * - x86_64: variadic arguments continue in the next integer registers, then the stack slots.
 *
 * Bytes nobody wrote are undefined; reading one makes the value undefined (`null`).
 *
 * @module
 */

/** The Deno FFI integer/pointer types the model knows, with their sizes. */
const FFI_SIZE: Record<string, number> = {
  i8: 1,
  u8: 1,
  bool: 1,
  i16: 2,
  u16: 2,
  i32: 4,
  u32: 4,
  i64: 8,
  u64: 8,
  isize: 8,
  usize: 8,
  pointer: 8,
  buffer: 8,
  function: 8,
};

/** C types a callee reads, with their sizes. */
const C_SIZE: Record<string, number> = {
  "int": 4,
  "unsigned int": 4,
  "long": 8,
  "unsigned long": 8,
  "void *": 8,
  "const char *": 8,
};

export type Arch = "arm64" | "x86_64";

/** 8-byte cells with a defined-mask per byte. */
class Cells {
  readonly bytes = new Map<number, number>();
  write(at: number, value: bigint, size: number): void {
    for (let i = 0; i < size; i++) this.bytes.set(at + i, Number((value >> BigInt(8 * i)) & 0xffn));
  }
  read(at: number, size: number): bigint | null {
    let v = 0n;
    for (let i = 0; i < size; i++) {
      const b = this.bytes.get(at + i);
      if (b === undefined) return null;
      v |= BigInt(b) << BigInt(8 * i);
    }
    return v;
  }
}

/** Where a call left its arguments: register file (8 bytes per register) and stack. */
export interface CallImage {
  arch: Arch;
  regs: Cells;
  stack: Cells;
}

const REGS: Record<Arch, number> = { arm64: 8, x86_64: 6 };

/**
 * Places a call's arguments as the caller does for a fixed-argument declaration `params`.
 * `values` are already numbers (buffers as their addresses).
 */
export function placeCall(
  arch: Arch,
  params: readonly string[],
  values: readonly bigint[],
): CallImage {
  if (params.length !== values.length) {
    throw new TypeError(`${values.length} arguments for ${params.length} declared parameters`);
  }
  const regs = new Cells(), stack = new Cells();
  let reg = 0, sp = 0;
  params.forEach((p, i) => {
    const size = FFI_SIZE[p];
    if (size === undefined) throw new TypeError(`the model has no FFI type "${p}"`);
    const v = BigInt.asUintN(size * 8, values[i]!);
    if (reg < REGS[arch]) {
      // Sub-32-bit values are extended to 32 bits by the caller; the rest of the register is
      // undefined for anything narrower than 64 bits.
      regs.write(reg * 8, v, Math.max(size, size < 4 ? 4 : size));
      reg++;
      return;
    }
    if (arch === "arm64") {
      sp = Math.ceil(sp / size) * size;
      stack.write(sp, v, size);
      sp += size;
    } else {
      stack.write(sp, v, size);
      sp += 8;
    }
  });
  return { arch, regs, stack };
}

/**
 * What a C callee `f(named..., ...)` reads: its named parameters, then `va_arg` of each type in
 * `variadic`. `null` where a read touched an undefined byte.
 */
export function readCall(
  image: CallImage,
  named: readonly string[],
  variadic: readonly string[],
): (bigint | null)[] {
  const out: (bigint | null)[] = [];
  let reg = 0;
  for (const t of named) {
    const size = C_SIZE[t];
    if (size === undefined) throw new TypeError(`the model has no C type "${t}"`);
    out.push(reg < REGS[image.arch] ? image.regs.read(reg * 8, size) : null);
    reg++;
  }
  let slot = 0;
  for (const t of variadic) {
    const size = C_SIZE[t];
    if (size === undefined) throw new TypeError(`the model has no C type "${t}"`);
    if (image.arch === "x86_64" && reg < REGS.x86_64) {
      out.push(image.regs.read(reg * 8, size));
      reg++;
      continue;
    }
    // arm64: every variadic argument in its own 8-byte stack slot from [sp+0]; x86_64: the
    // overflow area after the registers, also 8-byte slots.
    out.push(image.stack.read(slot * 8, size));
    slot++;
  }
  return out;
}

/** Gives each distinct buffer a stable fake address so pointers can be compared. */
export class Addresses {
  #next = 0x10_0000_0000n;
  readonly #of = new Map<unknown, bigint>();
  of(buf: unknown): bigint {
    let a = this.#of.get(buf);
    if (a === undefined) {
      a = this.#next;
      this.#next += 0x1000n;
      this.#of.set(buf, a);
    }
    return a;
  }
  /** The raw FFI argument as the number the callee sees. */
  value(arg: unknown): bigint {
    if (typeof arg === "bigint") return arg;
    if (typeof arg === "number") return BigInt(arg);
    if (typeof arg === "boolean") return arg ? 1n : 0n;
    if (arg === null) return 0n;
    return this.of(arg);
  }
}
