/**
 * `deno task demo [--scale 0.02] [--seed 42] [--rate 50] [--seconds 0] [--regenerate]`: the product's
 * main job on an embedded default. Installs what is missing, starts the local stack, builds the
 * legacy database with generated data, installs capture, prepares the target, connects it to the
 * source, backfills it, then keeps it in sync with a live stream of legacy changes, printing
 * progress (rows, rate, lag) every second until Ctrl-C (or `--seconds`).
 */
import postgres from "postgres";
import { fail, option, taskArgs } from "./lib/args.ts";
import { buildLegacy } from "./lib/legacy.ts";
import { psql, redact } from "./lib/psql.ts";
import { installSource, setupTarget } from "./lib/setup.ts";
import { DEMO, env, start } from "./lib/stack.ts";
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
const vars = await env(DEMO);
step(`target ${redact(vars.DB_URL)}, legacy ${redact(vars.LEGACY_DB_URL)}`);

step("applying the target migrations (db:setup, Supabase CLI)");
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
  // A fresh legacy database: start the target from a clean slate too.
  await target.unsafe(`truncate public.case_files, public.case_messages, public.operations, public.messages,
    public.system_messages, public.files, public.orders, public.treatment_plans, public.cases, public.patients,
    public.offices, public.profiles, sync.content_types, sync.quarantine, sync.inbox, sync.batches, sync.id_map,
    sync.integrity_issues, sync.alerts, sync.runs cascade`);
  await target`delete from sync.source`;
}
const [{ c }] = await target`select sync.connect_source(${conninfo}) as c`;
if (!c.connected) fail(`connect_source failed: ${c.error.message}`);
step(`connected: ${c.source} (capture v${c.capture_version}, ${c.tables} tables)`);

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

step(`live: ${rate} legacy transactions/s from 2 writers, ticking continuously (Ctrl-C to stop)`);
const ac = new AbortController();
Deno.addSignalListener("SIGINT", () => ac.abort());
if (seconds > 0) setTimeout(() => ac.abort(), seconds * 1000);
const stream = runStream(vars.LEGACY_DB_URL, { rate, clients: 2, signal: ac.signal });
let applied = 0;
let last = performance.now();
while (!ac.signal.aborted) {
  const [{ summary: s }] = await target`call sync.tick(1, null)`;
  applied += Number(s.rows ?? 0);
  if (performance.now() - last >= 1000) {
    const [q] = await target`select count(*) filter (where status = 'pending')::int as pending,
                                    count(*) filter (where status = 'parked')::int as parked,
                                    count(*) filter (where status = 'quarantined')::int as quarantined
                               from sync.inbox where status in ('pending', 'parked', 'quarantined')`;
    console.log(
      `           applied ${applied} changes · last tick ${s.rows} rows in ${s.timings?.total_ms} ms · ` +
        `lag p50 ${s.lag_ms?.p50 ?? "-"} ms p99 ${
          s.lag_ms?.p99 ?? "-"
        } ms · parked ${q.parked} · quarantined ${q.quarantined}`,
    );
    last = performance.now();
  }
  await new Promise((r) => setTimeout(r, 200));
}
const st = await stream;
await target`call sync.tick(10, null)`;
const diff = await target`select count(*)::int as n from sync.id_map`;
step(`stopped: ${st.total} legacy transactions streamed, ${applied} changes applied, ${diff[0].n} rows mapped`);
await target.end();
Deno.exit(0);
