/**
 * `deno task bench [--scale 0.1] [--only <measure>] [--seconds 20] [--rate 500] [--compare-capture <file>]`: the performance
 * measures of quality.md, each as a ratio against a reference measured in the same run, on a stack of its own
 * (port 54622 or SYNC_BENCH_DB_PORT, `.stack/bench`, durable settings like production). `--compare-capture` installs
 * another capture version beside the current one (tests/fixtures/capture_v1.sql, renamed into schema
 * sync_capture_cmp) and interleaves it into the capture-overhead runs (off / that version / current). Prints one table and writes
 * bench/results/latest.json (and a dated copy): [{measure, value, unit, reference, ratio, bar, pass}].
 */
import postgres from "postgres";
import { option, taskArgs } from "./lib/args.ts";
import { buildLegacy } from "./lib/legacy.ts";
import { psql, withDatabase } from "./lib/psql.ts";
import { installSource, setupTarget } from "./lib/setup.ts";
import { paths, ROOT, type StackSpec, start } from "./lib/stack.ts";
import { runStream } from "./lib/stream.ts";
import { createClient } from "@supabase/supabase-js";
import { freePort, startGateway } from "./lib/gateway.ts";
import { makeKeys } from "./lib/keys.ts";

const BENCH: StackSpec = { name: "bench", port: Number(Deno.env.get("SYNC_BENCH_DB_PORT") ?? 54622), fast: false };
const args = taskArgs();
const scale = Number(option(args, "scale", "0.1"));
const only = option(args, "only");
const seconds = Number(option(args, "seconds", "20"));
const compareCapture = option(args, "compare-capture");

/** One measure of the table. */
interface Result {
  measure: string;
  value: number;
  unit: string;
  reference: number;
  ratio: number;
  bar: string;
  pass: boolean;
}
const results: Result[] = [];
const want = (m: string) => !only || m.startsWith(only);

await start(BENCH);
const admin = paths(BENCH).dbUrl;
const legacyUrl = withDatabase(admin, "bench_legacy");
const targetUrl = withDatabase(admin, "bench_target");
for (const db of ["bench_legacy", "bench_target"]) {
  await psql(admin, { command: `drop database if exists ${db} with (force)` });
  await psql(admin, { command: `create database ${db}` });
}
console.log(`generating the legacy database at scale ${scale} ...`);
await buildLegacy(legacyUrl, scale, 42);
await installSource(legacyUrl);
await setupTarget(targetUrl);
const u = new URL(legacyUrl);
const conninfo = `host=${u.hostname} port=${u.port} dbname=bench_legacy user=${u.username} password=${u.password}`;
const target = postgres(targetUrl, { max: 2, onnotice: () => {} });
const [{ c }] = await target`select sync.connect_source(${conninfo}) as c`;
if (!c.connected) throw new Error(`connect_source failed: ${c.error.message}`);

