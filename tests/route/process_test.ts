import assert from "node:assert/strict";
import {
  processOf,
  processRuleItems,
  setProcessLookup,
  setUserLookup,
  uidFromPasswd,
} from "../../src/route/process.ts";
import { newConnMetadata } from "../../src/route/metadata.ts";
import { Router } from "../../src/route/router.ts";
import type { ProcessInfo } from "../../src/platform/types.ts";
import type { Network, OutboundOptions, Rule, RuleMatch } from "../../src/config/types.ts";
import { prefixes, routeTo, rule as helperRule } from "./_helpers.ts";

const OUTBOUNDS = [
  { type: "direct", tag: "direct" },
  { type: "socks", tag: "proxy", server: "127.0.0.1", server_port: 1080 },
] as OutboundOptions[];

function meta(port: number, network: Network = "tcp") {
  return newConnMetadata({
    id: 1,
    inbound: "tun-in",
    inboundType: "tun",
    network,
    source: { addr: new Uint8Array([172, 19, 0, 1]), port },
    destination: { addr: new Uint8Array([93, 184, 216, 34]), port: 443 },
  });
}

/** A lookup over a table of source ports, counting its calls. */
function table(byPort: Record<number, ProcessInfo>) {
  const calls: string[] = [];
  setProcessLookup((network, source) => {
    calls.push(`${network}:${source.port}`);
    return byPort[source.port] ?? null;
  });
  return calls;
}

const CURL: ProcessInfo = { pid: 100, uid: 1000, path: "/usr/bin/curl" };
const FIREFOX: ProcessInfo = { pid: 200, uid: 1000, path: "/usr/lib/firefox/firefox-bin" };
const DAEMON: ProcessInfo = { pid: 300, uid: 0, path: "/usr/sbin/ntpd" };

function route(rules: Rule[], m: ReturnType<typeof meta>): string {
  const d = new Router({ rules, outbounds: OUTBOUNDS, final: "proxy" }).matchSync(m);
  assert.ok(d && d.action === "route");
  return d.outbound;
}

function rule(match: Partial<RuleMatch>, outbound = "direct"): Rule {
  return helperRule(match, routeTo(outbound));
}

Deno.test("process_name matches the executable's file name, process_path its full path", {
  ignore: Deno.build.os !== "linux",
}, () => {
  table({ 1: CURL, 2: FIREFOX });
  try {
    assert.equal(route([rule({ process_name: ["curl"] })], meta(1)), "direct");
    assert.equal(route([rule({ process_name: ["curl"] })], meta(2)), "proxy");
    assert.equal(route([rule({ process_name: ["/usr/bin/curl"] })], meta(1)), "proxy");
    assert.equal(
      route([rule({ process_path: ["/usr/lib/firefox/firefox-bin"] })], meta(2)),
      "direct",
    );
    assert.equal(route([rule({ process_path: ["firefox-bin"] })], meta(2)), "proxy");
    assert.equal(route([rule({ process_path_regex: ["^/usr/lib/"] })], meta(2)), "direct");
    assert.equal(route([rule({ process_path_regex: ["(?i)^/USR/BIN/"] })], meta(1)), "direct");
    assert.equal(route([rule({ process_path_regex: ["^/usr/lib/"] })], meta(1)), "proxy");
  } finally {
    setProcessLookup(null);
  }
});

Deno.test(
  "user_id matches the socket owner's uid; a flow without a process matches no process item",
  {
    ignore: Deno.build.os !== "linux",
  },
  () => {
    table({ 1: CURL, 3: DAEMON });
    try {
      assert.equal(route([rule({ user_id: [0] })], meta(3)), "direct");
      assert.equal(route([rule({ user_id: [0] })], meta(1)), "proxy");
      assert.equal(route([rule({ user_id: [0], invert: true })], meta(1)), "direct");
      assert.equal(route([rule({ process_name: ["curl"] })], meta(9)), "proxy");
    } finally {
      setProcessLookup(null);
    }
  },
);

