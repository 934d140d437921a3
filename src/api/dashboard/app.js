// tunbox's built-in dashboard: a single page over the Clash API it is served by (same origin).
// No dependencies: fetch for requests, WebSockets for the streams (/connections, /traffic,
// /memory, /logs), canvas for the charts.

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
};

const state = {
  secret: localStorage.getItem("tunbox.secret") ?? "",
  conns: new Map(), // id -> {c, upSpeed, downSpeed}
  closed: [],
  lastSnapshotAt: 0,
  // Charts start from a flat line rather than from nothing.
  traffic: { up: Array(90).fill(0), down: Array(90).fill(0) },
  memory: [],
  sockets: new Map(),
  logPaused: false,
  proxies: {},
  delays: new Map(), // member -> delay ms (0 = failed)
  tab: "overview",
};

// ---- formatting ----
function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}
const speed = (n) => `${bytes(Math.round(n))}/s`;
function since(iso) {
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}
function hostOf(c) {
  const m = c.metadata;
  const port = m.destinationPort && m.destinationPort !== "0" ? `:${m.destinationPort}` : "";
  if (m.host) return `${m.host}${port}`;
  const ip = m.destinationIP.includes(":") ? `[${m.destinationIP}]` : m.destinationIP;
  return `${ip}${port}`;
}

// ---- API ----
async function api(path, init = {}) {
  const headers = new Headers(init.headers ?? {});
  if (state.secret) headers.set("Authorization", `Bearer ${state.secret}`);
  if (init.body && !headers.has("content-type")) headers.set("content-type", "application/json");
  const res = await fetch(path, { ...init, headers });
  if (res.status === 401) {
    askSecret();
    throw new Error("unauthorized");
  }
  return res;
}
const getJson = async (path) => (await api(path)).json();

function wsUrl(path) {
  const u = new URL(path, location.href);
  u.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  if (state.secret) u.searchParams.set("token", state.secret);
  return u.href;
}

/** Keeps a WebSocket to `path` open (reconnecting), calling `onMessage` with parsed JSON. */
function stream(name, path, onMessage) {
  state.sockets.get(name)?.close();
  let closedByUs = false;
  const ws = new WebSocket(wsUrl(path));
  ws.onmessage = (e) => {
    try {
      onMessage(JSON.parse(e.data));
    } catch {
      // ignore a malformed frame
    }
  };
  ws.onopen = () => setStatus(true);
  ws.onclose = () => {
    if (closedByUs) return;
    setStatus(false);
    setTimeout(() => {
      if (state.sockets.get(name) === handle) stream(name, path, onMessage);
    }, 2000);
  };
  const handle = {
    close() {
      closedByUs = true;
      ws.close();
    },
  };
  state.sockets.set(name, handle);
}

function setStatus(ok) {
  $("#status-dot").className = `dot ${ok ? "ok" : "bad"}`;
  $("#status").textContent = ok ? "connected" : "reconnecting…";
}

function askSecret() {
  const d = $("#login");
  if (d.open) return;
  $("#secret").value = state.secret;
  d.showModal();
  d.addEventListener("close", () => {
    state.secret = $("#secret").value;
    localStorage.setItem("tunbox.secret", state.secret);
    start();
  }, { once: true });
}

// ---- tabs ----
function showTab(name) {
  state.tab = name;
  for (const b of document.querySelectorAll(".tabs button")) {
    b.setAttribute("aria-selected", String(b.dataset.tab === name));
  }
  for (const p of document.querySelectorAll("[data-panel]")) p.hidden = p.id !== name;
  if (name === "proxies") loadProxies();
  if (name === "rules") loadRules();
  if (name === "logs") startLogs();
  if (name === "overview") drawCharts();
}
for (const b of document.querySelectorAll(".tabs button")) {
  b.addEventListener("click", () => showTab(b.dataset.tab));
}

// ---- mode ----
async function loadConfig() {
  const cfg = await getJson("/configs");
  const modes = cfg["mode-list"] ?? [];
  const box = $("#modes");
  box.replaceChildren(...modes.map((m) =>
    el("button", {
      role: "radio",
      "aria-checked": String(m === cfg.mode),
      "data-mode": m,
      text: m,
      onclick: async () => {
        await api("/configs", { method: "PATCH", body: JSON.stringify({ mode: m }) });
        loadConfig();
      },
    })
  ));
  box.hidden = modes.length === 0;
}

// ---- connections ----
function onConnections(snap) {
  const now = performance.now();
  const dt = state.lastSnapshotAt ? (now - state.lastSnapshotAt) / 1000 : 0;
  state.lastSnapshotAt = now;
  const next = new Map();
  for (const c of snap.connections ?? []) {
    const prev = state.conns.get(c.id);
    const upSpeed = prev && dt > 0 ? Math.max(0, (c.upload - prev.c.upload) / dt) : 0;
    const downSpeed = prev && dt > 0 ? Math.max(0, (c.download - prev.c.download) / dt) : 0;
    next.set(c.id, { c, upSpeed, downSpeed });
  }
  state.conns = next;
  state.closed = (snap.closed ?? []).slice(-200).reverse();
  $("#conn-count").textContent = String(next.size);
  $("#conn-live").textContent = String(next.size);
  $("#up-total").textContent = `${bytes(snap.uploadTotal ?? 0)} total`;
  $("#down-total").textContent = `${bytes(snap.downloadTotal ?? 0)} total`;
  if (state.tab === "connections") renderConnections();
}

