/**
 * The steady state driven the way it is deployed (quality.md): the pg_cron job calls `net.http_post`, the local
 * pg_net worker (scripts/lib/net_worker.ts) performs the request, the gateway (scripts/lib/gateway.ts) hands it to
 * the `sync` function, which runs `sync.tick` (trigger `schedule`, the secret key as caller).
 *
 * The bench's target is a database of its own while pg_cron lives in `postgres` (cron.database_name), so
 * `sync.schedule` answers SY409 with the `cron.schedule_in_database(…)` statements to run in the pg_cron database:
 * the bench runs them there as the stack's superuser (the operator's documented step; the jobs then run as that
 * role in the target database), except `legacy-sync-daily`, whose deep verification would be measured as lag if
 * the run crossed its hour. The Vault entries `sync_project_url` / `sync_secret_key` of the target point at this
 * gateway and its secret key. pg_cron 1.4 runs minute schedules: each tick lasts 59 s and polls while idle, so the
 * lag is a poll, not the interval; the stream starts once the first scheduled tick runs.
 */
import postgres from "postgres";
import { freePort, startGateway } from "./gateway.ts";
import { makeKeys } from "./keys.ts";
import { startNetWorker } from "./net_worker.ts";
import { psql } from "./psql.ts";
import { runStream } from "./stream.ts";

/** Where the deployed path runs. */
export interface CronOptions {
  /** The stack's superuser on the database where pg_cron lives (`postgres`). */
  cronAdminUrl: string;
  /** The sync's database, as `postgres`. */
  targetUrl: string;
  /** The legacy database the stream writes. */
  legacyUrl: string;
  /** Where the functions' output goes. */
  logFile?: string;
}

/** One window of the stream through the deployed path. */
export interface CronWindow {
  /** Stream transactions per second asked and committed. */
  rate: number;
  tx: number;
  seconds: number;
  /** Inbox rows captured in the window and applied. */
  applied: number;
  /** Captured in the window, still pending when measured (after a drain of up to 30 s). */
  pending: number;
  /** Lag applied_at − captured_at over the applied rows, ms. */
  p50: number;
  p99: number;
}

/** What {@link steadyDeployed} measured: the main window and, with `rampSeconds`, each ramp step. */
export interface CronResult {
  window: CronWindow;
  ramp: CronWindow[];
  /** ms from scheduling to the first scheduled tick running (the minute boundary and the function's start). */
  firstTickMs: number;
}

/** Clients for a stream rate: about 250 tx/s each. */
export function clientsFor(rate: number): number {
  return Math.max(4, Math.ceil(rate / 250));
}

/**
 * Schedules the sync through pg_cron, waits for the first scheduled tick, runs the stream at `rate` for
 * `seconds` and measures it; with `rampRates`, then one window of `rampSeconds` per rate while the lag p99 stays
 * within `rampBarMs`. Unschedules and stops the worker and the gateway whatever happens.
 * @throws Error when no scheduled tick starts within 90 s (cron, worker, gateway or function broken).
 */
