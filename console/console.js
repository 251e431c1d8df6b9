// The ccaas console: one small ES module over the v1 API, no build step, no CDN.
// Views (by URL hash): #/tasks, #/tasks/<id>, #/devices, #/reports, #/usage, #/coverage,
// #/search?q=, #/impact, #/compare?base=&head=.
// Everything the API returns is put in the page as text (textContent), never as HTML.

const PALETTE = ["#1f5fa8", "#b3541e", "#2f7d32", "#7b3fa0", "#a3162e", "#1d7a7a", "#6b5a00", "#4a4a9a", "#8a3b64", "#335c33"];
const OUTCOME = { succeeded: "#2f7d32", failed: "#a3162e" };
const TASK_REFRESH_MS = 2000;
const LIST_REFRESH_MS = 5000;
const SLOW_REFRESH_MS = 10000;

const state = { config: { api: "", auth: "off" }, token: null, timer: null, view: null, boot: Date.now() };
// Tests read this to tell a reload from a refresh: it changes only when the page loads.
window.ccaasConsole = { boot: state.boot, renders: 0 };

// ------------------------------------------------------------------ DOM helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  append(el, children);
  return el;
}

// Replaces an element's children; null, undefined and false children are left out.
function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

function main() { return document.getElementById("main"); }

function announce(text) {
  const a = document.getElementById("announce");
  if (a) a.textContent = text;
}

function badge(status) {
  return h("span", { class: `badge ${status}`, "data-status": status }, status);
}

function when(ts) {
  if (!ts) return "";
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return ts;
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

// Line totals: an end task's summary writes `covered`, usage points may write `hit`.
function covered(c) { return c ? (c.covered ?? c.hit ?? 0) : 0; }

function percent(c) {
  if (!c || !c.total) return "–";
  return `${(100 * covered(c) / c.total).toFixed(1)}%`;
}

function table(caption, head, rows, opts = {}) {
  return h("table", { class: opts.class || null },
    caption ? h("caption", { class: opts.showCaption ? null : "sr-only" }, caption) : null,
    h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col", class: c.num ? "num" : null }, c.label ?? c)))),
    h("tbody", {}, rows));
}

function errorBox(e) {
  const box = h("div", { class: "error", role: "alert" });
  if (e && e.body && e.body.error) {
    const err = e.body.error;
    append(box, [`${e.status} ${err.code}: ${err.message}`, err.field ? ` (field: ${err.field})` : ""]);
  } else {
    append(box, [String(e && e.message ? e.message : e)]);
  }
  if (e && e.status === 401) append(box, [" — sign in (top right) with a token."]);
  return box;
}

// ------------------------------------------------------------------ API

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error.message : `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

function apiUrl(path, params) {
  const base = state.config.api ? state.config.api.replace(/\/$/, "") : location.origin;
  const u = new URL(base + path);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== "" && v !== null && v !== undefined) u.searchParams.set(k, v);
  }
  return u;
}

async function api(path, params, opts = {}) {
  const headers = { accept: "application/json" };
  if (state.token) headers.authorization = `Bearer ${state.token}`;
  const r = await fetch(apiUrl(path, params), { headers, credentials: "omit", cache: "no-store" });
  if (opts.raw && r.ok) return r.text();
  let body = null;
  try { body = await r.json(); } catch (_) { body = null; }
  if (!r.ok) throw new ApiError(r.status, body);
  return body;
}

async function apiPost(path, body) {
  const headers = { accept: "application/json", "content-type": "application/json" };
  if (state.token) headers.authorization = `Bearer ${state.token}`;
  const r = await fetch(apiUrl(path), { method: "POST", headers, body: JSON.stringify(body), credentials: "omit", cache: "no-store" });
  let out = null;
  try { out = await r.json(); } catch (_) { out = null; }
  if (!r.ok) throw new ApiError(r.status, out);
  return out;
}

// ------------------------------------------------------------------ auth

const TOKEN_KEY = "ccaas.token";

function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part + "===".slice((part.length + 3) % 4)));
  } catch (_) {
    return {};
  }
}

function base64url(bytes) {
  let bin = "";
  for (const b of new Uint8Array(bytes)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function here() { return location.origin + location.pathname; }

// Cognito's hosted UI with the authorization code flow and PKCE (S256). crypto.subtle exists
// only in secure contexts (https, or http on localhost), which is also what Cognito allows
// as callback URLs.
async function cognitoLogin() {
  const c = state.config.cognito;
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const st = base64url(crypto.getRandomValues(new Uint8Array(16)));
  sessionStorage.setItem("ccaas.pkce", JSON.stringify({ verifier, state: st, hash: location.hash }));
  const u = new URL(c.domain.replace(/\/$/, "") + "/oauth2/authorize");
  u.search = new URLSearchParams({
    response_type: "code", client_id: c.client_id, redirect_uri: here(),
    scope: c.scopes || "openid", code_challenge_method: "S256", code_challenge: challenge, state: st,
  });
  location.assign(u);
}

async function cognitoReturn() {
  const q = new URLSearchParams(location.search);
  if (!q.has("code") && !q.has("error")) return;
  const saved = JSON.parse(sessionStorage.getItem("ccaas.pkce") || "null");
  sessionStorage.removeItem("ccaas.pkce");
  // The code leaves the address bar and the history at once.
  history.replaceState(null, "", here() + (saved && saved.hash ? saved.hash : "#/tasks"));
  if (q.has("error")) throw new Error(`sign-in refused: ${q.get("error")}`);
  if (!saved || saved.state !== q.get("state")) throw new Error("sign-in answer does not match the request (state); sign in again");
  const c = state.config.cognito;
  const r = await fetch(c.domain.replace(/\/$/, "") + "/oauth2/token", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code", client_id: c.client_id, code: q.get("code"),
      redirect_uri: here(), code_verifier: saved.verifier,
    }),
  });
  if (!r.ok) throw new Error(`the token endpoint answered ${r.status}`);
  const t = await r.json();
  setToken(t.access_token);
}

function setToken(t) {
  state.token = t || null;
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
  renderWho();
}

function renderWho() {
  const who = document.getElementById("who");
  who.replaceChildren();
  const mode = state.config.auth;
  if (mode === "off") {
    append(who, [h("span", {}, "auth off (local)")]);
    return;
  }
  if (state.token) {
    const c = claims(state.token);
    const name = c.username || c["cognito:username"] || c.email || c.sub || "signed in";
    const exp = c.exp ? ` until ${new Date(c.exp * 1000).toLocaleTimeString()}` : "";
    append(who, [h("span", {}, `${name}${exp}`),
      h("button", { type: "button", class: "plain", onclick: () => { setToken(null); route(); } }, "Sign out")]);
    return;
  }
  const form = h("form", { class: "login", onsubmit: (ev) => {
    ev.preventDefault();
    const v = form.querySelector("input").value.trim();
    if (v) { setToken(v); route(); }
  } },
  h("label", { for: "token" , class: "sr-only" }, "Bearer token"),
  h("input", { id: "token", type: "password", autocomplete: "off", placeholder: "paste a bearer token" }),
  h("button", { type: "submit" }, "Use token"));
  append(who, [form]);
  if (mode === "cognito" && state.config.cognito) {
    const secure = window.isSecureContext && window.crypto && crypto.subtle;
    append(who, [secure
      ? h("button", { type: "button", onclick: () => cognitoLogin().catch(showFatal) }, "Sign in")
      : h("span", { class: "note" }, "hosted sign-in needs https or localhost")]);
  }
}

// ------------------------------------------------------------------ router

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query || "") };
}

function setHash(view, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const next = `#/${view}${q.toString() ? "?" + q : ""}`;
  if (location.hash !== next) location.hash = next; else route();
}