function matches(c, q) {
  if (!q) return true;
  const text = [hostOf(c), c.rule, c.chains.join(" "), c.metadata.network, c.metadata.sourceIP]
    .join(" ").toLowerCase();
  return text.includes(q);
}

function renderConnections() {
  const q = $("#conn-filter").value.trim().toLowerCase();
  const rows = [];
  const live = [...state.conns.values()].sort((a, b) =>
    b.downSpeed - a.downSpeed ||
    Date.parse(b.c.start) - Date.parse(a.c.start)
  );
  for (const { c, upSpeed, downSpeed } of live) {
    if (!matches(c, q)) continue;
    rows.push(row(c, upSpeed, downSpeed, false));
  }
  if ($("#conn-closed").checked) {
    for (const c of state.closed) if (matches(c, q)) rows.push(row(c, 0, 0, true));
  }
  $("#conn-rows").replaceChildren(...rows);
  $("#conn-empty").hidden = rows.length > 0;
}

function row(c, up, down, closed) {
  const chain = [...c.chains].reverse().join(" → ");
  return el(
    "tr",
    { class: closed ? "closed" : "", "data-testid": `conn-${c.id}`, "data-id": c.id },
    el("td", { class: "host", title: hostOf(c), text: hostOf(c) }),
    el("td", { "data-label": "net", text: c.metadata.network }),
    el("td", { "data-label": "rule", class: "rule", title: c.rule, text: c.rule }),
    el("td", { "data-label": "via", class: "chain", text: chain || "–" }),
    el("td", { class: "num", text: closed ? "" : `↑ ${speed(up)}` }),
    el("td", { class: "num", text: closed ? "" : `↓ ${speed(down)}` }),
    el("td", { class: "num", text: bytes(c.upload) }),
    el("td", { class: "num", text: bytes(c.download) }),
    el("td", { "data-label": "time", text: closed ? (c.error ?? "closed") : since(c.start) }),
    el(
      "td",
      { class: "action" },
      closed ? null : el("button", {
        class: "danger",
        title: "Close this connection",
        "aria-label": `Close connection ${c.id}`,
        "data-testid": `close-${c.id}`,
        text: "✕",
        onclick: () => closeConnection(c.id),
      }),
    ),
  );
}

async function closeConnection(id) {
  await api(`/connections/${encodeURIComponent(id)}`, { method: "DELETE" });
}
$("#close-all").addEventListener("click", async () => {
  if (confirm("Close every connection?")) await api("/connections", { method: "DELETE" });
});
$("#conn-filter").addEventListener("input", renderConnections);
$("#conn-closed").addEventListener("change", renderConnections);

// ---- traffic and memory ----
const SAMPLES = 90;
function push(arr, v) {
  arr.push(v);
  if (arr.length > SAMPLES) arr.shift();
}
function onTraffic(t) {
  push(state.traffic.up, t.up);
  push(state.traffic.down, t.down);
  $("#up-speed").textContent = speed(t.up);
  $("#down-speed").textContent = speed(t.down);
  if (state.tab === "overview") drawCharts();
}
function onMemory(m) {
  if (m.inuse > 0) push(state.memory, m.inuse);
  $("#mem").textContent = m.inuse > 0 ? bytes(m.inuse) : "–";
  if (state.tab === "overview") drawCharts();
}

function css(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}
function chart(canvas, series, format) {
  const dpr = globalThis.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = Number(canvas.getAttribute("height"));
  if (w === 0) return;
  canvas.width = w * dpr;
  canvas.height = h * dpr;
  canvas.style.height = `${h}px`;
  const g = canvas.getContext("2d");
  g.scale(dpr, dpr);
  g.clearRect(0, 0, w, h);
  const max = Math.max(1, ...series.flatMap((s) => s.data));
  g.strokeStyle = css("--line");
  g.fillStyle = css("--muted");
  g.font = "11px system-ui";
  g.lineWidth = 1;
  for (let i = 0; i <= 2; i++) {
    const y = 8 + (h - 16) * (i / 2);
    g.beginPath();
    g.moveTo(0, y);
    g.lineTo(w, y);
    g.stroke();
    g.fillText(format(max * (1 - i / 2)), 4, y - 2 < 10 ? 18 : y - 2);
  }
  for (const s of series) {
    g.strokeStyle = css(s.color);
    g.lineWidth = 2;
    g.beginPath();
    s.data.forEach((v, i) => {
      const x = w - (s.data.length - 1 - i) * (w / (SAMPLES - 1));
      const y = 8 + (h - 16) * (1 - v / max);
      if (i === 0) g.moveTo(x, y);
      else g.lineTo(x, y);
    });
    g.stroke();
  }
}
function drawCharts() {
  chart($("#traffic-chart"), [
    { data: state.traffic.up, color: "--up" },
    { data: state.traffic.down, color: "--down" },
  ], speed);
  chart($("#memory-chart"), [{ data: state.memory, color: "--accent" }], bytes);
}
addEventListener("resize", () => state.tab === "overview" && drawCharts());

