/**
 * A client → router → server line of throwaway namespaces, as a Linux router sits between a LAN
 * and the rest, for the inbounds that take other machines' traffic (`direct`, `tproxy`,
 * `redirect`). With `net` = N:
 *
 * | namespace | IPv4 | IPv6 |
 * |---|---|---|
 * | client (`c0`) | 10.N.0.2/24, default via 10.N.0.1 | fd00:N::2/64 |
 * | router (`c1`, `s1`), forwarding | 10.N.0.1/24, 10.(N+1).0.1/24 | fd00:N::1, fd00:(N+1)::1 |
 * | server (`s0`) | 10.(N+1).0.2/24 and `extraServerAddrs` | fd00:(N+1)::2/64 |
 *
 * ```ts
 * const w = await RouterWorld.create("fwd", 70);
 * try { await w.startFar(["--http", "10.71.0.2:80"]); await w.startTunbox(config); } finally { await w.close(); }
 * ```
 *
 * @module
 */

import { Netns } from "../_helpers/netns.ts";
import { Proc, tunboxRunArgv } from "./_world.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** The three namespaces, the processes started in them and a scratch directory. */
export class RouterWorld {
  readonly procs: Proc[] = [];

  private constructor(
    readonly client: Netns,
    readonly router: Netns,
    readonly server: Netns,
    readonly dir: string,
  ) {}

  /** Builds the namespaces (named after `name`) and their links; deletes them on failure. */
  static async create(name: string, net: number, extraServerAddrs: string[] = []) {
    const client = await Netns.create(`${name}c`);
    const router = await Netns.create(`${name}r`);
    const server = await Netns.create(`${name}s`);
    const w = new RouterWorld(
      client,
      router,
      server,
      await Deno.makeTempDir({ prefix: `tunbox-${name}-` }),
    );
    const far = net + 1;
    try {
      await client.addVeth("c0", "c1", {
        peerNs: router,
        localAddr: [`10.${net}.0.2/24`],
        peerAddr: [`10.${net}.0.1/24`],
      });
      await router.addVeth("s1", "s0", {
        peerNs: server,
        localAddr: [`10.${far}.0.1/24`],
        peerAddr: [`10.${far}.0.2/24`, ...extraServerAddrs],
      });
      await client.ip("route", "add", "default", "via", `10.${net}.0.1`);
      await server.ip("route", "add", "default", "via", `10.${far}.0.1`);
      await router.mustExec(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
      await router.mustExec(["sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1"]);
      await client.ip("-6", "addr", "add", `fd00:${net}::2/64`, "dev", "c0", "nodad");
      await router.ip("-6", "addr", "add", `fd00:${net}::1/64`, "dev", "c1", "nodad");
      await router.ip("-6", "addr", "add", `fd00:${far}::1/64`, "dev", "s1", "nodad");
      await server.ip("-6", "addr", "add", `fd00:${far}::2/64`, "dev", "s0", "nodad");
      await client.ip("-6", "route", "add", "default", "via", `fd00:${net}::1`);
      await server.ip("-6", "route", "add", "default", "via", `fd00:${far}::1`);
    } catch (error) {
      await w.close();
      throw error;
    }
    return w;
  }

  /** Loads nftables rules into the router; throws with nft's message. */
  async nft(rules: string): Promise<void> {
    const r = await this.router.exec(["nft", "-f", "-"], { stdin: rules });
    if (r.code !== 0) throw new Error(`nft: ${r.stderr}`);
  }

  /** Starts `tests/e2e/_far_server.ts` with `args` in the server namespace, once it is ready. */
  async startFar(args: string[]): Promise<Proc> {
    const p = new Proc(
      "far",
      this.server.spawn([Deno.execPath(), "run", "-A", `${ROOT}tests/e2e/_far_server.ts`, ...args]),
    );
    this.procs.push(p);
    await p.waitFor(/ready/);
    return p;
  }

  /** Runs tunbox in the router with `config`, as `deno task run` does, once it has started. */
  async startTunbox(config: unknown): Promise<Proc> {
    await Deno.writeTextFile(`${this.dir}/config.json`, JSON.stringify(config, null, 2));
    const p = new Proc(
      "tunbox",
      this.router.spawn(tunboxRunArgv(`${this.dir}/config.json`)),
    );
    this.procs.push(p);
    await p.waitFor(/tunbox started/);
    return p;
  }

  /** curl from the client (5 s limit), with the body trimmed. */
  curl(url: string) {
    return this.client.exec(["curl", "-sS", "-m", "5", url]).then((r) => ({
      ...r,
      out: r.stdout.trim(),
    }));
  }

  /** Ends every process by PID, deletes the namespaces and the directory. */
  async close(): Promise<void> {
    for (const p of this.procs.reverse()) await p.stop("SIGKILL", 5000).catch(() => {});
    for (const ns of [this.client, this.router, this.server]) await ns.delete().catch(() => {});
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