export async function steadyDeployed(
  o: CronOptions,
  opts: { rate: number; seconds: number; rampRates?: number[]; rampSeconds?: number; rampBarMs?: number },
): Promise<CronResult> {
  const target = postgres(o.targetUrl, { max: 2, onnotice: () => {} });
  const db = new URL(o.targetUrl).pathname.slice(1);
  await psql(o.cronAdminUrl, { command: "create extension if not exists pg_cron" });
  const unschedule = () =>
    psql(o.cronAdminUrl, {
      command: `select cron.unschedule(jobid) from cron.job where database = '${db}' and jobname like 'legacy-sync-%'`,
    });
  await unschedule();
  const keys = await makeKeys();
  const gw = await startGateway({ port: freePort(), dbUrl: o.targetUrl, keys, logFile: o.logFile });
  const worker = startNetWorker({ dbUrl: o.targetUrl, log: () => {} });
  try {
    const secrets = { sync_project_url: gw.url, sync_secret_key: keys.SECRET_KEY };
    for (const [name, value] of Object.entries(secrets)) {
      const [row] = await target`select id from vault.decrypted_secrets where name = ${name}`;
      if (!row) await target`select vault.create_secret(${value}, ${name}, 'bench')`;
      else await target`select vault.update_secret(${row.id}, ${value})`;
    }
    const t0 = Date.now();
    try {
      await target`select sync.schedule('1 minute', 'bench')`;
    } catch (e) {
      if (!(e instanceof postgres.PostgresError) || e.code !== "SY409" || !e.detail?.includes("schedule_in_database")) {
        throw e;
      }
      const statements = e.detail.split("\n").filter((l) => !l.includes("'legacy-sync-daily'"));
      await psql(o.cronAdminUrl, { command: statements.join("\n") });
    }
    const end = Date.now() + 90_000;
    for (;;) {
      const [r] = await target`select id from sync.runs where trigger = 'schedule' and status = 'running' limit 1`;
      if (r) break;
      if (Date.now() > end) throw new Error("steady (deployed): no scheduled tick ran within 90 s of scheduling");
      await new Promise((r) => setTimeout(r, 200));
    }
    const firstTickMs = Date.now() - t0;
    const window = await measure(target, o.legacyUrl, opts.rate, opts.seconds);
    const ramp: CronWindow[] = [];
    for (const rate of opts.rampRates ?? []) {
      const w = await measure(target, o.legacyUrl, rate, opts.rampSeconds ?? 60);
      ramp.push(w);
      console.log(`  ramp ${rate} tx/s asked, ${Math.round(w.tx / w.seconds)} committed: lag p99 ${w.p99} ms`);
      if (w.p99 > (opts.rampBarMs ?? 5000) || w.pending > 0 || w.tx / w.seconds < 0.8 * rate) break;
    }
    return { window, ramp, firstTickMs };
  } finally {
    await unschedule().catch(() => {});
    // The running tick ends between two polls once its run is cancelled; the function then answers.
    for (const r of await target`select id from sync.runs where trigger = 'schedule' and status = 'running'`) {
      await target`select sync.cancel_run(${r.id}, 'the bench is done', 'bench')`.catch(() => {});
    }
    for (let i = 0; i < 150; i++) {
      const [{ n }] = await target`select count(*)::int as n from pg_stat_activity
                                    where datname = current_database() and state = 'active'
                                      and query ilike 'call sync.tick%' and pid <> pg_backend_pid()`;
      if (n === 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    await worker.close();
    await gw.close();
    await target.end();
  }
}

/**
 * The stream at `rate` for `seconds`, then a drain of up to 30 s; lag and counts of the inbox rows captured in the
 * window (captured_at and applied_at are both clock times of this machine).
 */
async function measure(target: postgres.Sql, legacyUrl: string, rate: number, seconds: number): Promise<CronWindow> {
  const ac = new AbortController();
  setTimeout(() => ac.abort(), seconds * 1000);
  const t0 = new Date();
  const st = await runStream(legacyUrl, { rate, clients: clientsFor(rate), signal: ac.signal });
  const t1 = new Date();
  for (let i = 0; i < 150; i++) {
    const [{ n }] = await target`select count(*)::int as n from sync.inbox
                                  where status = 'pending' and captured_at between ${t0} and ${t1}`;
    if (n === 0) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const [r] = await target`
    select count(*) filter (where applied_at is not null)::int as applied,
           count(*) filter (where status = 'pending')::int as pending,
           coalesce(percentile_cont(0.5) within group (order by extract(epoch from applied_at - captured_at))
                      filter (where applied_at is not null), 0)::float8 * 1000 as p50,
           coalesce(percentile_cont(0.99) within group (order by extract(epoch from applied_at - captured_at))
                      filter (where applied_at is not null), 0)::float8 * 1000 as p99
      from sync.inbox
     where batch_id is not null and captured_at between ${t0} and ${t1}`;
  return {
    rate,
    tx: st.total,
    seconds,
    applied: r.applied,
    pending: r.pending,
    p50: Math.round(r.p50),
    p99: Math.round(r.p99),
  };
}