// ---- proxies ----
function testUrl() {
  return localStorage.getItem("tunbox.testUrl") || "https://www.gstatic.com/generate_204";
}
function delayBadge(tag) {
  const d = state.delays.get(tag) ?? lastDelay(state.proxies[tag]);
  if (d === undefined) return el("span", { class: "delay muted", text: "–" });
  if (d === 0) return el("span", { class: "delay bad", text: "timeout" });
  return el("span", {
    class: `delay ${d < 300 ? "good" : d < 800 ? "slow" : "bad"}`,
    text: `${d} ms`,
  });
}
function lastDelay(p) {
  const h = p?.history;
  return h && h.length > 0 ? h[h.length - 1].delay : undefined;
}

async function loadProxies() {
  const { proxies } = await getJson("/proxies");
  state.proxies = proxies;
  const groups = Object.values(proxies).filter((p) => Array.isArray(p.all) && p.name !== "GLOBAL");
  $("#groups-empty").hidden = groups.length > 0;
  $("#groups").replaceChildren(...groups.map(groupCard));
}

function groupCard(g) {
  const selectable = g.type === "Selector";
  const members = g.all.map((tag) => {
    const p = state.proxies[tag] ?? { type: "", name: tag };
    return el(
      "button",
      {
        class: "member",
        "aria-pressed": String(tag === g.now),
        "data-testid": `member-${g.name}-${tag}`,
        disabled: !selectable && tag !== g.now ? true : undefined,
        title: selectable ? `Use ${tag} for ${g.name}` : "chosen by the URL test",
        onclick: selectable ? () => select(g.name, tag) : undefined,
      },
      el("span", { text: tag }),
      el("span", { class: "type", text: p.type }),
      delayBadge(tag),
    );
  });
  return el(
    "div",
    { class: "card group", "data-testid": `group-${g.name}` },
    el(
      "header",
      {},
      el("h3", { text: g.name }),
      el("span", { class: "muted", text: `${g.type} · ${g.now}` }),
      el("button", {
        text: "Test",
        title: `Latency test through each member (${testUrl()})`,
        "data-testid": `test-${g.name}`,
        onclick: (e) => testGroup(g.name, e.currentTarget),
      }),
    ),
    el("div", { class: "members" }, ...members),
  );
}

async function select(group, name) {
  const res = await api(`/proxies/${encodeURIComponent(group)}`, {
    method: "PUT",
    body: JSON.stringify({ name }),
  });
  if (!res.ok) alert((await res.json()).message);
  await loadProxies();
}

async function testGroup(group, button) {
  button.disabled = true;
  button.textContent = "Testing…";
  try {
    const q = new URLSearchParams({ url: testUrl(), timeout: "5000" });
    const res = await api(`/group/${encodeURIComponent(group)}/delay?${q}`);
    const result = res.ok ? await res.json() : {};
    for (const tag of state.proxies[group]?.all ?? []) state.delays.set(tag, result[tag] ?? 0);
  } finally {
    await loadProxies();
  }
}

// ---- logs ----
function startLogs() {
  const level = $("#log-level").value;
  stream("logs", `/logs?level=${level}`, (entry) => {
    if (state.logPaused) return;
    const list = $("#log-lines");
    const time = new Date().toLocaleTimeString();
    list.prepend(el(
      "li",
      { class: entry.type },
      el("span", { class: "muted", text: `${time} ` }),
      el("span", { class: "lvl", text: entry.type }),
      entry.payload,
    ));
    while (list.children.length > 500) list.lastChild.remove();
  });
}
$("#log-level").addEventListener("change", startLogs);
$("#log-pause").addEventListener("click", (e) => {
  state.logPaused = !state.logPaused;
  e.currentTarget.textContent = state.logPaused ? "Resume" : "Pause";
});
$("#log-clear").addEventListener("click", () => $("#log-lines").replaceChildren());

// ---- rules ----
async function loadRules() {
  const { rules } = await getJson("/rules");
  $("#rule-list").replaceChildren(
    ...(rules ?? []).map((r) => el("li", { text: `${r.payload || "(any)"} => ${r.proxy}` })),
  );
}

// ---- start ----
async function start() {
  try {
    const v = await getJson("/version");
    $("#version").textContent = v.version;
    setStatus(true);
  } catch {
    return;
  }
  await loadConfig().catch(() => {});
  stream("connections", "/connections?interval=1000", onConnections);
  stream("traffic", "/traffic", onTraffic);
  stream("memory", "/memory", onMemory);
  state.ticker ??= setInterval(() => state.tab === "connections" && renderConnections(), 1000);
  showTab(location.hash.slice(1) || "overview");
}
addEventListener("hashchange", () => showTab(location.hash.slice(1) || "overview"));
start();
