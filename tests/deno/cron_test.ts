/**
 * The schedule end to end, with nothing stubbed: sync.schedule creates the pg_cron job in the test stack's
 * database `postgres` (the one cron.database_name names, as on hosted Supabase: pg_cron cannot reach the
 * per-test clones), pg_cron runs it, net.http_post queues the call, the stack's pg_net worker (in the gateway
 * process that `deno task test` starts) performs it, the gateway hands it to the `sync` function, which runs
 * `sync.tick` as the verified caller with trigger `schedule`.
 *
 * The target is therefore `postgres` itself, reset to an empty sync state first, connected to a fresh legacy
 * clone. pg_cron 1.4 (Debian's) runs minute schedules only, so the first tick starts at the next minute
 * boundary (up to 60 s); from then on, legacy changes written by the application's role at several moments
 * must each reach the target within 3 s, because the one-minute tick polls while idle. Then cron's run log
 * shows the job succeeded, and once the tick ends (cancelled by the test, to keep its wall clock under 90 s)
 * the worker writes the function's 200 under the request's id.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import postgres from "postgres";
import { setupTarget } from "../../scripts/lib/setup.ts";
import { paths, TEST } from "../../scripts/lib/stack.ts";
import { cloneDb, conninfoAs, dropDb, LEGACY_ROLES, TEMPLATES, urlAs } from "../../scripts/lib/testenv.ts";
import { sleep } from "./_helpers.ts";

/** The bar for a change to be applied by the running scheduled tick. */
const LAG_BAR_MS = 3000;

/** Empties the sync state and the synced tables of the target (no run may be running). */
async function resetTarget(sql: postgres.Sql): Promise<void> {
  for (const r of await sql`select id from sync.runs where status in ('running', 'paused', 'queued')`) {
    await sql`select sync.cancel_run(${r.id}, 'cron test reset', 'cron-test')`;
  }
  for (let i = 0; i < 100; i++) {
    const [{ n }] = await sql`select count(*)::int as n from pg_stat_activity
                               where datname = current_database() and query ilike 'call sync.tick%' and state = 'active'`;
    if (n === 0) break;
    await sleep(100);
  }
  const [{ tables }] =
    await sql`select string_agg(target_table::text, ', ' order by name) as tables from sync.entities`;
  await sql.unsafe(`truncate ${tables}, sync.quarantine, sync.conflicts, sync.inbox, sync.batches,
    sync.id_map, sync.integrity_issues, sync.alerts, sync.runs cascade`);
  await sql`delete from sync.source`;
}

async function until<T>(what: string, ms: number, fn: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(50);
  }
}