if (want("backfill")) {
  console.log("backfill (end to end) ...");
  const t0 = performance.now();
  const [{ summary }] = await target`call sync.backfill(null, null)`;
  const secs = (performance.now() - t0) / 1000;
  const rows = Number(summary.progress.done);
  const rate = rows / secs;
  console.log("plain set-based transform of the same rows (reference) ...");
  await target.unsafe(`drop schema if exists bench_src cascade; create schema bench_src;
    drop schema if exists bench_plain cascade; create schema bench_plain;
    create table bench_plain.rows (id uuid not null, entity text not null, legacy_id bigint not null, data jsonb not null)`);
  const ents = await target`select name, split_part(source_table, '.', 2) as t, source_pk from sync.entities`;
  for (const e of ents) await target.unsafe(`create table bench_src.${e.t} as select * from sync_src.${e.t}`);
  const p0 = performance.now();
  const plainMs: Record<string, number> = {};
  for (const e of ents) {
    const e0 = performance.now();
    await target.unsafe(
      `insert into bench_plain.rows select extensions.uuid_generate_v5('5b0e3c2a-8f4d-4e71-9c6a-1d2f3e4a5b6c', '${e.name}:' || s.${e.source_pk}),
              '${e.name}', s.${e.source_pk}, to_jsonb(s) from bench_src.${e.t} s`,
    );
    plainMs[e.name] = performance.now() - e0;
  }
  const plainRate = rows / ((performance.now() - p0) / 1000);
  // Per entity: rows/s and MB/s of source rows (quality.md: >= 20k rows/s or >= 50 MB/s, whichever the row width
  // makes binding), against the plain transform of the same entity.
  const legacySql = postgres(legacyUrl, { max: 1, onnotice: () => {} });
  const progress = summary.progress.entities as Record<string, { done: number; ms: number }>;
  for (const e of ents) {
    const pr = progress[e.name];
    if (!pr || !pr.done || !pr.ms) continue;
    const [{ bytes }] = await legacySql.unsafe(
      `select coalesce(sum(pg_column_size(s.*)), 0)::bigint as bytes from ${e.t} s`,
    );
    const perS = pr.done / (pr.ms / 1000);
    const mbPerS = Number(bytes) / 1e6 / (pr.ms / 1000);
    const plain = pr.done / (plainMs[e.name] / 1000);
    results.push({
      measure: `backfill_${e.name}`,
      value: Math.round(perS),
      unit: "rows/s",
      reference: Math.round(plain),
      ratio: round(perS / plain),
      bar: `${pr.done} rows, ${round(Number(bytes) / 1e6)} MB, ${round(mbPerS)} MB/s; >= 20000 rows/s or >= 50 MB/s`,
      pass: perS >= 20000 || mbPerS >= 50,
    });
  }
  await legacySql.end();
  results.push({
    measure: "backfill_rows_per_s",
    value: Math.round(rate),
    unit: "rows/s",
    reference: Math.round(plainRate),
    ratio: round(rate / plainRate),
    bar: ">= 20000 rows/s and >= 0.5 x plain",
    pass: rate >= 20000 && rate / plainRate >= 0.5,
  });
  await target.unsafe(`drop schema bench_src cascade; drop schema bench_plain cascade`);
}

if (want("verify")) {
  // Verification at this scale: the cheap check that rides on every run that applied rows, and the deep check
  // (every source row read and transformed again), against the backfill of the same rows as the reference.
  let backfillRate = results.find((r) => r.measure === "backfill_rows_per_s")?.value;
  if (!backfillRate) {
    console.log("backfill (the verification's reference) ...");
    const t0 = performance.now();
    const [{ summary }] = await target`call sync.backfill(null, null)`;
    backfillRate = Math.round(Number(summary.progress.done) / ((performance.now() - t0) / 1000));
  }
  await target.unsafe("analyze");
  console.log("verification: cheap, then deep ...");
  let t0 = performance.now();
  // What rides on every run that applied rows: a drift sample of 50 per entity (here every entity), no repair.
  await target`select sync._verify(null, false, null, 50, false, true)`;
  const lightMs = performance.now() - t0;
  t0 = performance.now();
  const [{ v: cheap }] = await target`select sync.verify(false) as v`;
  const cheapMs = performance.now() - t0;
  t0 = performance.now();
  const [{ v: deep }] = await target`select sync.verify(true) as v`;
  const deepSecs = (performance.now() - t0) / 1000;
  const rows = Object.values(deep.entities as Record<string, { counts: { source: number } }>)
    .reduce((n, e) => n + e.counts.source, 0);
  const deepRate = rows / deepSecs;
  results.push({
    measure: "verify_after_run_ms",
    value: Math.round(lightMs),
    unit: "ms",
    reference: Math.round(rows / backfillRate * 1000),
    ratio: round((rows / backfillRate * 1000) / lightMs),
    bar: "drift sample of every entity; rides on each run that applied rows",
    pass: true,
  });
  results.push({
    measure: "verify_cheap_ms",
    value: Math.round(cheapMs),
    unit: "ms",
    reference: Math.round(rows / backfillRate * 1000),
    ratio: round((rows / backfillRate * 1000) / cheapMs),
    bar: `manual check: counts, integrity, drift sample; ok=${cheap.ok}; reference: the backfill of the same rows`,
    pass: cheap.ok === true,
  });
  results.push({
    measure: "verify_deep_rows_per_s",
    value: Math.round(deepRate),
    unit: "rows/s",
    reference: backfillRate,
    ratio: round(deepRate / backfillRate),
    bar: `${rows} rows in ${deepSecs.toFixed(1)} s; ok=${deep.ok}; daily`,
    pass: deep.ok === true,
  });
}

