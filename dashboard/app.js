/**
 * The sync dashboard: signs an operator in with supabase-js, then shows GET /sync/health, /sync/runs,
 * /sync/conflicts and the throughput of /sync/metrics, refreshing every 5 s. Admins (app_metadata.sync_role
 * "admin") get run controls; every write control carries `data-write`, and a viewer gets none (the API refuses
 * them anyway). Only ids, names, counts and messages are shown: never a row image.
 */
import config from "./config.js";
import { barChart, lineChart } from "./charts.js";

const REFRESH_MS = 5000;
const STATUS_COLOR = { succeeded: "#1a7f37", failed: "#c4320a", partial: "#b54708", cancelled: "#98a2b3" };
const client = globalThis.supabase.createClient(config.url, config.publishableKey);
const $ = (sel) => document.querySelector(`[data-test="${sel}"]`);
const num = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });

let role = null;
let timer = null;
let loading = false;

/** An element with attributes and children (text children are text nodes: nothing is parsed as HTML). */
function el(tag, attrs = {}, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "onclick") n.addEventListener("click", v);
    else if (v !== undefined && v !== null && v !== false) n.setAttribute(k, v === true ? "" : String(v));
  }
  n.append(...children.filter((c) => c !== undefined && c !== null).map((c) => c instanceof Node ? c : String(c)));
  return n;
}

/** Calls the sync function; throws with the API's error message. */
async function api(path, method = "GET", body) {
  const { data, error } = await client.functions.invoke(path, { method, body });
  if (error) {
    let message = error.message;
    try {
      message = (await error.context.json()).error?.message ?? message;
    } catch { /* not JSON */ }
    throw new Error(message);
  }
  return data;
}

function formatMs(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${num.format(ms)} ms`;
  if (ms < 120_000) return `${num.format(ms / 1000)} s`;
  return `${num.format(ms / 60_000)} min`;
}

function formatRate(r) {
  return r === null || r === undefined ? "—" : `${num.format(Number(r) * 100)} %`;
}

function ago(iso) {
  if (!iso) return "—";
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (Math.abs(s) < 90) return s >= 0 ? `${s} s ago` : `in ${-s} s`;
  const m = Math.round(s / 60);
  if (Math.abs(m) < 90) return m >= 0 ? `${m} min ago` : `in ${-m} min`;
  return new Date(iso).toLocaleString();
}

function time(iso) {
  return iso ? el("time", { datetime: iso, title: iso }, ago(iso)) : "—";
}

function durationMs(run) {
  return run.started_at && run.ended_at ? Date.parse(run.ended_at) - Date.parse(run.started_at) : null;
}

/** Rows a run wrote: inserted + updated + deleted over its entities. */
function rowsOf(run) {
  let rows = 0;
  for (const c of Object.values(run.counts ?? {})) {
    for (const k of ["inserted", "updated", "deleted"]) rows += Number(c?.[k] ?? 0);
  }
  return rows;
}

function setText(sel, text, title) {
  const n = $(sel);
  n.textContent = text;
  if (title) n.title = title;
}

function show(sel, text) {
  const n = $(sel);
  n.textContent = text ?? "";
  n.hidden = !text;
}

function renderHealth(h, throughput) {
  const status = $("status");
  status.textContent = h.status.replace("_", " ");
  status.dataset.status = h.status;
  $("last-run").replaceChildren(
    h.last_run
      ? el("span", {}, `#${h.last_run.id} ${h.last_run.status} · `, time(h.last_run.ended_at ?? h.last_run.started_at))
      : "—",
  );
  $("last-success").replaceChildren(
    h.last_success ? el("span", {}, `#${h.last_success.id} · `, time(h.last_success.ended_at)) : "—",
  );
  $("next-run").replaceChildren(time(h.next_run));
  setText("source", h.source ? `circuit ${h.source.circuit}, ${h.source.failures} failures` : "not connected");
  setText("backfill", h.backfill?.status === "none" ? "none" : `#${h.backfill.run_id} ${h.backfill.status}`);
  setText("lag-p50", formatMs(h.lag_ms?.p50));
  setText("lag-p99", formatMs(h.lag_ms?.p99));
  setText(
    "throughput",
    throughput === null ? "—" : `${num.format(throughput)}/s`,
    "rows per second, last successful run",
  );
  setText("success-24h", formatRate(h.success_rate.h24));
  setText("success-7d", formatRate(h.success_rate.d7));
  for (const k of ["pending", "parked", "quarantined", "conflicts"]) setText(`queue-${k}`, num.format(h.queue[k]));

  setText("alerts-count", String(h.alerts.length));
  $("alerts").replaceChildren(
    ...(h.alerts.length === 0 ? [el("li", { class: "empty" }, "No open alerts.")] : h.alerts.map((a) =>
      el(
        "li",
        { "data-test": "alert" },
        el("span", { class: `pill ${a.severity}` }, a.severity),
        el("b", {}, a.kind),
        el("span", {}, a.message),
        a.occurrences > 1 ? el("span", { class: "count" }, `×${a.occurrences}`) : null,
        el("span", { class: "when" }, time(a.last_seen_at)),
      )
    )),
  );

  $("chart-lag").replaceChildren(lineChart(
    h.trend.filter((t) => t.lag_p99_ms !== null).map((t) => ({
      value: Number(t.lag_p99_ms),
      label: new Date(t.hour).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
      title: `${t.hour}: lag p99 ${formatMs(Number(t.lag_p99_ms))}, ${t.runs} runs`,
    })),
    formatMs,
  ));
}

