import assert from "node:assert/strict";
import { groupSmaps } from "../../bench/memory_breakdown.ts";

const SMAPS = `55d0c0000000-55d0c1000000 r-xp 00000000 fd:01 123   /usr/bin/deno
Size:              16384 kB
Rss:                9000 kB
Anonymous:             0 kB
55d0c2000000-55d0c3000000 r-xp 01000000 fd:01 123   /usr/bin/deno
Size:              16384 kB
Rss:                 500 kB
Anonymous:             0 kB
55d0c4000000-55d0c4100000 rw-p 02000000 fd:01 123   /usr/bin/deno
Rss:                 300 kB
Anonymous:           200 kB
55d0c5000000-55d0c6000000 rw-p 00000000 00:00 0      [heap]
Rss:                4000 kB
Anonymous:          4000 kB
7f0000000000-7f0000400000 rw-p 00000000 00:00 0 
Rss:                1024 kB
Anonymous:          1024 kB
7f0000400000-7f0000800000 rw-p 00000000 00:00 0 
Rss:                2048 kB
Anonymous:          2048 kB
`;

Deno.test("`groupSmaps()` sums Rss and Anonymous by mapping name and permissions, largest first", () => {
  assert.deepEqual(groupSmaps(SMAPS), [
    { name: "/usr/bin/deno", perms: "r-xp", rss: 9500, anonymous: 0, mappings: 2 },
    { name: "[heap]", perms: "rw-p", rss: 4000, anonymous: 4000, mappings: 1 },
    { name: "[anon]", perms: "rw-p", rss: 3072, anonymous: 3072, mappings: 2 },
    { name: "/usr/bin/deno", perms: "rw-p", rss: 300, anonymous: 200, mappings: 1 },
  ]);
});

Deno.test("`groupSmaps()` of an empty text is empty", () => {
  assert.deepEqual(groupSmaps(""), []);
});