if (want("steady")) {
  if (!want("backfill")) {
    console.log("backfill (not measured: the steady state starts from a synced target) ...");
    await target`call sync.backfill(null, null)`;
  }
  console.log(`steady state: live stream for ${seconds} s while ticking ...`);
  const streamRate = Number(option(args, "rate", "500"));
  const ac = new AbortController();
  setTimeout(() => ac.abort(), seconds * 1000);
  const t0 = Date.now();
  const stream = runStream(legacyUrl, { rate: streamRate, clients: 4, signal: ac.signal });
  let applied = 0;
  while (!ac.signal.aborted) {
    const [{ summary }] = await target`call sync.tick(1, null)`;
    applied += Number(summary.rows ?? 0);
    await new Promise((r) => setTimeout(r, 100));
  }
  const st = await stream;
  const [{ summary: last }] = await target`call sync.tick(30, null)`;
  applied += Number(last.rows ?? 0);
  const [lag] = await target`select percentile_cont(0.5) within group (order by l) as p50,
                                    percentile_cont(0.99) within group (order by l) as p99
                               from (select extract(epoch from applied_at - captured_at) as l from sync.inbox
                                      where batch_id is not null and applied_at >= to_timestamp(${t0 / 1000})) x`;
  const changesPerS = applied / seconds;
  results.push({
    measure: "steady_changes_per_s",
    value: Math.round(changesPerS),
    unit: "changes/s",
    reference: Math.round(st.total / seconds),
    ratio: round(changesPerS / Math.max(st.total / seconds, 1)),
    bar: "keeps up with the stream (reference: legacy transactions/s)",
    pass: Number(lag.p99) <= 5,
  });
  results.push({
    measure: "steady_lag_p50_ms",
    value: Math.round(Number(lag.p50) * 1000),
    unit: "ms",
    reference: 1000,
    ratio: round(Number(lag.p50)),
    bar: "<= 1000 ms",
    pass: Number(lag.p50) <= 1,
  });
  results.push({
    measure: "steady_lag_p99_ms",
    value: Math.round(Number(lag.p99) * 1000),
    unit: "ms",
    reference: 5000,
    ratio: round(Number(lag.p99) / 5),
    bar: "<= 5000 ms",
    pass: Number(lag.p99) <= 5,
  });
}

if (want("naive")) {
  console.log("naive row-by-row apply vs the set-based applier (same 2000 profile changes) ...");
  const n = 2000;
  await target`delete from sync.inbox where entity = 'profiles'`;
  const images = await target`select to_jsonb(u) as img from sync_src.auth_user u order by id limit ${n}`;
  // Naive: one round trip per change, as the seeds sketched (lookup, then upsert).
  await target.unsafe(
    `drop table if exists public.naive_profiles; create table public.naive_profiles (like public.profiles including all)`,
  );
  const n0 = performance.now();
  for (const { img } of images) {
    const [m] = await target`select target_id from sync.id_map where entity = 'profiles' and legacy_id = ${img.id}`;
    await target`insert into public.naive_profiles (id, legacy_user_id, username, email, first_name, last_name, full_name, role,
                   is_active, date_joined, last_login, created_at, updated_at)
                 values (${m?.target_id ?? crypto.randomUUID()}, ${img.id}, ${img.username}, ${img.email || null},
                         ${img.first_name || null}, ${img.last_name || null}, ${
      `${img.first_name} ${img.last_name}`.trim() || null
    },
                         ${
      img.is_superuser ? "admin" : img.is_staff ? "staff" : "user"
    }, ${img.is_active}, ${img.date_joined},
                         ${img.last_login}, ${img.date_joined}, now())
                 on conflict (id) do update set username = excluded.username`;
  }
  const naiveRate = n / ((performance.now() - n0) / 1000);
  await target`insert into sync.inbox (entity, legacy_id, op, image, source_version, captured_at)
               select 'profiles', (img ->> 'id')::bigint, 'upsert', img || '{"username": "changed"}', 999999999, now()
                 from (select to_jsonb(u) as img from sync_src.auth_user u order by id limit ${n}) x`;
  const s0 = performance.now();
  await target`select sync._apply_entity('profiles', null)`;
  const setRate = n / ((performance.now() - s0) / 1000);
  await target.unsafe(`drop table public.naive_profiles`);
  results.push({
    measure: "apply_vs_naive",
    value: Math.round(setRate),
    unit: "changes/s",
    reference: Math.round(naiveRate),
    ratio: round(setRate / naiveRate),
    bar: ">= 50 x row-by-row",
    pass: setRate / naiveRate >= 50,
  });
}

