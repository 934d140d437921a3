/**
 * Local proxies the init and doctor tests start in the host namespace of a `SeedWorld`, besides
 * the world's own SOCKS server. The caller stops each by PID (`Proc.stop`).
 */

import { HOST_SOCKS_EGRESS, Proc, type SeedWorld } from "./_world.ts";

/** Waits until something accepts TCP on 127.0.0.1:`port` in the host namespace. */
export async function waitPort(w: SeedWorld, port: number, proc: Proc): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = await w.exec(["bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/${port}`]);
    if (r.code === 0) return;
    if (!proc.running) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${proc.name} did not listen on ${port}:\n${proc.stderr}`);
}

/** V2Ray with its SOCKS inbound on 127.0.0.1:1080 and UDP off (`"udp": false`). */
export async function startV2rayWithoutUdp(w: SeedWorld): Promise<{ proc: Proc; path: string }> {
  const path = `${w.dir}/v2ray-noudp.json`;
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      inbounds: [{
        listen: "127.0.0.1",
        port: 1080,
        protocol: "socks",
        settings: { auth: "noauth", udp: false },
      }],
      outbounds: [{ protocol: "freedom", sendThrough: HOST_SOCKS_EGRESS }],
    }),
  );
  const proc = new Proc("v2ray", w.host.spawn(["v2ray", "-config", path]));
  await waitPort(w, 1080, proc);
  return { proc, path };
}

/** ss-server on the far side's `server` address and ss-local on 127.0.0.1:1080 (UDP on). */
export async function startSsLocal(w: SeedWorld, server: string): Promise<Proc> {
  const ss = ["-k", "tunbox-e2e-pass", "-m", "chacha20-ietf-poly1305"];
  const far = w.spawnFar("ss-server", ["ss-server", "-s", server, "-p", "8388", "-u", ...ss]);
  const local = new Proc(
    "ss-local",
    w.host.spawn([
      "ss-local",
      "-s",
      server,
      "-p",
      "8388",
      "-b",
      "127.0.0.1",
      "-l",
      "1080",
      "-u",
      ...ss,
    ]),
  );
  await waitPort(w, 1080, local);
  if (!far.running) throw new Error(`ss-server exited:\n${far.stderr}`);
  return local;
}