function runControls(run) {
  if (role !== "admin" || run.mode !== "backfill") return null;
  const act = (verb) =>
    el("button", {
      class: "small secondary",
      "data-write": true,
      "data-test": `run-${verb}`,
      onclick: () => control(`sync/runs/${run.id}/${verb}`, {}, `${verb} run ${run.id}`, verb === "cancel"),
    }, verb[0].toUpperCase() + verb.slice(1));
  return el(
    "span",
    {},
    run.status === "running" ? act("pause") : null,
    run.status === "paused" ? act("resume") : null,
    ["queued", "running", "paused"].includes(run.status) ? act("cancel") : null,
  );
}

function renderRuns(runs) {
  $("runs").tBodies[0].replaceChildren(...runs.map((r) => {
    const ms = durationMs(r);
    return el(
      "tr",
      { "data-test": "run" },
      el("td", { class: "num", "data-test": "run-id" }, r.id),
      el("td", {}, r.mode),
      el("td", {}, el("span", { class: `pill ${r.status}`, "data-test": "run-status" }, r.status)),
      el("td", {}, r.trigger),
      el("td", {}, time(r.started_at ?? r.created_at)),
      el("td", { class: "num" }, formatMs(ms)),
      el("td", { class: "num" }, num.format(rowsOf(r))),
      el("td", { class: "err", title: r.error ?? "" }, r.error ?? ""),
      el("td", {}, runControls(r)),
    );
  }));
  const old = [...runs].reverse().filter((r) => durationMs(r) !== null);
  const label = (r) => `#${r.id}`;
  $("chart-runs").replaceChildren(barChart(
    old.map((r) => ({
      value: durationMs(r),
      label: label(r),
      color: STATUS_COLOR[r.status],
      title: `#${r.id} ${r.mode} ${r.status}, ${formatMs(durationMs(r))}`,
    })),
    formatMs,
  ));
  $("chart-throughput").replaceChildren(barChart(
    old.filter((r) => r.mode !== "dry_run").map((r) => {
      const perS = rowsOf(r) / Math.max(durationMs(r) / 1000, 0.001);
      return { value: perS, label: label(r), title: `#${r.id} ${r.mode}: ${num.format(perS)} rows/s` };
    }),
    (n) => num.format(n),
  ));
}

