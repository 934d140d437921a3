/**
 * Each isolate's module graph is resident memory (docs/architecture.md, "Memory"): these tests
 * read `deno info --json` and follow static imports only (what an isolate loads before any
 * `import()`), so a new static import that drags the protocols, TLS or the onboarding code into
 * `tunbox run`'s main thread or into every packet worker fails here.
 */
import assert from "node:assert/strict";
import { scanDynamicLoads } from "../../scripts/compile.ts";

const root = new URL("../../", import.meta.url);

interface InfoModule {
  specifier: string;
  dependencies?: { isDynamic?: boolean; code?: { specifier?: string } }[];
}

/** `deno info --json` of `entry`. */
async function info(entry: string): Promise<{ roots: string[]; modules: InfoModule[] }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

const relative = (s: string): string => s.startsWith(root.href) ? s.slice(root.href.length) : s;

/** The modules `entry` loads through static imports, as paths relative to the root. */
async function staticGraph(entry: string): Promise<Set<string>> {
  const graph = await info(entry);
  const byName = new Map(graph.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>(graph.roots);
  const queue = [...graph.roots];
  while (queue.length > 0) {
    const m = byName.get(queue.pop()!);
    for (const d of m?.dependencies ?? []) {
      const target = d.code?.specifier;
      if (d.isDynamic || !target || seen.has(target)) continue;
      seen.add(target);
      queue.push(target);
    }
  }
  return new Set([...seen].map(relative));
}

function loaded(graph: Set<string>, prefixes: string[]): string[] {
  return [...graph].filter((m) => prefixes.some((p) => m.startsWith(p))).sort();
}

Deno.test("`main.ts` statically loads no command but the CLI's parser, and no outbound or API", async () => {
  const graph = await staticGraph("main.ts");
  assert.deepEqual(
    loaded(graph, [
      "src/cli/run.ts",
      "src/cli/demo",
      "src/onboard/",
      "src/box.ts",
      "src/api/clash_api.ts",
      "src/worker/flow_parts.ts",
      "src/outbound/shadowsocks/",
      "node:tls",
    ]),
    [],
  );
});

Deno.test("`src/cli/run.ts` statically loads no outbound protocol, TLS, DNS transport or API", async () => {
  const graph = await staticGraph("src/cli/run.ts");
  assert.ok(graph.has("src/box.ts"));
  assert.deepEqual(
    loaded(graph, [
      "src/api/clash_api.ts",
      "src/worker/flow_parts.ts",
      "src/outbound/socks.ts",
      "src/outbound/shadowsocks/",
      "src/dns/module.ts",
      "src/tls/",
      "src/onboard/",
      "node:tls",
      "node:http2",
    ]),
    [],
  );
});

Deno.test("`src/worker/entry.ts` statically loads no outbound protocol, listener or DoH", async () => {
  const graph = await staticGraph("src/worker/entry.ts");
  assert.ok(graph.has("src/worker/flow_parts.ts"));
  assert.deepEqual(
    loaded(graph, [
      "src/outbound/socks.ts",
      "src/outbound/shadowsocks/",
      "src/outbound/vmess/",
      "src/outbound/vless/",
      "src/outbound/trojan/",
      "src/outbound/wireguard/",
      "src/outbound/urltest.ts",
      "src/inbound/listener.ts",
      "src/tun/engine.ts",
      "src/dns/transport_https.ts",
      "src/ruleset/download.ts",
      "node:http2",
    ]),
    [],
  );
});

Deno.test("every `import()` of the program's graph is in what `deno compile` includes", async () => {
  // deno info resolves each literal dynamic import; the compile script finds them by scanning
  // text, which a regular expression literal with a quote in it can derail.
  const graphs = [await info("main.ts"), await info("src/worker/entry.ts")];
  const dynamic = new Set<string>();
  for (const m of graphs.flatMap((g) => g.modules)) {
    for (const d of m.dependencies ?? []) {
      const target = d.code?.specifier;
      if (d.isDynamic && target?.startsWith(root.href)) dynamic.add(relative(target));
    }
  }
  assert.ok(dynamic.has("src/worker/flow_parts.ts"));
  assert.ok(dynamic.has("src/dns/transport_https.ts"));
  const { includes } = await scanDynamicLoads();
  assert.deepEqual([...dynamic].filter((f) => !includes.includes(f)).sort(), []);
});
