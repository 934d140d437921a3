// The hidden `--netns <path>` option: a tunbox process started with it runs (main thread
// and the Workers it creates) inside that namespace: it sees only the namespace's
// interfaces and can bind addresses that exist only there. Checked with `tunbox demo probe`.

import assert from "node:assert/strict";
import { parsePrefix } from "../../src/net/ip.ts";
import { NetNamespace, threadNetnsInode } from "../../src/platform/linux/netns.ts";
import { withRtNetlink } from "../../src/platform/linux/rtnetlink/mod.ts";
import type { ProbeReport } from "../../src/cli/demo/probe.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const CAN_RUN = Deno.build.os === "linux" && Deno.uid?.() === 0;
const ONLY_INSIDE = "10.99.0.1";

async function tunbox(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

Deno.test({
  name: "`--netns` puts the process and its Workers in the namespace, and only there",
  ignore: !CAN_RUN,
  fn: async () => {
    using ns = NetNamespace.create();
    ns.run(() =>
      withRtNetlink((nl) => {
        nl.createVeth("probe0", "probe1");
        const i = nl.getLink("probe0")!.index;
        nl.addAddress(i, parsePrefix(`${ONLY_INSIDE}/24`)!, 0, "probe0");
        nl.setLinkUp(i, true, "probe0");
      })
    );
    const inside = await tunbox([
      "--netns",
      ns.path,
      "demo",
      "probe",
      "--listen",
      ONLY_INSIDE,
    ]);
    assert.equal(inside.code, 0, inside.stderr);
    const r: ProbeReport = JSON.parse(inside.stdout);
    assert.deepEqual(r.links, ["lo", "probe0", "probe1"]);
    assert.equal(r.mainInode, ns.inode);
    assert.equal(r.workerInode, ns.inode, "a Worker made after the switch is inside too");
    assert.deepEqual(r.listen, { [ONLY_INSIDE]: "ok" });

    // The same probe without the option is where the test is.
    const outside = await tunbox(["demo", "probe", "--listen", ONLY_INSIDE]);
    assert.equal(outside.code, 0, outside.stderr);
    const o: ProbeReport = JSON.parse(outside.stdout);
    assert.equal(o.mainInode, threadNetnsInode());
    assert.ok(!o.links.includes("probe0"));
    assert.notEqual(o.listen[ONLY_INSIDE], "ok");
  },
});

Deno.test({
  name: "`--netns` with a bad path fails before running anything",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const missing = await tunbox(["--netns", "/nonexistent/ns", "version"]);
    assert.equal(missing.code, 1);
    assert.match(
      missing.stderr,
      /^tunbox: open network namespace "\/nonexistent\/ns" failed: ENOENT/,
    );
    assert.equal(missing.stdout, "");
    const empty = await tunbox(["--netns"]);
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /--netns needs a path/);
  },
});

Deno.test({
  name: "`--parent` with a process id that is not the parent exits at once",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const r = await tunbox(["--parent", "1", "version"]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "", "the command did not run");
    const ok = await tunbox(["--parent", String(Deno.pid), "version", "-n"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^\d+\.\d+\.\d+\n$/, "with its real parent, the command runs");
    const none = await tunbox(["--parent"]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /--parent needs a process id/);
  },
});