function renderConflicts(page) {
  const more = page.next_cursor ? "+" : "";
  setText("conflicts-count", `${page.items.length}${more}`);
  $("conflicts").tBodies[0].replaceChildren(
    ...(page.items.length === 0
      ? [el("tr", {}, el("td", { colspan: 7, class: "empty" }, "No open conflicts."))]
      : page.items.map((c) =>
        // Only what identifies the conflict: an admin's page also carries the row images, never shown here.
        el(
          "tr",
          { "data-test": "conflict" },
          el("td", { class: "num" }, c.id),
          el("td", {}, c.entity),
          el("td", { class: "num" }, c.legacy_id),
          el("td", {}, c.op),
          el("td", {}, (c.columns ?? []).join(", ")),
          el("td", {}, c.strategy),
          el("td", {}, time(c.created_at)),
        )
      )),
  );
}

/** `sync_throughput_rows_per_second` from the Prometheus text of GET /sync/metrics. */
function throughputOf(metrics) {
  const m = String(metrics).match(/^sync_throughput_rows_per_second (\S+)$/m);
  return m ? Number(m[1]) : null;
}

async function refresh() {
  if (loading) return;
  loading = true;
  try {
    const [health, runs, conflicts, metrics] = await Promise.all([
      api("sync/health"),
      api("sync/runs?limit=50"),
      api("sync/conflicts?limit=20"),
      api("sync/metrics"),
    ]);
    renderHealth(health, throughputOf(metrics));
    renderRuns(runs.items);
    renderConflicts(conflicts);
    show("error", "");
    setText("updated", `Updated ${new Date().toLocaleTimeString()} · refreshes every ${REFRESH_MS / 1000} s`);
    if (!document.documentElement.dataset.firstRenderMs) {
      document.documentElement.dataset.firstRenderMs = String(Math.round(performance.now()));
    }
  } catch (e) {
    show("error", `Could not load: ${e.message}`);
  } finally {
    loading = false;
  }
}

/** A write: POST, say what happened, refresh now. */
async function control(path, body, what, confirmFirst = false) {
  if (confirmFirst && !confirm(`Really ${what}?`)) return;
  try {
    const run = await api(path, "POST", body);
    show("message", `${what}: run ${run.id} ${run.status}`);
  } catch (e) {
    show("message", `${what} refused: ${e.message}`);
  }
  await refresh();
}

function renderControls() {
  const box = document.getElementById("controls");
  box.replaceChildren();
  if (role !== "admin") return;
  box.append(
    el("button", {
      "data-write": true,
      "data-test": "run-now",
      onclick: () => control("sync/runs", { mode: "incremental" }, "Run now"),
    }, "Run now"),
    el("button", {
      class: "secondary",
      "data-write": true,
      "data-test": "backfill-start",
      onclick: () => control("sync/runs", { mode: "backfill" }, "start a backfill", true),
    }, "Backfill"),
  );
}

function signedIn(session) {
  role = session.user.app_metadata?.sync_role ?? null;
  setText("who", `${session.user.email} · ${role ?? "no role"}`);
  document.getElementById("sign-out").hidden = false;
  document.getElementById("signin").hidden = true;
  document.getElementById("main").hidden = false;
  renderControls();
  refresh();
  clearInterval(timer);
  timer = setInterval(refresh, REFRESH_MS);
}

function signedOut() {
  role = null;
  clearInterval(timer);
  setText("who", "");
  document.getElementById("sign-out").hidden = true;
  document.getElementById("main").hidden = true;
  document.getElementById("signin").hidden = false;
  renderControls();
}

document.getElementById("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = new FormData(ev.target);
  show("signin-error", "");
  const { data, error } = await client.auth.signInWithPassword({
    email: String(form.get("email")),
    password: String(form.get("password")),
  });
  ev.target.reset();
  if (error) show("signin-error", error.message);
  else signedIn(data.session);
});

document.getElementById("sign-out").addEventListener("click", async () => {
  await client.auth.signOut({ scope: "local" });
  signedOut();
});

// A session that ends (signed out elsewhere, or a refresh the auth server refused): back to the form.
client.auth.onAuthStateChange((event) => {
  if (event === "SIGNED_OUT") signedOut();
});

const { data } = await client.auth.getSession();
if (data.session) signedIn(data.session);
else signedOut();
