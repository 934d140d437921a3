import assert from "node:assert/strict";
import { type GlibcMalloc, glibcMalloc, parseMallinfo2 } from "../../ffi/linux/malloc.ts";
import { startMemoryTrim, trimOnce } from "../../src/platform/memory_trim.ts";

function fakeMalloc(free: number | undefined): GlibcMalloc & { trims: number } {
  const m = {
    trims: 0,
    trim: () => {
      m.trims++;
      return true;
    },
    info: () => free === undefined ? undefined : { arena: 0, mmapped: 0, inUse: 0, free },
  };
  return m;
}

Deno.test("`trimOnce()` trims only when the allocator holds at least the threshold free", () => {
  const low = fakeMalloc(1024);
  assert.equal(trimOnce(low, 16 << 20), false);
  assert.equal(low.trims, 0);
  const high = fakeMalloc(40 << 20);
  assert.equal(trimOnce(high, 16 << 20), true);
  assert.equal(high.trims, 1);
  // Without mallinfo2 (glibc before 2.33) it trims every time.
  const unknown = fakeMalloc(undefined);
  assert.equal(trimOnce(unknown, 16 << 20), true);
  assert.equal(unknown.trims, 1);
});

Deno.test("`parseMallinfo2()` reads arena, hblkhd, uordblks and fordblks", () => {
  const bytes = new Uint8Array(80);
  const v = new DataView(bytes.buffer);
  [100, 2, 0, 1, 4096, 0, 0, 70, 30, 5].forEach((n, i) => v.setBigUint64(i * 8, BigInt(n), true));
  assert.deepEqual(parseMallinfo2(bytes), { arena: 100, mmapped: 4096, inUse: 70, free: 30 });
});

function rssKiB(): number {
  return Number(/^VmRSS:\s+(\d+)/m.exec(Deno.readTextFileSync("/proc/self/status"))?.[1]);
}

Deno.test({
  name: "`glibcMalloc().trim()` gives 64 MiB freed inside an arena back: RSS falls",
  ignore: Deno.build.os !== "linux",
  fn() {
    const malloc = glibcMalloc();
    assert.ok(malloc, "libc.so.6 has malloc_trim");
    const libc = Deno.dlopen("libc.so.6", {
      malloc: { parameters: ["usize"], result: "pointer" },
      free: { parameters: ["pointer"], result: "void" },
      memset: { parameters: ["pointer", "i32", "usize"], result: "pointer" },
    });
    try {
      // 4,096 touched chunks of 16 KiB (below the mmap threshold: they come from an arena), then
      // all freed but the last, which pins the arena's top so free() itself cannot shrink it.
      const chunks: Deno.PointerValue[] = [];
      for (let i = 0; i < 4096; i++) {
        const p = libc.symbols.malloc(16384n);
        libc.symbols.memset(p, 1, 16384n);
        chunks.push(p);
      }
      const pin = libc.symbols.malloc(16384n);
      for (const p of chunks) libc.symbols.free(p);
      const freed = rssKiB();
      const info = malloc.info();
      if (info) assert.ok(info.free >= 60 << 20, `mallinfo2 free ${info.free}`);
      assert.equal(malloc.trim(), true);
      const trimmed = rssKiB();
      assert.ok(freed - trimmed >= 48 * 1024, `RSS ${freed} KiB -> ${trimmed} KiB after the trim`);
      libc.symbols.free(pin);
    } finally {
      libc.close();
    }
  },
});

Deno.test("`startMemoryTrim()` does nothing outside Linux and stops cleanly on Linux", () => {
  startMemoryTrim({ os: "darwin" }).stop();
  const t = startMemoryTrim({ intervalMs: 60_000 });
  t.stop();
});