if (want("isolation")) {
  console.log(
    "apply with per-entity savepoints and failure isolation vs one bare pass (same 2000 profile changes) ...",
  );
  const n = 2000;
  /** Queues the same n profile changes (a new username each round) and applies them; changes/s. */
  const apply = async (k: number, isolated: boolean) => {
    await target`delete from sync.inbox where entity = 'profiles'`;
    await target`insert into sync.inbox (entity, legacy_id, op, image, source_version, captured_at)
                 select 'profiles', (img ->> 'id')::bigint, 'upsert', img || jsonb_build_object('username', 'r' || ${k}::text || '_' || (img ->> 'id')),
                        999999999 + ${k}::bigint, now()
                   from (select to_jsonb(u) as img from sync_src.auth_user u order by id limit ${n}) x`;
    const t0 = performance.now();
    if (isolated) await target`select sync._apply_entity('profiles', null)`;
    else await target`select sync._apply_work('profiles', null, sync._apply_prepare('profiles', null))`;
    return n / ((performance.now() - t0) / 1000);
  };
  await apply(0, false); // first round inserts; the measured ones update
  const bare: number[] = [];
  const isolated: number[] = [];
  for (let k = 1; k <= 6; k++) (k % 2 ? bare : isolated).push(await apply(k, k % 2 === 0));
  for (let k = 7; k <= 12; k++) (k % 2 ? isolated : bare).push(await apply(k, k % 2 === 1));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  results.push({
    measure: "apply_isolation",
    value: Math.round(mean(isolated)),
    unit: "changes/s",
    reference: Math.round(mean(bare)),
    ratio: round(mean(isolated) / mean(bare)),
    bar: "report (savepoint cost)",
    pass: true,
  });
  // One refused row among the n: bisected down to it, everything else applied.
  await target`alter table public.profiles add constraint bench_refuse check (username <> 'refused') not valid`;
  await target`delete from sync.inbox where entity = 'profiles'`;
  await target`insert into sync.inbox (entity, legacy_id, op, image, source_version, captured_at)
               select 'profiles', (img ->> 'id')::bigint, 'upsert',
                      img || jsonb_build_object('username', case when rn = ${
    n / 2
  } then 'refused' else 'z_' || (img ->> 'id') end),
                      999999999 + 100, now()
                 from (select to_jsonb(u) as img, row_number() over (order by id) as rn from sync_src.auth_user u
                        order by id limit ${n}) x`;
  const t0 = performance.now();
  const [{ counts }] = await target`select sync._apply_entity('profiles', null) as counts`;
  const oneBad = n / ((performance.now() - t0) / 1000);
  await target`alter table public.profiles drop constraint bench_refuse`;
  results.push({
    measure: "apply_isolation_one_refused",
    value: Math.round(oneBad),
    unit: "changes/s",
    reference: Math.round(mean(bare)),
    ratio: round(oneBad / mean(bare)),
    bar: `report (${JSON.stringify(counts)})`,
    pass: counts.quarantined === 1,
  });
}

