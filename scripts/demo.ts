/**
 * `deno task demo [--scale 0.02] [--seed 42] [--rate 50] [--seconds 0] [--regenerate]`: the product's
 * main job on an embedded default. Installs what is missing, starts the local stack, builds the
 * legacy database with generated data, installs capture, prepares the target, connects it to the
 * source, backfills it, then keeps it in sync with a live stream of legacy changes the way production does:
 * `sync.schedule()` makes the pg_cron job, which calls the `sync` Edge Function through pg_net (here the
 * local gateway and pg_net worker that `deno task start` runs); the demo only watches the run records and
 * sync.health(), printing progress (changes applied, lag, last run) every 2 s until Ctrl-C (or `--seconds`),
 * then unschedules and prints the live lag p50/p99.
 */
import postgres from "postgres";
import { fail, option, taskArgs } from "./lib/args.ts";
import { buildLegacy } from "./lib/legacy.ts";
import { psql, redact } from "./lib/psql.ts";
import { installSource, setupTarget } from "./lib/setup.ts";
import { DEMO, env, start } from "./lib/stack.ts";
import { apiUrl, startGatewayProcess } from "./lib/gateway_process.ts";
import { runStream } from "./lib/stream.ts";

const args = taskArgs();
const scale = Number(option(args, "scale", "0.02"));
const seed = Number(option(args, "seed", "42"));
const rate = Number(option(args, "rate", "50"));
const seconds = Number(option(args, "seconds", "0"));
const t0 = performance.now();
const step = (msg: string) => console.log(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${msg}`);

step("starting the local stack (installs PostgreSQL 15 and extensions on first run)");
await start(DEMO);
await startGatewayProcess(DEMO);
const vars = await env(DEMO);
step(`gateway and pg_net worker running at ${apiUrl(DEMO)} (functions at /functions/v1/<name>)`);
step(`target ${redact(vars.DB_URL)}, legacy ${redact(vars.LEGACY_DB_URL)}`);

step("applying the target migrations and storing the Vault entries for the schedule (db:setup, Supabase CLI)");
await setupTarget(vars.DB_URL);

const already = await psql(vars.LEGACY_DB_URL, {
  command: "select count(*) from pg_namespace where nspname = 'demo_gen'",
});
const regenerate = already !== "1" || args.includes("--regenerate") || option(args, "scale") !== undefined;
if (regenerate) {
  step(`generating the legacy database at scale ${scale} (seed ${seed})`);
  const counts = await buildLegacy(vars.LEGACY_DB_URL, scale, seed);
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  step(`generated ${total} legacy rows`);
} else {
  step("legacy database already generated (pass --regenerate or --scale to rebuild it)");
}

step("installing capture on the legacy database (source:install)");
await installSource(vars.LEGACY_DB_URL);

const target = postgres(vars.DB_URL, { max: 3, onnotice: () => {} });
const u = new URL(vars.LEGACY_DB_URL);
const conninfo = `host=${u.hostname} port=${u.port} dbname=${
  u.pathname.slice(1)
} user=${u.username} password=${u.password}`;
if (regenerate) {
  // A fresh legacy database: start the target from a clean slate too (every registered entity's table).
  const [{ tables }] =
    await target`select string_agg(target_table::text, ', ' order by name) as tables from sync.entities`;
  await target.unsafe(`truncate ${tables}, sync.quarantine, sync.inbox, sync.batches, sync.id_map,
    sync.integrity_issues, sync.alerts, sync.runs cascade`);
  await target`delete from sync.source`;
}
const [{ c }] = await target`select sync.connect_source(${conninfo}) as c`;
if (!c.connected) fail(`connect_source failed: ${c.error.message}`);
step(
  `connected: ${c.source} (capture v${c.capture_version}, ${c.tables} tables` +
    `${c.unavailable?.length ? `; not on this source: ${c.unavailable.join(", ")}` : ""})`,
);

step("backfilling the target (call sync.backfill())");
const progress = setInterval(async () => {
  const [{ s }] = await target`select sync.backfill_status() as s`;
  const p = s.progress ?? {};
  if (p.total) {
    console.log(
      `           backfill ${p.done}/${p.total} rows · ${Math.round(p.rate)} rows/s · ETA ${p.eta_seconds ?? "?"} s`,
    );
  }
}, 2000);
const [{ summary: bf }] = await target`call sync.backfill(null, null)`;
clearInterval(progress);
step(
  `backfill ${bf.status}: ${bf.progress.done} rows in ${(bf.timings.backfill_ms / 1000).toFixed(1)} s ` +
    `(${Math.round(bf.progress.rate)} rows/s)`,
);

step("conflict demonstration: the Supabase app edits a synced patient, the legacy app changes the same patient");
const [pt] = await target`select legacy_patient_id as id, first_name from public.patients where deleted_at is null
                          order by legacy_patient_id limit 1`;
await target`select sync.set_config('{"entities": {"patients": {"conflict_strategy": "manual"}}}')`;
await target`update public.patients set first_name = 'Edited in Supabase' where legacy_patient_id = ${pt.id}`;
const legacySql = postgres(vars.LEGACY_DB_URL, { max: 1, onnotice: () => {} });
const legacyName = `Changed in legacy at ${new Date().toISOString().slice(11, 19)}`;
await legacySql`update dispatch_patient set first_name = ${legacyName}, updated_at = now() where id = ${pt.id}`;
await target`call sync.tick(5, null)`;
const [k] =
  await target`select id, entity, legacy_id, strategy, status, columns, source_image ->> 'first_name' as source,
                                target_image ->> 'first_name' as target, base_image ->> 'first_name' as base
                           from sync.conflicts where status = 'open' order by id desc limit 1`;
console.log(
  `           conflict #${k.id} on ${k.entity} ${k.legacy_id} (${k.strategy}, ${k.status}): columns ${k.columns}; ` +
    `first_name base "${k.base}", target "${k.target}", source "${k.source}"`,
);
const resolution = target.json({ first_name: "Resolved by the operator" });
const [{ r }] = await target`select sync.resolve_conflict(${k.id}, 'custom', ${resolution}, 'demo') as r`;
const [after] = await target`select first_name from public.patients where legacy_patient_id = ${pt.id}`;
console.log(
  `           resolved with ${r.decision} by ${r.resolved_by}: the patient's first_name is now "${after.first_name}"`,
);
await target`select sync.set_config('{"entities": {"patients": {"conflict_strategy": null}}}')`;
await legacySql.end();