function stopTimer() {
  if (state.timer) clearTimeout(state.timer);
  state.timer = null;
}

// Refreshes with `fn` every `ms` while this view is shown and the tab is visible.
function every(ms, fn) {
  stopTimer();
  const token = state.view;
  const tick = async () => {
    if (token !== state.view) return;
    if (document.visibilityState === "visible" && autoRefresh()) {
      try { await fn(); } catch (e) { /* shown by fn */ }
    }
    if (token === state.view) state.timer = setTimeout(tick, ms);
  };
  state.timer = setTimeout(tick, ms);
}

function autoRefresh() {
  const box = document.getElementById("auto");
  return !box || box.checked;
}

function refreshLine(label) {
  return h("p", { class: "status-line" },
    h("label", {}, h("input", { type: "checkbox", id: "auto", checked: true }), "Refresh automatically"),
    h("span", { id: "updated" }, label || ""));
}

function stamp() {
  const u = document.getElementById("updated");
  if (u) u.textContent = `Updated ${new Date().toLocaleTimeString()}`;
}

async function route() {
  stopTimer();
  const { parts, params } = parseHash();
  const view = parts[0] || "tasks";
  state.view = `${view}:${Date.now()}`;
  for (const a of document.querySelectorAll("nav a[data-view]")) {
    if (a.dataset.view === view) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  const m = main();
  m.replaceChildren();
  const views = { tasks: parts[1] ? () => taskPage(parts[1]) : () => tasksView(params),
    devices: devicesView, reports: reportsView, usage: () => usageView(params), coverage: () => coverageView(params),
    search: () => searchView(params), impact: impactView, compare: () => compareView(params) };
  const fn = views[view];
  if (!fn) { append(m, [h("h1", {}, "Not found"), h("p", {}, "No such view.")]); return; }
  try {
    await fn();
  } catch (e) {
    append(m, [errorBox(e)]);
  }
  window.ccaasConsole.renders += 1;
}

// ------------------------------------------------------------------ tasks

const STATUSES = ["pending", "running", "succeeded", "failed"];
const TYPES = ["code-coverage-start", "code-coverage-end", "code-coverage-discard", "code-coverage-merge"];

function field(label, input) {
  return h("label", {}, label, input);
}

function select(name, options, value) {
  return h("select", { name }, h("option", { value: "" }, "any"),
    options.map((o) => h("option", { value: o, selected: o === value }, o)));
}

function resultCell(t) {
  if (t.status === "failed" && t.error_code) return h("span", { class: "mono" }, t.error_code);
  if (t.link) {
    return h("a", { href: t.link }, t.lines ? `report · ${percent(t.lines)} lines` : "report");
  }
  return "";
}

async function tasksView(params) {
  const m = main();
  const filters = ["status", "user", "device", "type", "from", "to"];
  const form = h("form", { class: "bar", role: "search", "aria-label": "Filter tasks", onsubmit: (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    setHash("tasks", Object.fromEntries(filters.map((k) => [k, (f.get(k) || "").trim()])));
  } },
  field("Status", select("status", STATUSES, params.get("status"))),
  field("User", h("input", { name: "user", value: params.get("user") || "", size: 12 })),
  field("Device (host or host:port)", h("input", { name: "device", value: params.get("device") || "", size: 18 })),
  field("Type", select("type", TYPES, params.get("type"))),
  field("Created from", h("input", { name: "from", type: "date", value: params.get("from") || "" })),
  field("to", h("input", { name: "to", type: "date", value: params.get("to") || "" })),
  h("button", { type: "submit" }, "Filter"),
  h("button", { type: "button", class: "plain", onclick: () => setHash("tasks", {}) }, "Clear"));
  const holder = h("div", { id: "tasks" });
  append(m, [h("h1", {}, "Tasks"), form, refreshLine(), holder]);
  const query = {};
  for (const k of filters) if (params.get(k)) query[k] = params.get(k);
  query.limit = params.get("limit") || "25";
  const cursor = params.get("next");
  if (cursor) query.next = cursor;

  const draw = async () => {
    let page;
    try {
      page = await api("/v1/tasks", query);
    } catch (e) {
      fill(holder, errorBox(e));
      return;
    }
    const rows = page.collection.map((t) => h("tr", { "data-task": t.id },
      h("td", { class: "mono" }, when(t.timestamp)),
      h("td", {}, h("a", { href: `#/tasks/${encodeURIComponent(t.id)}` }, t.name || t.id)),
      h("td", {}, t.type.replace("code-coverage-", "")),
      h("td", {}, badge(t.status)),
      h("td", {}, t.user),
      h("td", { class: "mono" }, t.device || ""),
      h("td", {}, resultCell(t))));
    const total = page.total !== undefined ? `${page.total} tasks` : `${page.count} shown`;
    fill(holder, 
      table("Tasks, newest first", ["Created (UTC)", "Name", "Type", "Status", "User", "Device", "Result"], rows),
      page.count === 0 ? h("p", { class: "note" }, "No task matches.") : null,
      h("div", { class: "pager" },
        cursor ? h("button", { type: "button", class: "plain", onclick: () => {
          const p = Object.fromEntries(params); delete p.next; setHash("tasks", p);
        } }, "First page") : null,
        page.next ? h("button", { type: "button", onclick: () => {
          setHash("tasks", { ...Object.fromEntries(params), next: page.next });
        } }, "Next page") : null,
        h("span", { class: "note" }, total)));
    stamp();
  };
  await draw();
  // Only the first page refreshes: a later page's cursor is a fixed position.
  if (!cursor) every(LIST_REFRESH_MS, draw);
}

async function taskPage(id) {
  const m = main();
  const holder = h("div", { id: "task" });
  append(m, [h("p", {}, h("a", { href: "#/tasks" }, "← all tasks")), holder]);
  let shownStatus = null;
  const draw = async () => {
    const t = await api(`/v1/tasks/${encodeURIComponent(id)}`);
    const facts = h("dl", { class: "facts" });
    const add = (k, v) => { if (v !== undefined && v !== null && v !== "") append(facts, [h("dt", {}, k), h("dd", {}, v)]); };
    add("Status", badge(t.status));
    add("Type", t.type);
    add("User", t.user);
    add("Device", h("span", { class: "mono" }, t.port ? deviceOf(t.device, t.port) : t.device));
    add("Modules", t.modules.join(", "));
    add("Priority", t.priority);
    add("Created", when(t.timestamp));
    add("Updated", when(t.updated));
    if (t.session) add("Session", h("a", { href: `#/tasks/${t.session}` }, t.session));
    if (t.notify) add("Notifications", Object.entries(t.notify).map(([k, v]) => `${k}: ${v}`).join(", "));
    const parts = [h("h1", {}, t.name || "Task ", h("span", { class: "mono" }, t.name ? "" : t.id)),
      h("p", { class: "note mono" }, t.id), facts];
    if (t.error) {
      parts.push(h("h2", {}, "Error"), h("p", { class: "error", "data-error": t.error.code },
        h("span", { class: "mono" }, t.error.code), `: ${t.error.message}`));
    }
    if (t.result) parts.push(h("h2", {}, "Result"), resultView(t.result));
    if ((t.type === "code-coverage-end" || t.type === "code-coverage-merge") && t.status === "succeeded") {
      parts.push(h("p", {}, h("a", { href: `#/compare?head=${encodeURIComponent(t.id)}`, "data-compare": t.id }, "Compare with…")));
    }
    parts.push(h("h2", {}, "Command log"));
    const log = await logView(id);
    parts.push(log);
    fill(holder, ...parts);
    if (shownStatus !== null && shownStatus !== t.status) announce(`Task is now ${t.status}`);
    shownStatus = t.status;
    return t;
  };
  const t = await draw();
  if (!["succeeded", "failed"].includes(t.status)) {
    holder.before(refreshLine());
    const loop = async () => {
      let now;
      try { now = await draw(); } catch (e) { fill(holder, errorBox(e)); return; }
      stamp();
      if (["succeeded", "failed"].includes(now.status)) stopTimer();
    };
    every(TASK_REFRESH_MS, loop);
  }
}

function resultView(r) {
  const out = h("div", {});
  const facts = h("dl", { class: "facts" });
  const add = (k, v) => append(facts, [h("dt", {}, k), h("dd", {}, v)]);
  if (r.link) add("Report", h("a", { href: r.link }, r.link));
  if (r.summary) {
    for (const k of ["lines", "functions", "branches"]) {
      const c = r.summary[k];
      if (c) add(k[0].toUpperCase() + k.slice(1), `${covered(c)} of ${c.total} (${percent(c)})`);
    }
  }
  if (r.files) add("Machine formats", Object.entries(r.files).map(([k, v]) => [h("a", { href: v }, k), " "]));
  for (const k of ["session", "build", "started_at", "owner", "since", "took_over"]) if (r[k]) add(k, String(r[k]));
  if (r.modules) add("Modules", r.modules.join(", "));
  append(out, [facts]);
  if (r.warnings && r.warnings.length) {
    append(out, [h("h2", {}, "Warnings"), table("Warnings", ["Code", "Module", "Message"],
      r.warnings.map((w) => h("tr", {}, h("td", { class: "mono" }, w.code), h("td", {}, w.module || ""), h("td", {}, w.message))))]);
  }
  return out;
}

async function logView(id) {
  let text;
  try {
    text = await api(`/v1/tasks/${encodeURIComponent(id)}/log`, null, { raw: true });
  } catch (e) {
    if (e.status === 404) return h("p", { class: "note" }, "No device command has run yet.");
    return errorBox(e);
  }
  const rows = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    let r;
    try { r = JSON.parse(line); } catch (_) { continue; }
    rows.push(h("tr", {},
      h("td", { class: "mono" }, when(r.at)),
      h("td", { class: "mono" }, r.command),
      h("td", { class: "num" }, r.exit === null || r.exit === undefined ? "–" : r.exit),
      h("td", { class: "num" }, r.ms),
      h("td", {}, (r.stdout_tail || r.stderr_tail) ? h("details", {}, h("summary", {}, "output"),
        h("pre", { class: "log" }, [r.stdout_tail, r.stderr_tail].filter(Boolean).join("\n--- stderr\n"))) : "")));
  }
  if (!rows.length) return h("p", { class: "note" }, "No device command has run yet.");
  return table("Device commands", ["At (UTC)", "Command", { label: "Exit", num: true }, { label: "ms", num: true }, "Output"], rows);
}

