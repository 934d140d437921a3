import assert from "node:assert/strict";
import { type GlibcMalloc, parseMallinfo2 } from "../../ffi/linux/malloc.ts";
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

Deno.test({
  name: "`glibcMalloc().trim()` gives 64 MiB freed inside an arena back: RSS falls",
  ignore: Deno.build.os !== "linux",
  async fn() {
    // In a child process: the test process's RSS moves with every test file run beside it.
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("./_trim_child.ts", import.meta.url).pathname],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const r = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.equal(r.missing, undefined, "libc.so.6 has malloc_trim");
    if (r.free !== null) assert.ok(r.free >= 60 << 20, `mallinfo2 free ${r.free}`);
    assert.equal(r.released, true);
    assert.ok(
      r.freed - r.trimmed >= 48 * 1024,
      `RSS ${r.freed} KiB -> ${r.trimmed} KiB after the trim`,
    );
  },
});

Deno.test("`startMemoryTrim()` does nothing outside Linux and stops cleanly on Linux", () => {
  startMemoryTrim({ os: "darwin" }).stop();
  const t = startMemoryTrim({ intervalMs: 60_000 });
  t.stop();
});