if (want("capture")) {
  console.log(`capture overhead (interleaved runs: capture off${compareCapture ? ", compared version" : ""}, on) ...`);
  const legacy = postgres(legacyUrl, { max: 4, onnotice: () => {} });
  const ids = (await legacy`select id from dispatch_patient order by id limit 2000`).map((r) => r.id);
  /** Units of work per second from 4 clients for `ms`; `unit(client, n)` runs one. */
  const rate = async (ms: number, unit: (client: number, n: number) => Promise<unknown>) => {
    const end = performance.now() + ms;
    let n = 0;
    await Promise.all([0, 1, 2, 3].map(async (client) => {
      while (performance.now() < end) await unit(client, n++);
    }));
    return n / (ms / 1000);
  };
  /**
   * Mean rate per state (each set up by its function), interleaved three times (the noise here is ±20 %), the
   * order rotated each round so that no state always runs first or last.
   */
  const interleaved = async (
    states: Record<string, () => Promise<unknown>>,
    unit: (c: number, n: number) => Promise<unknown>,
  ) => {
    const sum: Record<string, number> = {};
    const all = Object.entries(states);
    for (let i = 0; i < 3; i++) {
      for (const [k, setup] of [...all.slice(i % all.length), ...all.slice(0, i % all.length)]) {
        await setup();
        sum[k] = (sum[k] ?? 0) + await rate(3000, unit);
      }
    }
    for (const k of Object.keys(sum)) sum[k] /= 3;
    return sum;
  };
  // Another capture version beside the current one: its own schema, its own trigger names. Each state's
  // function sets it up whatever the state before it.
  const cmp = compareCapture !== undefined;
  if (cmp) {
    const tmp = await Deno.makeTempFile({ suffix: ".sql" });
    await Deno.writeTextFile(
      tmp,
      (await Deno.readTextFile(compareCapture)).replaceAll("sync_capture", "sync_capture_cmp"),
    );
    await psql(legacyUrl, { files: [tmp] }, { vars: { capture_mode: "trigger", reader: "" } });
    await Deno.remove(tmp);
    await legacy`insert into sync_capture_cmp.tables (tbl, enabled) select tbl, false from sync_capture.tables`;
  }
  const single = await interleaved(
    {
      off: async () => {
        await legacy`select sync_capture.disable('public.dispatch_patient')`;
        if (cmp) await legacy`select sync_capture_cmp.disable('public.dispatch_patient')`;
      },
      ...(cmp
        ? {
          cmp: async () => {
            await legacy`select sync_capture.disable('public.dispatch_patient')`;
            await legacy`select sync_capture_cmp.enable('public.dispatch_patient')`;
          },
        }
        : {}),
      on: async () => {
        if (cmp) await legacy`select sync_capture_cmp.disable('public.dispatch_patient')`;
        await legacy`select sync_capture.enable('public.dispatch_patient')`;
      },
    },
    (c, n) =>
      legacy`update dispatch_patient set updated_at = clock_timestamp() where id = ${ids[(n * 4 + c) % ids.length]}`,
  );
  // Django-like units of work: a few reads and one to three writes over the legacy tables.
  const django = await interleaved({
    off: async () => {
      await legacy`update sync_capture.tables set enabled = false`;
      if (cmp) await legacy`update sync_capture_cmp.tables set enabled = false`;
    },
    ...(cmp
      ? {
        cmp: async () => {
          await legacy`update sync_capture.tables set enabled = false`;
          await legacy`update sync_capture_cmp.tables set enabled = true`;
        },
      }
      : {}),
    on: async () => {
      if (cmp) await legacy`update sync_capture_cmp.tables set enabled = false`;
      await legacy`update sync_capture.tables set enabled = true`;
    },
  }, () => legacy.begin((tx) => tx`select demo_gen.stream_step()`).catch(() => {}));
  await legacy.end();
  results.push({
    measure: "capture_overhead_django",
    value: Math.round(django.on),
    unit: "tx/s",
    reference: Math.round(django.off),
    ratio: round(django.on / django.off),
    bar: ">= 0.85 x without capture",
    pass: django.on / django.off >= 0.85,
  });
  results.push({
    measure: "capture_overhead_single_row",
    value: Math.round(single.on),
    unit: "tx/s",
    reference: Math.round(single.off),
    ratio: round(single.on / single.off),
    bar: ">= 0.8 x without capture",
    pass: single.on / single.off >= 0.8,
  });
  if (cmp) {
    for (const [name, r, bar] of [["django", django, 0.85], ["single_row", single, 0.8]] as const) {
      results.push({
        measure: `capture_overhead_${name}_cmp`,
        value: Math.round(r.cmp),
        unit: "tx/s",
        reference: Math.round(r.off),
        ratio: round(r.cmp / r.off),
        bar: `compared version: >= ${bar} x without capture`,
        pass: r.cmp / r.off >= bar,
      });
      results.push({
        measure: `capture_${name}_vs_cmp`,
        value: Math.round(r.on),
        unit: "tx/s",
        reference: Math.round(r.cmp),
        ratio: round(r.on / r.cmp),
        bar: "current / compared version (no bar)",
        pass: true,
      });
    }
  }
}

