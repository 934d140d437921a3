import assert from "node:assert/strict";
import fc from "fast-check";
import type { Options, Rule } from "../../src/config/types.ts";
import { decodeConfigText } from "../../src/config/decode.ts";
import { formatIp, parseIp } from "../../src/net/ip.ts";
import {
  explainConnection,
  processRuleNotes,
  renderExplanation,
} from "../../src/onboard/explain.ts";
import { newConnMetadata } from "../../src/route/metadata.ts";
import { Router } from "../../src/route/router.ts";
import { anyRule } from "../route/_arbitrary.ts";

function options(json: Record<string, unknown>): Options {
  const r = decodeConfigText(JSON.stringify(json), "test.json");
  if (!r.options) throw new Error(r.errors.map((e) => e.format()).join("\n"));
  return r.options;
}

const BASE = {
  inbounds: [{ type: "tun", tag: "tun-in", address: ["172.19.0.1/30", "fdfe:dcba:9876::1/126"] }],
  outbounds: [
    { type: "socks", tag: "proxy", server: "127.0.0.1", server_port: 1080 },
    { type: "direct", tag: "direct" },
    { type: "block", tag: "block" },
  ],
};

const noResolve = () => Promise.resolve([] as string[]);

Deno.test("`explainConnection()` gives the router's own decision for generated rules and flows", async () => {
  const base = options(BASE);
  await fc.assert(
    fc.asyncProperty(
      fc.array(anyRule, { maxLength: 8 }),
      fc.constantFrom("8.8.8.8", "10.0.0.1", "203.0.113.7", "2001:db8::1", "127.0.0.1"),
      fc.constantFrom(25, 53, 80, 443, 8080),
      fc.boolean(),
      fc.constantFrom("", "example.com", "www.example.com", "a.cn"),
      async (rules: Rule[], dst, port, udp, domain) => {
        const opts: Options = { ...base, route: { ...base.route, rules } };
        const e = await explainConnection(
          opts,
          { destination: dst, port, udp, ...(domain ? { domain } : {}) },
          noResolve,
        );
        // The flow as a TUN would see it, built here independently, routed by a fresh router.
        const addr = parseIp(dst)!;
        const meta = newConnMetadata({
          id: 1,
          inbound: "tun-in",
          inboundType: "tun",
          network: udp ? "udp" : "tcp",
          source: {
            addr: parseIp(addr.length === 16 ? "fdfe:dcba:9876::1" : "172.19.0.1")!,
            port: 50000,
          },
          destination: { addr, port },
        });
        const sniffed = port === 53
          ? "dns"
          : udp
          ? (port === 443 && domain ? "quic" : "")
          : port === 80
          ? (domain ? "http" : "")
          : (domain ? "tls" : "");
        const router = new Router({ rules, outbounds: opts.outbounds });
        const d = await router.route(meta, {
          sniff(sniffers) {
            if (sniffed && sniffers.includes(sniffed)) {
              meta.protocol = sniffed;
              if (domain && sniffed !== "dns") meta.domain = domain;
            }
            return Promise.resolve();
          },
          resolve: () => Promise.resolve(),
        });
        assert.deepEqual(e.decision, d);
        assert.equal(e.flow.destination, `${formatIp(addr)}:${port}`);
        // The text names the same verdict.
        const text = renderExplanation(e);
        if (d.action === "route") {
          assert.match(text, new RegExp(`Verdict: outbound "${d.outbound}"`));
        } else if (d.action === "reject") assert.match(text, /Verdict: rejected/);
        else assert.match(text, /Verdict: DNS hijacked/);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("`explainConnection()` shows each rule tried with the flow's value, and the DNS server", async () => {
  const opts = options({
    ...BASE,
    dns: {
      servers: [{ type: "udp", tag: "remote", server: "1.1.1.1", detour: "proxy" }, {
        type: "local",
        tag: "local",
      }],
      rules: [{ domain_suffix: ["cn"], server: "local" }],
      final: "remote",
    },
    route: {
      rules: [
        { action: "sniff" },
        { protocol: "dns", action: "hijack-dns" },
        { ip_is_private: true, outbound: "direct" },
        { domain_suffix: ["cn"], port: [443], outbound: "direct" },
        { network: "udp", port: 443, action: "reject" },
      ],
      final: "proxy",
    },
  });
  const e = await explainConnection(
    opts,
    { destination: "https://www.example.cn/", domain: "www.example.cn" },
    () => Promise.resolve(["203.0.113.9"]),
  );
  assert.equal(e.flow.destination, "203.0.113.9:443");
  assert.equal(e.decision.ruleIndex, 3);
  assert.deepEqual(e.notReached, [{ index: 4, text: "network=udp port=443 => reject" }]);
  assert.equal(e.steps[0]!.note, "sniffed protocol tls, domain www.example.cn");
  assert.deepEqual(e.steps[2]!.items, [{
    text: "ip_is_private=true",
    matched: false,
    observed: "destination 203.0.113.9",
  }]);
  assert.deepEqual(e.dns, {
    server: "local",
    ruleIndex: 0,
    ruleText: "domain_suffix=cn => route(local)",
    detail: "local",
  });
  const text = renderExplanation(e);
  assert.match(
    text,
    /^Connection: tcp 172\.19\.0\.1:50000 → 203\.0\.113\.9:443 on inbound tun-in \(tun\)$/m,
  );
  assert.match(text, /^ {6}✗ protocol=dns {3}\(protocol tls\)$/m);
  assert.match(
    text,
    /^Verdict: outbound "direct" — direct \(not bound to an interface\) \(rule \[3\]\)$/m,
  );
  assert.match(text, /^ {2}\[4\] network=udp port=443 => reject {3}\(not reached\)$/m);
});

Deno.test("`explainConnection()` with a process evaluates the process rules as a lookup would", {
  ignore: Deno.build.os !== "linux",
}, async () => {
  const rules = [
    { process_name: ["wget"], outbound: "direct" },
    { process_path: ["/usr/bin/ssh"], action: "reject" },
    {
      type: "logical",
      mode: "or",
      rules: [{ process_path_regex: ["^/usr/bin/cu"] }, { port: [22] }],
      outbound: "direct",
    },
  ];
  const opts = options({ ...BASE, route: { rules, final: "proxy" } });
  const explain = (process: string) =>
    explainConnection(
      opts,
      { destination: "203.0.113.9", port: 443, process },
      () => Promise.resolve([]),
    );
  const curl = await explain("/usr/bin/curl");
  assert.equal(curl.decision.ruleIndex, 2);
  assert.deepEqual(curl.decision.action === "route" && curl.decision.outbound, "direct");
  assert.ok(curl.notes.includes('as if process "/usr/bin/curl" opened the connection'));
  const wget = await explain("wget");
  assert.equal(wget.decision.ruleIndex, 0, "a name alone matches process_name");
  const ssh = await explain("ssh");
  assert.equal(ssh.decision.ruleIndex, -1, "process_path needs the full path");
  assert.equal((await explain("/usr/bin/ssh")).decision.action, "reject");
});

Deno.test("`processRuleNotes()` names the process rules a system without lookup goes past", () => {
  const opts = options({
    ...BASE,
    route: {
      rules: [
        { process_name: ["curl"], outbound: "direct" },
        { process_path: ["/usr/bin/ssh"], action: "reject" },
        {
          type: "logical",
          mode: "or",
          rules: [{ process_path_regex: ["^/usr/bin/cu"] }, { port: [22] }],
          outbound: "direct",
        },
      ],
      final: "proxy",
    },
  });
  assert.deepEqual(processRuleNotes(opts.route.rules, "/usr/bin/curl"), [
    "rule[0] names it (process_name curl): in sing-box it could route to direct here; tunbox goes past it",
    "rule[2] names it (process_path_regex ^/usr/bin/cu): in sing-box it could route to direct here; tunbox goes past it",
  ]);
});

Deno.test("`explainConnection()` follows FakeIP: the destination becomes the name, domain rules match", async () => {
  const opts = options({
    ...BASE,
    dns: {
      servers: [
        { type: "udp", tag: "remote", server: "1.1.1.1", detour: "proxy" },
        { type: "fakeip", tag: "fake", inet4_range: "198.18.0.0/15" },
      ],
      rules: [{ query_type: ["A", "AAAA"], server: "fake" }],
      final: "remote",
    },
    route: { rules: [{ domain_suffix: ["example.org"], outbound: "direct" }], final: "proxy" },
  });
  const e = await explainConnection(opts, { destination: "x.example.org", port: 80 }, noResolve);
  assert.equal(e.flow.destination, "x.example.org:80");
  assert.equal(e.decision.action === "route" && e.decision.outbound, "direct");
  assert.equal(e.dns?.server, "fake");
  assert.match(e.notes[0]!, /FakeIP address, which tunbox maps back to x\.example\.org/);
  // Without FakeIP a name that does not resolve cannot become a TUN flow.
  await assert.rejects(
    explainConnection(options({ ...BASE }), { destination: "x.example.org" }, noResolve),
    /did not resolve here; give its address: tunbox explain <ip> --domain x\.example\.org/,
  );
});

Deno.test("`tunbox explain` prints the seed config's verdict for an address, and --json", async () => {
  const root = new URL("../../", import.meta.url).pathname;
  const run = async (args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${root}main.ts`,
        "explain",
        "-c",
        `${root}tests/fixtures/config/seed_real_ip.jsonc`,
        ...args,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
  };
  const text = await run(["3.1.2.82", "--port", "8443"]);
  assert.equal(text.code, 0);
  assert.match(text.stdout, /^Connection: tcp 198\.18\.0\.1:50000 → 3\.1\.2\.82:8443/m);
  assert.match(
    text.stdout,
    /^Verdict: outbound "direct" — direct \(bound to en0\) \(rule \[3\]\)$/m,
  );
  const json = await run(["192.168.1.1", "--udp", "--port", "53", "--json"]);
  assert.equal(json.code, 0);
  const e = JSON.parse(json.stdout);
  assert.equal(e.decision.ruleIndex, 0);
  assert.equal(e.flow.network, "udp");
  const bad = await run(["1.2.3.4", "--inbound", "nope"]);
  assert.equal(bad.code, 2);
});