// ------------------------------------------------------------------ devices and reports

function siteBase() {
  // The console is served at <site>/console/, so the site is one level up.
  return new URL("../", location.href);
}

// host:port, [address]:port for IPv6, as the API's task list and devices write it.
function deviceOf(host, port) {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

function deviceSlug(device) {
  // reports/latest/<slug>/ as the processor writes it: host:port -> host_port, IPv6 colons as '-'.
  const m = device.match(/^\[?([^\]]*?)\]?:(\d+)$/);
  if (!m) return null;
  return `${m[1].replace(/:/g, "-")}_${m[2]}`;
}

function latestLink(device) {
  const slug = deviceSlug(device);
  return slug ? new URL(`reports/latest/${slug}/`, siteBase()).href : null;
}

async function devicesView() {
  const m = main();
  const holder = h("div", { id: "devices" });
  append(m, [h("h1", {}, "Devices with an open session"), refreshLine(), holder]);
  const draw = async () => {
    let rows = [];
    let next = null;
    try {
      do {
        const page = await api("/v1/devices", next ? { limit: 100, next } : { limit: 100 });
        rows = rows.concat(page.collection);
        next = page.next;
      } while (next && rows.length < 1000);
    } catch (e) {
      fill(holder, errorBox(e));
      return;
    }
    fill(holder, rows.length
      ? table("Open sessions", ["Device", "Owner", "Since (UTC)", "Modules", "Session", "Latest report"],
        rows.map((d) => h("tr", { "data-device": d.device },
          h("td", { class: "mono" }, d.device),
          h("td", {}, d.owner ?? "(unknown)"),
          h("td", { class: "mono" }, when(d.since)),
          h("td", {}, (d.modules || []).join(", ")),
          h("td", {}, h("a", { href: `#/tasks/${d.session}` }, d.session)),
          h("td", {}, h("a", { href: latestLink(d.device) }, "latest")))))
      : h("p", { class: "note" }, "No device has an open session."));
    stamp();
  };
  await draw();
  every(SLOW_REFRESH_MS, draw);
}