if (want("api")) {
  // Each route through the gateway and the function (supabase-js, a secret key), against the route's one SQL
  // call made directly over postgres.js: the ratio is what HTTP, auth, zod and the function's pool cost.
  console.log("API latency (gateway → function → SQL) ...");
  await target`call sync.tick(50, null)`;
  const keys = await makeKeys();
  const gw = await startGateway({ port: freePort(), dbUrl: targetUrl, keys });
  const client = createClient(gw.url, keys.SECRET_KEY, { auth: { persistSession: false } });
  const [{ id: runId }] = await target`select max(id)::int as id from sync.runs`;
  const routes: [string, "GET" | "POST", string, Record<string, unknown>?][] = [
    ["sync/health", "GET", "select sync.health()"],
    ["sync/metrics", "GET", "select sync.metrics()"],
    ["sync/runs", "GET", "select sync.list_runs()"],
    [`sync/runs/${runId}`, "GET", `select sync.get_run(${runId})`],
    ["sync/config", "GET", "select sync.get_config()"],
    ["sync/quarantine", "GET", "select sync.list_quarantine()"],
    ["sync/conflicts", "GET", "select sync.list_conflicts()"],
    ["sync/alerts", "GET", "select sync.list_alerts()"],
    ["sync/audit", "GET", "select sync.list_audit()"],
    ["sync/tick", "POST", "call sync.tick(1, null)", { max_seconds: 1 }],
  ];
  const pct = (xs: number[], p: number) =>
    [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
  const n = 200;
  for (const [path, method, sql, body] of routes) {
    const viaApi: number[] = [];
    const direct: number[] = [];
    for (let i = 0; i < n + 10; i++) {
      let t = performance.now();
      const r = await client.functions.invoke(path, { method, body });
      if (r.error) throw new Error(`${method} ${path}: ${r.error.message}`);
      if (i >= 10) viaApi.push(performance.now() - t);
      t = performance.now();
      await target.unsafe(sql);
      if (i >= 10) direct.push(performance.now() - t);
    }
    const p50 = pct(viaApi, 0.5);
    results.push({
      measure: `api ${method} /${path.replace(/\/\d+$/, "/:id")} p50 ms`,
      value: round(p50),
      unit: "ms",
      reference: round(pct(direct, 0.5)),
      ratio: round(pct(direct, 0.5) / p50),
      bar: `p99 ${round(pct(viaApi, 0.99))} ms (direct ${round(pct(direct, 0.99))}); no bar`,
      pass: true,
    });
  }
  await gw.close();
}

if (want("modes")) {
  // The capture modes under the same live stream: each on a target of its own (connected in that mode, backfilled),
  // ticking while the stream runs at --rate, then drained; throughput and lag from the inbox. Then each mode's cost
  // to the source's writes: the stream unthrottled for 4 s per state, interleaved twice, against no capture.
  const streamRate = Number(option(args, "rate", "500"));
  const legacyAdmin = withDatabase(paths(BENCH).adminUrl, "bench_legacy");
  const ownerSql = postgres(legacyUrl, { max: 1, onnotice: () => {} });
  const slots = () =>
    psql(paths(BENCH).adminUrl, {
      command: "select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = 'bench_legacy'",
    });
  await slots();
  await psql(legacyAdmin, { command: "alter database bench_legacy set synchronous_commit = on" });
  const a = new URL(paths(BENCH).adminUrl);
  const adminConninfo =
    `host=${a.hostname} port=${a.port} dbname=bench_legacy user=${a.username} password=${a.password}`;
  const rates: Record<string, number> = {};
  for (const mode of ["trigger", "logical", "polling"] as const) {
    console.log(`capture ${mode}: connect, backfill, ${seconds} s of the stream at ${streamRate} tx/s ...`);
    if (mode === "logical") await installSource(legacyAdmin, { mode: "logical" });
    if (mode === "polling") await ownerSql`update sync_capture.tables set enabled = false`;
    const db = `bench_mode_${mode}`;
    await psql(admin, { command: `drop database if exists ${db} with (force)` });
    await psql(admin, { command: `create database ${db}` });
    await setupTarget(withDatabase(admin, db));
    const t = postgres(withDatabase(admin, db), { max: 2, onnotice: () => {} });
    await t.unsafe(`select sync.set_config('{"capture": "${mode}"}')`);
    const [{ c: m }] = await t`select sync.connect_source(${mode === "logical" ? adminConninfo : conninfo}) as c`;
    if (!m.connected) throw new Error(`connect_source (${mode}) failed: ${m.error.message}`);
    await t`call sync.backfill(null, null)`;
    await t`call sync.tick(30, null)`;
    const ac = new AbortController();
    setTimeout(() => ac.abort(), seconds * 1000);
    const t0 = Date.now();
    const stream = runStream(legacyUrl, { rate: streamRate, clients: 4, signal: ac.signal });
    let applied = 0;
    while (!ac.signal.aborted) {
      const [{ summary }] = await t`call sync.tick(1, null)`;
      applied += Number(summary.rows ?? 0);
      await new Promise((r) => setTimeout(r, 100));
    }
    const st = await stream;
    const drain0 = Date.now();
    for (let i = 0; i < 20; i++) {
      const [{ summary }] = await t`call sync.tick(10, null)`;
      applied += Number(summary.rows ?? 0);
      if (Number(summary.rows ?? 0) === 0) break;
    }
    const drainMs = Date.now() - drain0;
    const [lag] = await t`select percentile_cont(0.5) within group (order by l) as p50,
                                 percentile_cont(0.99) within group (order by l) as p99
                            from (select extract(epoch from applied_at - captured_at) as l from sync.inbox
                                   where batch_id is not null and applied_at >= to_timestamp(${t0 / 1000})) x`;
    await t.end();
    await psql(admin, { command: `drop database ${db} with (force)` });
    const perS = applied / seconds;
    results.push({
      measure: `mode_${mode}_rows_per_s`,
      value: Math.round(perS),
      unit: "rows/s",
      reference: Math.round(st.total / seconds),
      ratio: round(perS / Math.max(st.total / seconds, 1)),
      bar: `rows applied during the stream (reference: legacy tx/s); drained ${drainMs} ms after it; no bar`,
      pass: true,
    });
    results.push({
      measure: `mode_${mode}_lag_p50_ms`,
      value: Math.round(Number(lag.p50) * 1000),
      unit: "ms",
      reference: 1000,
      ratio: round(Number(lag.p50)),
      bar: `p99 ${Math.round(Number(lag.p99) * 1000)} ms; polling: from the row's timestamp`,
      pass: true,
    });
  }
  // The source's writes: no capture, triggers, a logical slot (polling installs nothing: the same as none).
  const states: Record<string, () => Promise<unknown>> = {
    none: async () => {
      await ownerSql`update sync_capture.tables set enabled = false`;
      await slots();
    },
    trigger: async () => {
      await slots();
      await ownerSql`update sync_capture.tables set enabled = true`;
    },
    logical: async () => {
      await ownerSql`update sync_capture.tables set enabled = false`;
      await installSource(legacyAdmin, { mode: "logical" });
    },
  };
  for (let round = 0; round < 2; round++) {
    for (const [name, setup] of Object.entries(states)) {
      await setup();
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 4000);
      const st = await runStream(legacyUrl, { rate: 1_000_000, clients: 4, signal: ac.signal });
      rates[name] = (rates[name] ?? 0) + st.total / 4 / 2;
    }
  }
  await slots();
  await ownerSql`update sync_capture.tables set enabled = true`;
  await ownerSql.end();
  for (const name of ["trigger", "logical"]) {
    results.push({
      measure: `mode_${name}_write_overhead`,
      value: Math.round(rates[name]),
      unit: "tx/s",
      reference: Math.round(rates.none),
      ratio: round(rates[name] / rates.none),
      bar: "the Django-like stream unthrottled, against no capture (polling installs nothing)",
      pass: true,
    });
  }
}

await target.end();
console.log("");
console.log(
  [
    "measure".padEnd(30),
    "value".padStart(10),
    "unit".padEnd(10),
    "reference".padStart(10),
    "ratio".padStart(7),
    "pass",
    "bar",
  ].join("  "),
);
for (const r of results) {
  console.log(
    [
      r.measure.padEnd(30),
      String(r.value).padStart(10),
      r.unit.padEnd(10),
      String(r.reference).padStart(10),
      String(r.ratio).padStart(7),
      (r.pass ? "yes" : "NO").padEnd(4),
      r.bar,
    ].join("  "),
  );
}
await Deno.mkdir(`${ROOT}/bench/results`, { recursive: true });
const json = JSON.stringify(results, null, 2);
await Deno.writeTextFile(`${ROOT}/bench/results/latest.json`, json);
await Deno.writeTextFile(`${ROOT}/bench/results/${new Date().toISOString().replace(/[:.]/g, "-")}.json`, json);
Deno.exit(0);

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