Deno.test({
  name: "cron: pg_cron → net.http_post → worker → gateway → function runs sync.tick; live changes apply within 3 s",
  ignore: !Deno.env.get("SYNC_TEST_API_URL"),
  fn: async () => {
    const url = paths(TEST).dbUrl;
    await setupTarget(url); // the migrations, and the stack's Vault entries (its gateway, its secret key)
    const legacyDb = `d_cron_${Deno.pid}_s`;
    const legacyUrl = await cloneDb(TEST, TEMPLATES.legacy, legacyDb);
    const sql = postgres(url, { max: 2, onnotice: () => {} });
    const legacyApp = postgres(urlAs(legacyUrl, LEGACY_ROLES.app), { max: 1, onnotice: () => {} });
    try {
      await sql`select sync.unschedule()`;
      await resetTarget(sql);
      const [{ c }] = await sql`select sync.connect_source(${conninfoAs(legacyUrl, LEGACY_ROLES.reader)}) as c`;
      ok(c.connected, JSON.stringify(c.error));
      const [{ summary: bf }] = await sql`call sync.backfill(null, null)`;
      deepStrictEqual(bf.status, "succeeded");

      const [{ version }] = await sql`select extversion as version from pg_extension where extname = 'pg_cron'`;
      const [major, minor] = String(version).split(/[.-]/).map(Number);
      const seconds = major > 1 || major === 1 && minor >= 5; // pg_cron 1.5+ takes seconds (hosted Supabase)
      const every = seconds ? "5 seconds" : "1 minute";
      const [{ s }] = await sql`select sync.schedule(${every}, 'cron-test') as s`;
      deepStrictEqual([s.job, s.schedule], ["legacy-sync-tick", seconds ? "5 seconds" : "* * * * *"]);
      const [{ jobid }] = await sql`select jobid from cron.job where jobname = 'legacy-sync-tick'`;
      const scheduledAt = new Date();

      // The first scheduled tick: recorded with trigger schedule and the verified caller (the secret key).
      const first = await until("a scheduled run", 70_000, async () => {
        const [r] =
          await sql`select id, status, trigger, caller from sync.runs where trigger = 'schedule' order by id limit 1`;
        return r;
      });
      deepStrictEqual([first.status, first.trigger, first.caller], ["running", "schedule", "secret_key"]);

      // Changes at several moments, written by the application's role: each applied within the bar.
      const patients = await legacyApp`select id from dispatch_patient order by id limit 4`;
      const lags: number[] = [];
      for (const [i, gap] of [0, 1500, 4000, 2500].entries()) {
        await sleep(gap);
        const name = `Cron ${i} ${Date.now()}`;
        const t0 = performance.now();
        await legacyApp`update dispatch_patient set first_name = ${name} where id = ${patients[i].id}`;
        await until(`change ${i} in the target`, 10_000, async () => {
          const [p] = await sql`select 1 from public.patients where legacy_patient_id = ${patients[i].id}
                                   and first_name = ${name}`;
          return p;
        });
        lags.push(Math.round(performance.now() - t0));
      }
      console.log(`cron: every ${every}, lag of 4 changes (ms): ${lags.join(", ")}`);
      ok(lags.every((l) => l < LAG_BAR_MS), `lags ${lags} over ${LAG_BAR_MS} ms`);
      const appliedBy =
        await sql`select distinct r.trigger, r.caller from sync.inbox i join sync.runs r on r.id = i.run_id
                                   where i.entity = 'patients' and i.status = 'applied'
                                     and i.legacy_id = any(${patients.map((p) => p.id)}::bigint[])`;
      deepStrictEqual(appliedBy.map((r) => [r.trigger, r.caller]), [["schedule", "secret_key"]]);

      // pg_cron's run log: the job ran and succeeded (its command, a select of the request id, returned one row).
      const details = await sql`select status, return_message from cron.job_run_details
                                 where jobid = ${jobid} and start_time >= ${scheduledAt} order by runid`;
      ok(details.length >= 1, "no run of the job in cron.job_run_details");
      deepStrictEqual(details[0], { status: "succeeded", return_message: "SELECT 1" });

      // A new schedule_interval in the configuration moves the running schedule at once (engine.md §10).
      await sql`select sync.set_config('{"schedule_interval": "2 minutes"}', 'cron-test')`;
      const [{ schedule }] = await sql`select schedule from cron.job where jobname = 'legacy-sync-tick'`;
      deepStrictEqual(schedule, "*/2 * * * *");

      // Stop: no further tick, and the running one ends (cancelled between two polls); the function answers
      // 200 with its summary, which the worker writes under the request's id.
      await sql`select sync.unschedule('cron-test')`;
      const running = await sql`select id from sync.runs where trigger = 'schedule' and status = 'running'`;
      for (const r of running) await sql`select sync.cancel_run(${r.id}, 'the test is done', 'cron-test')`;
      const runs = await sql`select id, status from sync.runs where trigger = 'schedule' order by id`;
      for (const run of runs) {
        const res = await until(`the response of run ${run.id}`, 15_000, async () => {
          const [r] =
            await sql`select id, status_code, timed_out, sync.try_jsonb(content) as body from net._http_response
                                 where created >= ${scheduledAt}
                                   and (sync.try_jsonb(content) ->> 'run_id')::bigint = ${run.id}`;
          return r;
        });
        deepStrictEqual([res.status_code, res.timed_out, res.body.status], [200, false, run.status]);
        ok(res.body.status === "cancelled" || res.body.status === "succeeded", JSON.stringify(res.body));
      }
      deepStrictEqual(runs[0].id, first.id);
      if (!seconds) deepStrictEqual(runs.map((r) => r.status), ["cancelled"]);
    } finally {
      await sql`select sync.unschedule()`.catch(() => {});
      await resetTarget(sql).catch(() => {});
      await legacyApp.end();
      await sql.end();
      await dropDb(TEST, legacyDb);
    }
  },
});
