/**
 * glibc's allocator controls, `malloc_trim(3)` and `mallinfo2(3)`, loaded with `Deno.dlopen`
 * on first use. Deno's ArrayBuffer backing stores and the runtime's own buffers come from glibc
 * malloc, which keeps freed memory in its arenas; `malloc_trim(0)` gives free pages of every
 * arena back to the kernel.
 *
 * @module
 */

const MALLOC_SYMBOLS = {
  /** int malloc_trim(size_t pad) */
  malloc_trim: { parameters: ["usize"], result: "i32" },
  /** struct mallinfo2 mallinfo2(void) (glibc 2.33+): ten size_t fields */
  mallinfo2: {
    parameters: [],
    result: { struct: Array(10).fill("usize") as Deno.NativeType[] },
    optional: true,
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** What the allocator reports, bytes (`struct mallinfo2`, summed over every arena). */
export interface MallocInfo {
  /** Non-mmapped space obtained from the kernel (`arena`). */
  arena: number;
  /** Space in mmapped regions (`hblkhd`). */
  mmapped: number;
  /** Allocated space (`uordblks`). */
  inUse: number;
  /** Free space kept in the arenas (`fordblks`). */
  free: number;
}

/** glibc's allocator controls. */
export interface GlibcMalloc {
  /** `malloc_trim(0)`: true when memory was given back. */
  trim(): boolean;
  /** `mallinfo2()`, or undefined before glibc 2.33. */
  info(): MallocInfo | undefined;
}

let loaded: GlibcMalloc | null | undefined;

/** Reads the fields {@linkcode MallocInfo} names from a `struct mallinfo2` (10 × size_t). */
export function parseMallinfo2(bytes: Uint8Array): MallocInfo {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const field = (i: number) => Number(v.getBigUint64(i * 8, true));
  // arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost
  return { arena: field(0), mmapped: field(4), inUse: field(7), free: field(8) };
}

/** glibc's allocator controls, or undefined where libc.so.6 has no `malloc_trim` (not glibc). */
export function glibcMalloc(): GlibcMalloc | undefined {
  if (loaded !== undefined) return loaded ?? undefined;
  try {
    const lib = Deno.dlopen("libc.so.6", MALLOC_SYMBOLS);
    const info = lib.symbols.mallinfo2;
    loaded = {
      trim: () => lib.symbols.malloc_trim(0n) === 1,
      info: () => info ? parseMallinfo2(info() as Uint8Array) : undefined,
    };
  } catch {
    loaded = null;
  }
  return loaded ?? undefined;
}