Deno.test("the process is looked up once per flow, only when a process item is evaluated", () => {
  const calls = table({ 1: CURL });
  try {
    const m = meta(1);
    const rules = [
      rule({ ip_cidr: prefixes("10.0.0.0/8") }),
      rule({ process_name: ["wget"] }),
      rule({ process_path: ["/usr/bin/curl"] }, "proxy"),
    ];
    new Router({ rules, outbounds: OUTBOUNDS, final: "direct" }).matchSync(m);
    assert.deepEqual(calls, Deno.build.os === "linux" ? ["tcp:1"] : []);
    const quiet = meta(1);
    new Router({ rules: [rule({ port: [443] })], outbounds: OUTBOUNDS }).matchSync(quiet);
    assert.equal(quiet.process, undefined, "no process item, no lookup");
  } finally {
    setProcessLookup(null);
  }
});

Deno.test("`processOf()` reports a lookup that throws and leaves the flow without a process", () => {
  const errors: unknown[] = [];
  setProcessLookup(() => {
    throw new Error("EPERM");
  }, (e) => errors.push(e));
  try {
    const m = meta(5, "udp");
    assert.equal(processOf(m), null);
    assert.equal(processOf(m), null);
    assert.equal(errors.length, 1, "one flow, one lookup");
    assert.equal(processOf(meta(5, "icmp")), null);
    assert.equal(errors.length, 1, "ICMP flows have no socket to look up");
  } finally {
    setProcessLookup(null);
  }
});

Deno.test("`processRuleItems()` builds items on Linux and macOS and leaves them to never-match elsewhere", () => {
  const fields = { process_name: ["curl"], process_path: [], process_path_regex: [], user_id: [0] };
  for (const os of ["linux", "darwin"]) {
    const items = processRuleItems(fields, "route.rules[0]", os);
    assert.deepEqual(items.map((p) => [p.field, p.item?.text ?? null]), [
      ["process_name", "process_name=curl"],
      ["user_id", "user_id=0"],
    ], os);
  }
  const other = processRuleItems(fields, "route.rules[0]", "windows");
  assert.deepEqual(other.map((p) => [p.field, p.item]), [["process_name", null], [
    "user_id",
    null,
  ]]);
  assert.throws(
    () => processRuleItems({ ...fields, process_path_regex: ["("] }, "route.rules[2]", "linux"),
    /route\.rules\[2\]\.process_path_regex\[0\]: invalid regular expression "\("/,
  );
});

Deno.test("`uidFromPasswd()` reads the uid of a named user", () => {
  const passwd = "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n";
  assert.equal(uidFromPasswd(passwd, "alice"), 1000);
  assert.equal(uidFromPasswd(passwd, "root"), 0);
  assert.equal(uidFromPasswd(passwd, "bob"), null);
});

Deno.test("`user` items resolve names through the thread's user lookup (macOS: getpwnam), else /etc/passwd", () => {
  const asked: string[] = [];
  setUserLookup((name) => (asked.push(name), name === "alice" ? 501 : null));
  try {
    const fields = {
      process_name: [],
      process_path: [],
      process_path_regex: [],
      user: ["alice", "root", "nobody-at-all"],
    };
    const [user] = processRuleItems(fields, "route.rules[0]", "darwin");
    assert.deepEqual(asked, ["alice", "root", "nobody-at-all"]);
    const flow = (uid: number) => {
      const m = meta(1000 + uid);
      m.process = { pid: 1, uid, path: "/usr/bin/curl" };
      return m;
    };
    assert.equal(user!.item!.match(flow(501)), true);
    // root is not in the lookup's answers; /etc/passwd has it (uid 0) on every system.
    assert.equal(user!.item!.match(flow(0)), true);
    assert.equal(user!.item!.match(flow(502)), false);
  } finally {
    setUserLookup(null);
  }
});