// Live: pg_cron drives the sync, through the function, as in production (engine.md §7). pg_cron 1.5+ (hosted
// Supabase) takes seconds: '10 seconds' shows a new scheduled run every 10 s; Debian's 1.4 takes minutes only:
// '1 minute'. Either way each tick lasts the interval less a second and polls while idle, so the lag is a
// poll (about a quarter second), not the interval.
const [{ version }] = await target`select extversion as version from pg_catalog.pg_extension where extname = 'pg_cron'`;
const [major, minor] = String(version).split(/[.-]/).map(Number);
const every = major > 1 || major === 1 && minor >= 5 ? "10 seconds" : "1 minute";
const ac = new AbortController();
Deno.addSignalListener("SIGINT", () => ac.abort());
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const [{ before }] = await target`select coalesce(max(id), 0) as before from sync.runs`;
const [{ s: job }] = await target`select sync.schedule(${every}, 'demo') as s`;
step(
  `live: sync.schedule('${every}') on pg_cron ${version}: job ${job.job} (${job.schedule}) → net.http_post → ` +
    `pg_net worker → ${apiUrl(DEMO)}/functions/v1/sync/tick → sync.tick(${job.tick_seconds} s, polling while idle)`,
);
step(
  `dashboard live at ${apiUrl(DEMO)}/dashboard/ (sign in as an operator: deno task status -o env shows ` +
    "ADMIN_EMAIL / ADMIN_PASSWORD and VIEWER_EMAIL / VIEWER_PASSWORD)",
);
let st = { total: 0 };
let liveStart: Date | undefined;
try {
  step(
    every === "1 minute"
      ? "waiting for the first scheduled tick (pg_cron 1.4 starts minute jobs at the full minute)"
      : "waiting for the first scheduled tick",
  );
  let first: postgres.Row | undefined;
  while (!ac.signal.aborted && !first) {
    [first] =
      await target`select id, caller from sync.runs where id > ${before} and trigger = 'schedule' order by id limit 1`;
    if (!first) await sleep(200);
  }
  if (first) {
    step(
      `scheduled run #${first.id} is running (caller ${first.caller}); ${rate} legacy transactions/s from 2 writers`,
    );
    const [{ t }] = await target`select now() as t`;
    liveStart = t as Date;
    const since = t as Date;
    if (seconds > 0) setTimeout(() => ac.abort(), seconds * 1000);
    const stream = runStream(vars.LEGACY_DB_URL, { rate, clients: 2, signal: ac.signal });
    while (!ac.signal.aborted) {
      await sleep(2000);
      const [{ h }] = await target`select sync.health() as h`;
      const [a] = await target`
        select count(*)::int as applied,
               round(percentile_cont(0.5) within group (order by l) filter (where recent)) as p50,
               round(percentile_cont(0.99) within group (order by l) filter (where recent)) as p99,
               count(distinct run_id)::int as runs
          from (select extract(epoch from i.applied_at - i.captured_at) * 1000 as l, i.run_id,
                       i.applied_at > now() - interval '10 seconds' as recent
                  from sync.inbox i
                 where i.applied_at >= ${since} and i.status in ('applied', 'skipped') and i.batch_id is not null) x`;
      const r = h.last_run ?? {};
      console.log(
        `           applied ${a.applied} changes by ${a.runs} scheduled run(s) · lag (last 10 s) p50 ${
          a.p50 ?? "-"
        } ms ` +
          `p99 ${a.p99 ?? "-"} ms · last run #${r.id} ${r.trigger} ${r.status} · pending ${h.queue.pending} · ` +
          `parked ${h.queue.parked} · quarantined ${h.queue.quarantined}`,
      );
    }
    st = await stream;
    // What the last transactions wrote: the running tick applies it within its next polls.
    await sleep(2000);
  }
} finally {
  // Stop the schedule, then end the running tick between two polls (it would otherwise run its full interval).
  await target`select sync.unschedule('demo')`;
  for (const r of await target`select id from sync.runs where trigger = 'schedule' and status = 'running'`) {
    await target`select sync.cancel_run(${r.id}, 'the demo stopped', 'demo')`.catch(() => {});
  }
  step("stopped the schedule (sync.unschedule())");
}
if (liveStart) {
  const [l] = await target`
    select count(*)::int as n, count(distinct r.id)::int as runs,
           round(percentile_cont(0.5) within group (order by extract(epoch from i.applied_at - i.captured_at) * 1000)) as p50,
           round(percentile_cont(0.99) within group (order by extract(epoch from i.applied_at - i.captured_at) * 1000)) as p99
      from sync.inbox i join sync.runs r on r.id = i.run_id
     where r.trigger = 'schedule' and i.applied_at >= ${liveStart} and i.status in ('applied', 'skipped')
       and i.batch_id is not null`;
  step(
    `live lag under the '${every}' schedule: p50 ${l.p50 ?? "-"} ms, p99 ${l.p99 ?? "-"} ms over ${l.n} changes ` +
      `applied by ${l.runs} scheduled run(s) (source capture → applied in the target)`,
  );
}
// Anything written after the last scheduled poll: one manual tick, once the cancelled one has let go.
for (let i = 0; i < 50; i++) {
  const [{ summary: s }] = await target`call sync.tick(10, null)`;
  if (s.status !== "already_running") break;
  await sleep(200);
}
const diff = await target`select count(*)::int as n from sync.id_map`;
step(`stopped: ${st.total} legacy transactions streamed, ${diff[0].n} rows mapped`);
step(`the stack keeps running (gateway and pg_net worker at ${apiUrl(DEMO)}); deno task stop stops it`);
await target.end();
Deno.exit(0);