async function reportsView() {
  const m = main();
  append(m, [h("h1", {}, "Latest report per device"),
    h("p", { class: "note" }, "Each device's “stable link” always opens its newest report; bookmark it. ",
      h("a", { href: siteBase().href }, "All reports"), " are on the report site.")]);
  const seen = new Map();
  let next = null;
  let pages = 0;
  do {
    const page = await api("/v1/tasks", { type: "code-coverage-end", status: "succeeded", limit: 100, next });
    for (const t of page.collection) if (t.device && !seen.has(t.device)) seen.set(t.device, t);
    next = page.next;
    pages += 1;
  } while (next && pages < 5);
  const rows = [...seen.values()].map((t) => h("tr", { "data-device": t.device },
    h("td", { class: "mono" }, t.device),
    h("td", {}, h("a", { href: latestLink(t.device) }, "stable link")),
    h("td", {}, t.link ? h("a", { href: t.link }, t.name || t.id) : ""),
    h("td", { class: "num" }, t.lines ? percent(t.lines) : "–"),
    h("td", {}, t.user),
    h("td", { class: "mono" }, when(t.updated || t.timestamp))));
  append(m, [rows.length
    ? table("Latest reports", ["Device", "Stable link", "Newest report", { label: "Lines", num: true }, "User", "Finished (UTC)"], rows)
    : h("p", { class: "note" }, "No end task has published a report yet."),
  pages >= 5 && next ? h("p", { class: "note" }, "Only the newest 500 reports were read.") : null]);
}

// ------------------------------------------------------------------ charts

function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const f of [1, 2, 2.5, 5, 10]) if (f * p >= v) return f * p;
  return 10 * p;
}

// A bar chart: `periods` on x, and per period one stack of `series` (counts, whole-number
// ticks) or, with `grouped`, the series side by side (amounts such as seconds).
function barChart(label, periods, series, grouped = false) {
  const W = 640, H = 240, L = 44, B = 40, T = 10, R = 10;
  const heights = periods.map((_, i) => grouped
    ? Math.max(0, ...series.map((sr) => sr.values[i] || 0))
    : series.reduce((a, sr) => a + (sr.values[i] || 0), 0));
  const top = Math.max(0, ...heights);
  const ticks = grouped ? 4 : Math.max(1, Math.min(4, Math.ceil(top)));
  const max = grouped ? niceMax(top) : Math.max(ticks, Math.ceil(top / ticks) * ticks);
  const bw = (W - L - R) / Math.max(1, periods.length);
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label });
  for (let k = 0; k <= ticks; k++) {
    const y = T + (H - T - B) * (1 - k / ticks);
    svg.append(s("line", { x1: L, x2: W - R, y1: y, y2: y, stroke: "#d8dee4" }),
      s("text", { x: L - 6, y: y + 4, "text-anchor": "end" }, String(+(max * k / ticks).toFixed(2))));
  }
  periods.forEach((p, i) => {
    let y = H - B;
    series.forEach((sr, j) => {
      const v = sr.values[i] || 0;
      if (!v) return;
      const hgt = (H - T - B) * v / max;
      const slot = grouped ? bw * 0.8 / series.length : bw * 0.7;
      const x = grouped ? L + i * bw + bw * 0.1 + j * slot : L + i * bw + bw * 0.15;
      if (grouped) y = H - B - hgt; else y -= hgt;
      svg.append(s("rect", { x, y, width: Math.max(1, slot), height: hgt, fill: sr.color },
        s("title", {}, `${p} · ${sr.name}: ${v}`)));
    });
    if (periods.length <= 16 || i % Math.ceil(periods.length / 16) === 0) {
      svg.append(s("text", { x: L + i * bw + bw / 2, y: H - B + 16, "text-anchor": "middle" }, p.slice(5)));
    }
  });
  return svg;
}

function legend(series) {
  return h("ul", { class: "legend" }, series.map((sr) => {
    const sw = h("span", { class: "swatch", "aria-hidden": "true" });
    sw.style.background = sr.color;
    return h("li", {}, sw, sr.name);
  }));
}

