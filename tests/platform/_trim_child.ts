// Run by memory_trim_test.ts in its own process, so the RSS it reads is this allocation's alone
// (a parallel test run shares the test process with every other test file). Prints JSON:
// {freed, trimmed} in KiB, `free` from mallinfo2 (or null), and whether malloc_trim released.
import { glibcMalloc } from "../../ffi/linux/malloc.ts";

function rssKiB(): number {
  return Number(/^VmRSS:\s+(\d+)/m.exec(Deno.readTextFileSync("/proc/self/status"))?.[1]);
}

const malloc = glibcMalloc();
if (!malloc) {
  console.log(JSON.stringify({ missing: true }));
  Deno.exit(0);
}
const libc = Deno.dlopen("libc.so.6", {
  malloc: { parameters: ["usize"], result: "pointer" },
  free: { parameters: ["pointer"], result: "void" },
  memset: { parameters: ["pointer", "i32", "usize"], result: "pointer" },
});
// 4,096 touched chunks of 16 KiB (below the mmap threshold: they come from an arena), then all
// freed but the last, which pins the arena's top so free() itself cannot shrink it.
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
const released = malloc.trim();
const trimmed = rssKiB();
libc.symbols.free(pin);
console.log(JSON.stringify({ freed, trimmed, free: info?.free ?? null, released }));