function figure(caption, chart, series, tableEl) {
  return h("figure", {}, h("figcaption", {}, caption), chart, series ? legend(series) : null,
    h("details", {}, h("summary", {}, "as a table"), tableEl));
}

function lineChart(label, points) {
  const W = 640, H = 240, L = 44, B = 40, T = 10, R = 14;
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label });
  for (let k = 0; k <= 4; k++) {
    const y = T + (H - T - B) * (1 - k / 4);
    svg.append(s("line", { x1: L, x2: W - R, y1: y, y2: y, stroke: "#d8dee4" }),
      s("text", { x: L - 6, y: y + 4, "text-anchor": "end" }, `${k * 25}%`));
  }
  if (!points.length) return svg;
  const t0 = points[0].t, t1 = points[points.length - 1].t;
  const x = (t) => L + (W - L - R) * (t1 === t0 ? 0.5 : (t - t0) / (t1 - t0));
  const y = (v) => T + (H - T - B) * (1 - v / 100);
  svg.append(s("polyline", { fill: "none", stroke: PALETTE[0], "stroke-width": 2,
    points: points.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ") }));
  for (const p of points) {
    svg.append(s("circle", { cx: x(p.t), cy: y(p.v), r: 3.5, fill: PALETTE[0] }, s("title", {}, `${p.label}: ${p.v.toFixed(1)}%`)));
  }
  svg.append(s("text", { x: L, y: H - B + 16 }, new Date(t0).toISOString().slice(0, 10)),
    s("text", { x: W - R, y: H - B + 16, "text-anchor": "end" }, new Date(t1).toISOString().slice(0, 10)));
  return svg;
}

// ------------------------------------------------------------------ usage

function isoDay(d) { return d.toISOString().slice(0, 10); }

// Every period of the range (days, or weeks starting on Monday, as the API counts them), so
// a quiet day shows as an empty bar rather than not at all. At most 400.
function allPeriods(from, to, interval) {
  const day = 86400000;
  let t = Date.parse(`${from.slice(0, 10)}T00:00:00Z`);
  const end = Date.parse(`${to.slice(0, 10)}T00:00:00Z`);
  if (interval === "week") t -= ((new Date(t).getUTCDay() + 6) % 7) * day;
  const step = interval === "week" ? 7 * day : day;
  const out = [];
  for (; t <= end && out.length < 400; t += step) out.push(isoDay(new Date(t)));
  return out;
}

async function usageView(params) {
  const m = main();
  const today = new Date();
  const from = params.get("from") || isoDay(new Date(today.getTime() - 29 * 86400000));
  const to = params.get("to") || isoDay(today);
  const interval = params.get("interval") || "day";
  const form = h("form", { class: "bar", "aria-label": "Usage range", onsubmit: (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    setHash("usage", { from: f.get("from"), to: f.get("to"), interval: f.get("interval") });
  } },
  field("From", h("input", { name: "from", type: "date", value: from })),
  field("To", h("input", { name: "to", type: "date", value: to })),
  field("Interval", h("select", { name: "interval" }, ["day", "week"].map((v) => h("option", { value: v, selected: v === interval }, v)))),
  h("button", { type: "submit" }, "Show"));
  const holder = h("div", { id: "usage" });
  append(m, [h("h1", {}, "Usage"), form, holder]);
  const q = { from, to, interval };
  const [byUser, byStatus] = await Promise.all([api("/v1/usage", { ...q, by: "user" }), api("/v1/usage", { ...q, by: "type" })]);
  const periods = allPeriods(byUser.from || from, byUser.to || to, interval);
  const users = [...new Set(byUser.buckets.map((b) => b.group))].sort();
  const at = (rows, g, p, k) => rows.filter((b) => b.group === g && b.period === p).reduce((a, b) => a + (b[k] || 0), 0);
  const userSeries = users.map((u, i) => ({ name: u, color: PALETTE[i % PALETTE.length], values: periods.map((p) => at(byUser.buckets, u, p, "requested")) }));
  const sum = (k) => periods.map((p) => byUser.buckets.filter((b) => b.period === p).reduce((a, b) => a + (b[k] || 0), 0));
  const outcomeSeries = [{ name: "succeeded", color: OUTCOME.succeeded, values: sum("succeeded") },
    { name: "failed", color: OUTCOME.failed, values: sum("failed") }];
  const codes = new Map();
  for (const f of byUser.failures || []) codes.set(f.code, (codes.get(f.code) || 0) + f.count);
  const codeList = [...codes.entries()].sort((a, b) => b[1] - a[1]);
  const charts = h("div", { class: "charts" },
    figure(`Tasks requested per ${interval}, by user`, barChart(`Tasks requested per ${interval} by user`, periods, userSeries), userSeries,
      table("Requested by user", ["Period", "User", { label: "Requested", num: true }, { label: "Succeeded", num: true }, { label: "Failed", num: true }],
        byUser.buckets.map((b) => h("tr", {}, h("td", {}, b.period), h("td", {}, b.group), h("td", { class: "num" }, b.requested), h("td", { class: "num" }, b.succeeded), h("td", { class: "num" }, b.failed))))),
    figure(`Outcomes per ${interval}`, barChart(`Finished tasks per ${interval} by outcome`, periods, outcomeSeries), outcomeSeries,
      table("Outcomes", ["Period", { label: "Succeeded", num: true }, { label: "Failed", num: true }],
        periods.map((p, i) => h("tr", {}, h("td", {}, p), h("td", { class: "num" }, outcomeSeries[0].values[i]), h("td", { class: "num" }, outcomeSeries[1].values[i]))))),
    figure("Duration p95 by task type, in seconds", durationChart(byStatus, periods), null,
      table("Durations", ["Period", "Type", { label: "p50 ms", num: true }, { label: "p95 ms", num: true }],
        byStatus.buckets.filter((b) => b.duration_ms).map((b) => h("tr", {}, h("td", {}, b.period), h("td", {}, b.group),
          h("td", { class: "num" }, b.duration_ms.p50), h("td", { class: "num" }, b.duration_ms.p95))))),
    figure("Failures by code", codeChart(codeList), null,
      table("Failures by code", ["Code", { label: "Failed tasks", num: true }],
        codeList.map(([c, n]) => h("tr", {}, h("td", { class: "mono" }, c), h("td", { class: "num" }, n))))));
  fill(holder, byUser.buckets.length ? charts : h("p", { class: "note" }, "No task in this range."),
    byUser.truncated ? h("p", { class: "note" }, "The range holds more rows than one answer gives: narrow it.") : null);
}

function durationChart(byType, periods) {
  const types = [...new Set(byType.buckets.map((b) => b.group))].sort();
  const series = [];
  types.forEach((t, i) => {
    const vals = periods.map((p) => {
      const b = byType.buckets.find((x) => x.group === t && x.period === p && x.duration_ms);
      return b ? b.duration_ms.p95 / 1000 : 0;
    });
    series.push({ name: t.replace("code-coverage-", ""), color: PALETTE[i % PALETTE.length], values: vals });
  });
  // Side by side: durations of different types do not add up.
  const fig = barChart("p95 duration in seconds per period by task type", periods, series, true);
  return h("div", {}, fig, legend(series));
}

function codeChart(codeList) {
  const W = 640, rowH = 22, L = 190, R = 40;
  const H = Math.max(40, codeList.length * rowH + 10);
  const max = Math.max(1, ...codeList.map((c) => c[1]));
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Failed tasks by error code" });
  codeList.forEach(([code, n], i) => {
    const y = 5 + i * rowH;
    const w = (W - L - R) * n / max;
    svg.append(s("text", { x: L - 8, y: y + 14, "text-anchor": "end" }, code),
      s("rect", { x: L, y: y + 3, width: Math.max(1, w), height: rowH - 8, fill: OUTCOME.failed }),
      s("text", { x: L + w + 5, y: y + 14 }, String(n)));
  });
  if (!codeList.length) svg.append(s("text", { x: 10, y: 24 }, "No failures in this range."));
  return svg;
}

// ------------------------------------------------------------------ coverage trend

async function coverageView(params) {
  const m = main();
  const device = params.get("device") || "";
  const build = params.get("build") || "";
  const form = h("form", { class: "bar", "aria-label": "Coverage trend of", onsubmit: (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const d = (f.get("device") || "").trim(), b = (f.get("build") || "").trim();
    setHash("coverage", d ? { device: d } : { build: b });
  } },
  field("Device (host:port)", h("input", { name: "device", value: device, size: 20 })),
  h("span", { class: "note" }, "or"),
  field("Build", h("input", { name: "build", value: build, size: 28 })),
  h("button", { type: "submit" }, "Show"));
  const holder = h("div", { id: "coverage" });
  append(m, [h("h1", {}, "Line coverage per session"), form, holder]);
  if (!device && !build) {
    append(holder, [h("p", { class: "note" }, "Name a device or a build to see the line coverage of each session it ran, oldest first.")]);
    return;
  }
  const r = await api("/v1/usage/coverage", device ? { device } : { build });
  const pts = r.points.map((p) => ({ t: Date.parse(p.finished), v: p.lines.total ? 100 * covered(p.lines) / p.lines.total : 0, label: `${p.name || p.task} (${when(p.finished)})` }));
  fill(holder, r.points.length ? h("div", {},
    h("div", { class: "trend" }, h("figure", {},
      h("figcaption", {}, `Line coverage of each session on ${device || build}`),
      lineChart(`Line coverage per session of ${device || build}`, pts))),
    table("Sessions", ["Finished (UTC)", "Name", "User", "Device", "Build", { label: "Lines", num: true }, "Report"],
      r.points.map((p) => h("tr", {},
        h("td", { class: "mono" }, when(p.finished)),
        h("td", {}, h("a", { href: `#/tasks/${encodeURIComponent(p.task)}` }, p.name || p.task)),
        h("td", {}, p.user || ""),
        h("td", { class: "mono" }, p.device || ""),
        h("td", { class: "mono" }, p.build || ""),
        h("td", { class: "num" }, `${covered(p.lines)}/${p.lines.total} (${percent(p.lines)})`),
        h("td", {}, h("a", { href: new URL(`reports/${encodeURIComponent(p.task)}/index.html`, siteBase()).href }, "report"))))),
    r.truncated ? h("p", { class: "note" }, "Only the newest 500 sessions are shown.") : null)
    : h("p", { class: "note" }, "No session with a report yet."));
}

// ------------------------------------------------------------------ search

// The snippet's text with its matched words marked: the API gives [start, end) UTF-8 byte
// offsets, so the text is cut as bytes and each piece decoded back.
function marked(snippet) {
  const bytes = new TextEncoder().encode(snippet.text);
  const dec = new TextDecoder();
  const out = [];
  let at = 0;
  for (const [a, b] of snippet.highlight || []) {
    if (a < at || b > bytes.length || a >= b) continue;
    out.push(dec.decode(bytes.slice(at, a)), h("mark", {}, dec.decode(bytes.slice(a, b))));
    at = b;
  }
  out.push(dec.decode(bytes.slice(at)));
  return out;
}

async function searchView(params) {
  const m = main();
  const q = params.get("q") || "";
  const quick = document.getElementById("quick-q");
  if (quick) quick.value = q;
  const form = h("form", { class: "bar", role: "search", "aria-label": "Search tasks", onsubmit: (ev) => {
    ev.preventDefault();
    setHash("search", { q: new FormData(form).get("q").trim() });
  } },
  field("Words, \"phrases\", user:, device:, status:, type:", h("input", { name: "q", type: "search", value: q, size: 48 })),
  h("button", { type: "submit" }, "Search"));
  const holder = h("div", { id: "search" });
  append(m, [h("h1", {}, "Search tasks"), form, holder]);
  const query = { q, limit: 20 };
  if (params.get("cursor")) query.cursor = params.get("cursor");
  let page;
  try {
    page = await api("/v1/search", query);
  } catch (e) {
    fill(holder, errorBox(e));
    return;
  }
  const hits = page.hits.map((hit) => h("li", { "data-hit": hit.id },
    h("div", { class: "hit-head" },
      h("a", { href: `#/tasks/${encodeURIComponent(hit.id)}` }, hit.name || hit.id),
      badge(hit.status), h("span", {}, hit.type.replace("code-coverage-", "")),
      h("span", {}, hit.user), h("span", { class: "mono" }, hit.device), h("span", { class: "mono note" }, when(hit.timestamp))),
    hit.snippet ? h("p", { class: "snippet" }, h("span", { class: "field" }, `${hit.snippet.field}:`), marked(hit.snippet)) : null));
  fill(holder,
    h("p", { class: "note", role: "status" }, `${page.total} matching task${page.total === 1 ? "" : "s"}`),
    hits.length ? h("ol", { class: "hits" }, hits) : h("p", { class: "note" }, "Nothing matches."),
    h("div", { class: "pager" },
      params.get("cursor") ? h("button", { type: "button", class: "plain", onclick: () => setHash("search", { q }) }, "First page") : null,
      page.next ? h("button", { type: "button", onclick: () => setHash("search", { q, cursor: page.next }) }, "Next page") : null));
}

// ------------------------------------------------------------------ impact

async function impactView() {
  const m = main();
  const holder = h("div", { id: "impact" });
  const form = h("form", { class: "bar", "aria-label": "Test impact of a diff", onsubmit: async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const body = { diff: f.get("diff") };
    for (const k of ["build", "device"]) if ((f.get(k) || "").trim()) body[k] = f.get(k).trim();
    fill(holder, h("p", { class: "note", role: "status" }, "Reading the sessions' coverage…"));
    try {
      fill(holder, impactResult(await apiPost("/v1/impact", body)));
    } catch (e) {
      fill(holder, errorBox(e));
    }
  } },
  h("label", { class: "wide" }, "Unified diff (git diff, diff -u)", h("textarea", { name: "diff", required: true, spellcheck: "false" })),
  field("Build (default: the newest indexed)", h("input", { name: "build", size: 28 })),
  field("Device (host or host:port)", h("input", { name: "device", size: 20 })),
  h("button", { type: "submit" }, "Find the sessions"));
  append(m, [h("h1", {}, "Test impact of a change"),
    h("p", { class: "note" }, "Paste a diff: the coverage sessions that ran its changed lines, ranked, and the changed lines no session ran."),
    form, holder]);
}

function impactResult(r) {
  const sessions = r.sessions.map((x) => h("tr", { "data-session": x.session },
    h("td", {}, h("a", { href: `#/tasks/${encodeURIComponent(x.task)}` }, x.name || x.task)),
    h("td", {}, x.user), h("td", { class: "mono" }, x.device), h("td", { class: "mono" }, x.build),
    h("td", { class: "num" }, x.lines_hit),
    h("td", { class: "mono" }, h("a", { href: `#/tasks/${encodeURIComponent(x.session)}` }, x.session))));
  return h("div", {},
    h("p", { role: "status" }, `${r.changed_lines} changed line${r.changed_lines === 1 ? "" : "s"}; ${r.sessions_read} session${r.sessions_read === 1 ? "" : "s"} of build `,
      h("span", { class: "mono" }, r.build || "(none indexed yet)"), " read."),
    h("h2", {}, "Sessions that ran changed lines"),
    sessions.length
      ? table("Sessions, most changed lines first", ["End task", "User", "Device", "Build", { label: "Lines hit", num: true }, "Session"], sessions)
      : h("p", { class: "note" }, "No session ran a changed line."),
    h("h2", {}, "Changed lines no session ran"),
    r.uncovered.length
      ? table("Uncovered changed lines", ["File", "Lines"], r.uncovered.map((u) => h("tr", { "data-file": u.file },
        h("td", { class: "mono" }, u.file), h("td", { class: "mono" }, u.lines.join(", ")))))
      : h("p", { class: "note" }, "None."));
}

// ------------------------------------------------------------------ compare

// The report's base URL ("…/reports/<id>/") from an end task's result link.
function reportBase(result) {
  return result && result.link ? result.link.replace(/index\.html$/, "") : null;
}

// Path → file page ("f/<i>.html") of a report, from its summary.json (files in path order, the
// order the report numbers its file pages in); empty when it cannot be read.
async function filePages(base) {
  const pages = new Map();
  if (!base) return pages;
  try {
    const r = await fetch(new URL("summary.json", new URL(base, location.href)), { credentials: "omit", cache: "no-store" });
    if (!r.ok) return pages;
    const s = await r.json();
    (s.files || []).forEach((f, i) => pages.set(f.path, `f/${i}.html`));
  } catch (_) { /* the lines show without links */ }
  return pages;
}

// Line numbers as links to `page#L<n>` of a report (plain text without a page).
function lineLinks(lines, base, page, label) {
  const out = [];
  lines.forEach((n, i) => {
    if (i) out.push(", ");
    out.push(base && page ? h("a", { href: `${base}${page}#L${n}`, "aria-label": `${label} line ${n}` }, String(n)) : String(n));
  });
  return out;
}

// Sorted line numbers as ranges: [3, 4, 5, 9] → "3-5,9".
function lineRanges(lines) {
  const out = [];
  for (let i = 0; i < lines.length; i++) {
    let j = i;
    while (j + 1 < lines.length && lines[j + 1] === lines[j] + 1) j++;
    out.push(j > i ? `${lines[i]}-${lines[j]}` : String(lines[i]));
    i = j;
  }
  return out.join(",");
}

function signed(x, digits) {
  const v = Number(x || 0);
  return `${v > 0 ? "+" : ""}${digits === undefined ? v : v.toFixed(digits)}`;
}

async function compareView(params) {
  const m = main();
  const base = (params.get("base") || "").trim();
  const head = (params.get("head") || "").trim();
  const form = h("form", { class: "bar", "aria-label": "Compare two sessions", onsubmit: (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    setHash("compare", { base: f.get("base").trim(), head: f.get("head").trim() });
  } },
  field("Base (end or merge task id)", h("input", { name: "base", value: base, size: 30, required: true, list: "compare-ends", class: "mono" })),
  field("Head (end or merge task id)", h("input", { name: "head", value: head, size: 30, required: true, list: "compare-ends", class: "mono" })),
  h("button", { type: "submit" }, "Compare"));
  const holder = h("div", { id: "compare" });
  append(m, [h("h1", {}, "Compare two sessions"),
    h("p", { class: "note" }, "Two succeeded end or merge tasks of one build: the lines the head newly covered and the lines it lost against the base, per file, each linked to its line in the report; \u201cdelta in report\u201d opens the head's file page with both marked."),
    form, holder]);
  // The newest succeeded end tasks, offered as choices.
  try {
    const recent = await api("/v1/tasks", { type: "code-coverage-end", status: "succeeded", limit: 50 });
    form.append(h("datalist", { id: "compare-ends" }, recent.collection.map((t) =>
      h("option", { value: t.id }, `${t.name || "(no name)"} · ${t.user} · ${t.device} · ${when(t.timestamp)}`))));
  } catch (_) { /* the inputs still take an id */ }
  if (!base || !head) {
    fill(holder, h("p", { class: "note" }, "Pick the base and the head."));
    return;
  }
  fill(holder, h("p", { class: "note", role: "status" }, "Reading both sessions' coverage…"));
  const query = { base, head, limit: 100 };
  if (params.get("cursor")) query.cursor = params.get("cursor");
  let r, bt, ht;
  try {
    [r, bt, ht] = await Promise.all([api("/v1/compare", query),
      api(`/v1/tasks/${encodeURIComponent(base)}`), api(`/v1/tasks/${encodeURIComponent(head)}`)]);
  } catch (e) {
    fill(holder, errorBox(e));
    return;
  }
  const [bBase, hBase] = [reportBase(bt.result), reportBase(ht.result)];
  const [bPages, hPages] = await Promise.all([
    r.files.some((f) => f.lost.length) ? filePages(bBase) : new Map(), filePages(hBase)]);
  const sideRow = (label, s, link) => h("tr", { "data-side": label },
    h("th", { scope: "row" }, label),
    h("td", {}, h("a", { href: `#/tasks/${encodeURIComponent(s.task)}` }, s.name || s.task)),
    h("td", {}, s.user), h("td", { class: "mono" }, s.device),
    h("td", { class: "num" }, `${s.lines.covered} of ${s.lines.total}`),
    h("td", { class: "num" }, `${s.lines.percent.toFixed(2)}%`),
    h("td", {}, link ? h("a", { href: `${link}index.html` }, "report") : ""));
  const d = r.delta;
  // The head report's file page with this file's delta marked (report.js reads the fragment).
  const deltaLink = (f) => {
    const page = hPages.get(f.file);
    if (!hBase || !page) return "";
    const first = f.newly_covered[0] || f.lost[0];
    const frag = `delta:base=${encodeURIComponent(r.base.task)}&new=${lineRanges(f.newly_covered)}&lost=${lineRanges(f.lost)}&line=${first}`;
    return h("a", { href: `${hBase}${page}#${frag}`, class: "delta-link", "aria-label": `${f.file} in the head report with the delta marked` }, "delta in report");
  };
  const rows = r.files.map((f) => h("tr", { "data-file": f.file },
    h("td", { class: "mono" }, f.file),
    h("td", { class: "num" }, String(f.newly_covered_count)),
    h("td", { class: "mono lines new" }, lineLinks(f.newly_covered, hBase, hPages.get(f.file), "head"),
      f.newly_covered.length < f.newly_covered_count ? " …" : ""),
    h("td", { class: "num" }, String(f.lost_count)),
    h("td", { class: "mono lines lost" }, lineLinks(f.lost, bBase, bPages.get(f.file), "base"),
      f.lost.length < f.lost_count ? " …" : ""),
    h("td", {}, deltaLink(f))));
  fill(holder,
    h("p", { class: "note" }, "Build ", h("span", { class: "mono" }, r.base.build)),
    table("Both sessions", ["", "End task", "User", "Device", { label: "Lines", num: true }, { label: "Percent", num: true }, "Report"],
      [sideRow("Base", r.base, bBase), sideRow("Head", r.head, hBase)]),
    h("p", { role: "status", class: "delta" },
      `Head against base: ${signed(d.percent, 2)} points, ${signed(d.covered)} lines covered — `,
      `${d.newly_covered} newly covered, ${d.lost} lost, in ${d.files_changed} file${d.files_changed === 1 ? "" : "s"}.`),
    rows.length
      ? table("Changed files", ["File", { label: "New", num: true }, "Newly covered lines (head)", { label: "Lost", num: true }, "Lost lines (base)", "Head report"], rows)
      : h("p", { class: "note" }, "Both sessions ran the same lines."),
    r.lines_truncated ? h("p", { class: "note" }, "Some files list only their first 2,000 lines (the counts are exact).") : null,
    h("div", { class: "pager" },
      params.get("cursor") ? h("button", { type: "button", class: "plain", onclick: () => setHash("compare", { base, head }) }, "First page") : null,
      r.next ? h("button", { type: "button", onclick: () => setHash("compare", { base, head, cursor: r.next }) }, "Next page") : null));
}

// ------------------------------------------------------------------ start

function showFatal(e) {
  fill(main(), errorBox(e));
}

async function start() {
  try {
    const r = await fetch("config.json", { cache: "no-store" });
    if (r.ok) state.config = { ...state.config, ...(await r.json()) };
  } catch (_) { /* defaults: same-origin API, auth off */ }
  state.token = sessionStorage.getItem(TOKEN_KEY);
  try {
    await cognitoReturn();
  } catch (e) {
    renderWho();
    showFatal(e);
    return;
  }
  renderWho();
  window.addEventListener("hashchange", route);
  document.getElementById("quick-search").addEventListener("submit", (ev) => {
    ev.preventDefault();
    setHash("search", { q: document.getElementById("quick-q").value.trim() });
  });
  // The skip link moves focus to the content; the hash belongs to the views.
  document.querySelector(".skip").addEventListener("click", (ev) => { ev.preventDefault(); main().focus(); });
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") stamp(); });
  if (!location.hash) history.replaceState(null, "", "#/tasks");
  await route();
}

start();
