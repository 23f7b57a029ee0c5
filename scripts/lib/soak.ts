/**
 * The soak (issue 14): the live demo stream through the deployed path (pg_cron → `net.http_post` → the local pg_net
 * worker → the gateway → the `sync` function → `sync.tick`, set up as scripts/lib/bench_cron.ts does) while faults
 * drawn from a seed strike at random moments, then a drain and an exact comparison.
 *
 * Faults ({@link FAULT_KINDS}):
 * - `kill_pull`, `kill_apply`, `kill_verify`: the scheduled tick's backend (application_name `sync-function`,
 *   query `call sync.tick…`) terminated while it is in that phase. The phase is read from the relation locks its
 *   open transaction holds, and the kill is the same statement as the check: a pull holds the cursor row
 *   (`sync.source`, RowShareLock), the verification after a run its drift table `work_t2` (the session's own),
 *   an apply a write lock on a target table in `public` and neither of the others. The next tick must mark the run failed with
 *   category `interrupted` and carry on.
 * - `outage`: the source refusing the reader for 20–60 s (`alter role <reader> nologin`, its sessions on the legacy
 *   database terminated, then `login` again): pulls fail as source errors and the sync must catch up by itself.
 * - `constraint`: `public.patients` gets `check (email not like '%7@mail.example') not valid` for 20–40 s, which
 *   about one stream update in ten of a patient's e-mail violates: exactly those changes must be quarantined with
 *   `apply_error` naming the constraint. After the drop they are retried through the API (`POST
 *   /sync/quarantine/:id/retry` with the secret key): at once, and what is still open once the schedule is
 *   stopped, so that the final comparison is exact.
 * - `manual_trigger`: `POST /sync/runs {"mode": "incremental"}` with the secret key while a scheduled tick runs:
 *   the answer must be 409 `already_running` naming that tick's run (one applier at a time).
 *
 * A kill or an outage ends the tick it hits, and the next one starts at the schedule's next interval (a minute on
 * pg_cron 1.4, which takes minutes only): each of those takes one tick of its own ({@link planFaults}), so every
 * kind once needs at least four ticks; the stream runs until all are done even when `seconds` is shorter.
 *
 * Then the stream stops, the scheduled ticks drain (the inbox empty and the cursor past the source's snapshot at
 * the stop), the schedule is removed, the constraint's quarantine released, and manual ticks run until one moves
 * nothing. The result: every fault with its time and outcome, the lag per minute (applied_at − captured_at of the
 * inbox), the changes, `oracle.diff()` (sql/oracle/oracle.sql, installed in the target) and the quarantine
 * compared with what the faults and the oracle explain.
 */
import postgres from "postgres";
import { clientsFor } from "./bench_cron.ts";
import { freePort, type Gateway, startGateway } from "./gateway.ts";
import { makeKeys, type StackKeys } from "./keys.ts";
import { type NetWorker, startNetWorker } from "./net_worker.ts";
import { psql } from "./psql.ts";
import { runStream } from "./stream.ts";

/** Faults that end the scheduled tick they strike: one tick each. */
export const TICK_FAULTS = ["kill_pull", "kill_apply", "kill_verify", "outage"] as const;
/** Faults at a moment of the run, whatever tick runs then. */
export const TIMED_FAULTS = ["constraint", "manual_trigger"] as const;
/** Every fault kind; each is injected at least once per soak. */
export const FAULT_KINDS = [...TICK_FAULTS, ...TIMED_FAULTS] as const;
export type TickFaultKind = typeof TICK_FAULTS[number];
export type TimedFaultKind = typeof TIMED_FAULTS[number];
export type FaultKind = typeof FAULT_KINDS[number];

/** A fault for one scheduled tick. */
export interface TickFault {
  kind: TickFaultKind;
  /** When it strikes, as a fraction of the tick's budget (`kill_verify`: 1, the verification after it). */
  at: number;
  /** `outage`: how long the source refuses the reader, s. */
  seconds?: number;
}

/** A fault at a moment of the stream. */
export interface TimedFault {
  kind: TimedFaultKind;
  /** Seconds after the stream started. */
  at: number;
  /** `constraint`: how long it stays, s. */
  seconds?: number;
}

/** What {@link planFaults} draws: one entry per scheduled tick (null: a tick left alone), and the timed faults. */
export interface FaultPlan {
  ticks: (TickFault | null)[];
  timed: TimedFault[];
  /** Seconds of stream the plan covers: `seconds`, or four ticks when that is shorter. */
  span: number;
}

/** A small seeded generator (mulberry32): the same seed, the same numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The fault schedule of a seed for `seconds` of stream with ticks of `tickSeconds`: every tick fault once, each on
 * a tick of its own, the other ticks (one per `tickSeconds` of the span) left alone or given another tick fault, half
 * and half, in a shuffled order; one manual trigger per three minutes and one constraint window per ten (at least one
 * of each), at uniform moments. Pure: the seed alone decides.
 */
export function planFaults(seed: number, seconds: number, tickSeconds: number): FaultPlan {
  const r = seededRandom(seed);
  const tickFault = (kind: TickFaultKind): TickFault =>
    kind === "kill_verify"
      ? { kind, at: 1 }
      : kind === "outage"
      ? { kind, at: round(0.05 + 0.55 * r(), 3), seconds: 20 + Math.floor(41 * r()) }
      : { kind, at: round(0.05 + 0.85 * r(), 3) };
  const windows = Math.max(TICK_FAULTS.length, Math.floor(seconds / tickSeconds));
  const span = Math.max(seconds, windows * tickSeconds);
  const ticks: (TickFault | null)[] = TICK_FAULTS.map(tickFault);
  while (ticks.length < windows) {
    ticks.push(r() < 0.5 ? null : tickFault(TICK_FAULTS[Math.floor(r() * TICK_FAULTS.length)]));
  }
  for (let i = ticks.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [ticks[i], ticks[j]] = [ticks[j], ticks[i]];
  }
  const timed: TimedFault[] = [];
  const triggers = Math.max(1, Math.round(span / 180));
  for (let i = 0; i < triggers; i++) timed.push({ kind: "manual_trigger", at: round(span * (0.05 + 0.9 * r()), 1) });
  const windowsOfConstraint = Math.max(1, Math.floor(span / 600));
  const segment = span / windowsOfConstraint;
  for (let i = 0; i < windowsOfConstraint; i++) {
    const length = 20 + Math.floor(21 * r());
    const room = Math.max(0, segment - length - 15);
    timed.push({ kind: "constraint", at: round(i * segment + 5 + room * r(), 1), seconds: length });
  }
  timed.sort((a, b) => a.at - b.at);
  return { ticks, timed, span };
}

/** Where the soak runs: the databases of one target and its source. */
export interface SoakTarget {
  /** The stack's superuser on the database where pg_cron lives (`postgres`). */
  cronAdminUrl: string;
  /** The sync's database, as `postgres`; connected to the source, backfilled, `sql/oracle/oracle.sql` installed. */
  targetUrl: string;
  /** The legacy database, as its owner (the stream, the outage). */
  legacyUrl: string;
  /** The login role of the source conninfo the engine reads with (never the owner: the outage locks it out). */
  reader: string;
  /** Where the functions' output goes. */
  logFile?: string;
}

/** Options of {@link runSoak}. */
export interface SoakOptions {
  /** Seconds of stream asked (at least four ticks are run, see {@link planFaults}). */
  seconds: number;
  /** Stream transactions per second. */
  rate: number;
  seed: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** One injected fault. */
export interface FaultRecord {
  kind: FaultKind;
  /** ms after the stream started. */
  atMs: number;
  /** What was done. */
  detail: string;
  /** What followed. */
  outcome: string;
  ok: boolean;
}

/** The lag of the changes captured in one minute of the stream. */
export interface MinuteLag {
  minute: number;
  changes: number;
  applied: number;
  /** applied_at − captured_at, ms. */
  p50: number;
  p99: number;
}

/** What {@link runSoak} found. */
export interface SoakResult {
  seed: number;
  rate: number;
  /** Seconds of stream asked, and run. */
  seconds: number;
  streamSeconds: number;
  /** The schedule (`1 minute` on pg_cron 1.4) and the pg_cron version. */
  every: string;
  cronVersion: string;
  /** Stream transactions committed. */
  tx: number;
  /** Inbox rows pulled from the changes of the stream window, and how many of them were done (applied_at set). */
  changes: number;
  applied: number;
  faults: FaultRecord[];
  lag: MinuteLag[];
  /** Scheduled runs by status; the function's answers to pg_net by status code. */
  runs: Record<string, number>;
  responses: Record<string, number>;
  /** ms from the stream's stop until the scheduled ticks had everything; rows the final manual ticks moved. */
  drainMs: number | null;
  finalRows: number;
  /** Quarantine: open at the end, and explained ones by cause. */
  quarantine: { open: number; constraint: number; badInput: number };
  /** `oracle.diff()` at the end: empty when exact. */
  differences: Record<string, unknown>[];
  /** Quarantine rows nothing explains. */
  unexplained: string[];
  /** Anything else wrong: a kind never injected, a run left running, a lock left held, a tick that never came. */
  problems: string[];
  ok: boolean;
}

const CONSTRAINT = "soak_reject";
const VIOLATES = "%7@mail.example";

function round(x: number, digits: number): number {
  const k = 10 ** digits;
  return Math.round(x * k) / k;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}

/** `+m:ss.s` for ms after the stream started. */
export function clock(ms: number): string {
  const tenths = Math.round(Math.max(0, ms) / 100);
  return `+${Math.floor(tenths / 600)}:${((tenths % 600) / 10).toFixed(1).padStart(4, "0")}`;
}

/** A scheduled tick that pulled: its run and when its call started (its budget runs from there). */
interface Tick {
  id: number;
  pid: number;
  callStart: number;
}

/**
 * Runs the soak on a connected, backfilled target; see the module's comment. Leaves nothing scheduled, the reader
 * able to log in and no soak constraint behind, whatever happens.
 * @throws Error when the deployed path does not work at all (no scheduled tick within two intervals).
 */
export async function runSoak(t: SoakTarget, o: SoakOptions): Promise<SoakResult> {
  const log = o.log ?? (() => {});
  const target = postgres(t.targetUrl, { max: 4, onnotice: () => {} });
  const killer = postgres(t.targetUrl, { max: 1, onnotice: () => {} });
  const legacy = postgres(t.legacyUrl, { max: 2, onnotice: () => {} });
  const db = new URL(t.targetUrl).pathname.slice(1);
  const legacyDb = new URL(t.legacyUrl).pathname.slice(1);
  await psql(t.cronAdminUrl, { command: "create extension if not exists pg_cron" });
  const cronVersion = await psql(t.cronAdminUrl, {
    command: "select extversion from pg_catalog.pg_extension where extname = 'pg_cron'",
  });
  const [major, minor] = cronVersion.split(/[.-]/).map(Number);
  const takesSeconds = major > 1 || major === 1 && minor >= 5; // pg_cron 1.5+ takes seconds (hosted Supabase)
  const every = takesSeconds ? "10 seconds" : "1 minute";
  const tickSeconds = takesSeconds ? 10 : 60;
  const budgetMs = (tickSeconds - 1) * 1000; // sync.schedule: a tick lasts the interval less a second
  const plan = planFaults(o.seed, o.seconds, tickSeconds);
  log(
    `plan (seed ${o.seed}): ticks ${
      plan.ticks.map((f) => f ? `${f.kind}@${f.at}${f.seconds ? `/${f.seconds}s` : ""}` : "-").join(", ")
    }; ${plan.timed.map((f) => `${f.kind} at ${f.at} s${f.seconds ? ` for ${f.seconds} s` : ""}`).join(", ")}`,
  );

  const unschedule = () =>
    psql(t.cronAdminUrl, {
      command: `select cron.unschedule(jobid) from cron.job where database = '${db}' and jobname like 'legacy-sync-%'`,
    });
  await unschedule();
  const keys = await makeKeys();
  const gw = await startGateway({ port: freePort(), dbUrl: t.targetUrl, keys, logFile: t.logFile });
  let worker: NetWorker | undefined = startNetWorker({ dbUrl: t.targetUrl, log: () => {} });
  const faults: FaultRecord[] = [];
  const problems: string[] = [];
  const streamAbort = new AbortController();
  let t0 = Date.now();
  const since = () => Date.now() - t0;
  try {
    await storeSecrets(target, gw, keys);
    await schedule(target, t.cronAdminUrl, every);
    log(`scheduled every ${every} (pg_cron ${cronVersion}); waiting for the first scheduled tick ...`);
    let tick = await nextTick(target, 0, 2 * tickSeconds * 1000 + 30_000);
    if (!tick) throw new Error(`soak: no scheduled tick pulled within ${2 * tickSeconds + 30} s of scheduling`);

    const firstRun = tick.id;
    const [{ now: streamStart }] = await target`select clock_timestamp() as now`;
    t0 = Date.now();
    log(`first scheduled tick: run ${tick.id}; the stream starts at ${o.rate} tx/s`);
    const stream = runStream(t.legacyUrl, { rate: o.rate, clients: clientsFor(o.rate), signal: streamAbort.signal });

    const ctx: FaultContext = {
      t,
      target,
      killer,
      legacy,
      legacyDb,
      gw,
      keys,
      since,
      log,
      budgetMs,
      tickSeconds,
      constraintWindows: [],
    };
    const timed = Promise.all(plan.timed.map(async (f) => {
      await sleep(f.at * 1000 - since());
      try {
        faults.push(await (f.kind === "constraint" ? constraintFault(ctx, f.seconds!) : manualTrigger(ctx)));
      } catch (e) {
        faults.push({ kind: f.kind, atMs: since(), detail: "failed to inject", outcome: String(e), ok: false });
      }
    }));

    // One tick fault per scheduled tick; a kill whose phase never came in its tick is tried on the next one.
    const queue = [...plan.ticks];
    const wanted = new Set<TickFaultKind>(TICK_FAULTS);
    const hardEnd = (plan.span + 8 * tickSeconds) * 1000;
    while (queue.length > 0 && since() < hardEnd) {
      if (since() >= plan.span * 1000) {
        if (wanted.size === 0) break;
        // Time is up: only what was never injected still runs.
        for (let i = queue.length - 1; i >= 0; i--) if (!queue[i] || !wanted.has(queue[i]!.kind)) queue.splice(i, 1);
        if (queue.length === 0) break;
      }
      const f = queue.shift()!;
      if (f) {
        const rec = await tickFault(ctx, f, tick);
        if (rec) {
          faults.push(rec);
          wanted.delete(f.kind);
        } else {
          log(`${clock(since())} ${f.kind}: its phase did not come in run ${tick.id}; next tick`);
          queue.unshift(f);
        }
      }
      const next = await nextTick(target, tick.id, (f?.seconds ?? 0) * 1000 + 3 * tickSeconds * 1000 + 40_000);
      if (!next) {
        problems.push(`no scheduled tick pulled after run ${tick.id} (${clock(since())})`);
        break;
      }
      tick = next;
    }
    for (const k of wanted) problems.push(`${k} was never injected`);
    await sleep(plan.span * 1000 - since());
    await timed;
    streamAbort.abort();
    const st = await stream;
    const streamSeconds = since() / 1000;
    const [{ now: streamStop }] = await target`select clock_timestamp() as now`;
    log(`${clock(since())} the stream stopped after ${st.total} transactions; draining ...`);

    // Drain on the schedule: nothing pending, and the cursor past every transaction of the stream.
    const [{ xmax }] = await legacy`select pg_snapshot_xmax(pg_current_snapshot())::text::bigint as xmax`;
    const d0 = Date.now();
    let drainMs: number | null = null;
    while (Date.now() - d0 < 3 * tickSeconds * 1000 + 30_000) {
      const [s] = await target`
        select (select count(*) from sync.inbox where status = 'pending')::int as pending,
               (select count(*) from sync.inbox i join sync.id_map m on m.entity = i.parent_entity
                                                  and m.legacy_id = i.parent_legacy_id
                 where i.status = 'parked')::int as releasable,
               (select pending_snapshot is null and cursor_snapshot is not null
                       and pg_snapshot_xmin(cursor_snapshot::pg_snapshot)::text::bigint >= ${xmax}
                  from sync.source) as past`;
      if (s.pending === 0 && s.releasable === 0 && s.past) {
        drainMs = Date.now() - d0;
        break;
      }
      await sleep(100);
    }
    if (drainMs === null) log("the scheduled ticks did not drain within three intervals; the manual ticks finish it");

    // The schedule off, its running tick ended: then the release, then manual ticks until one moves nothing.
    await unschedule();
    await worker.close();
    worker = undefined;
    for (const r of await target`select id from sync.runs where status = 'running'`) {
      await target`select sync.cancel_run(${r.id}, 'the soak is draining', 'soak')`.catch(() => {});
    }
    await ticksEnded(target, 60_000);
    const released = await releaseConstraintQuarantine(ctx);
    const constraintRec = faults.find((f) => f.kind === "constraint");
    if (constraintRec && released.total > 0) {
      constraintRec.outcome += `; after the schedule stopped: ${tally(released.statuses)}`;
    }
    let finalRows = 0;
    for (let i = 0; i < 20; i++) {
      const [{ summary }] = await target`call sync.tick(30, null)`;
      if (summary.status === "already_running") {
        await sleep(500);
        continue;
      }
      if (summary.status !== "succeeded") {
        problems.push(`final tick ${summary.run_id}: ${JSON.stringify(summary.error)}`);
      }
      finalRows += Number(summary.rows ?? 0);
      if (Number(summary.rows ?? 0) === 0) break;
    }
    await settleConstraintOutcomes(ctx);

    const [left] = await target`
      select (select count(*) from sync.runs where status in ('running', 'queued'))::int as running,
             (select count(*) from pg_catalog.pg_locks l join pg_catalog.pg_database d on d.oid = l.database
               where l.locktype = 'advisory' and d.datname = current_database())::int as locks,
             (select count(*) from sync.inbox where status = 'pending')::int as pending`;
    if (left.running > 0) problems.push(`${left.running} runs left running or queued`);
    if (left.locks > 0) problems.push(`${left.locks} advisory locks left held`);
    if (left.pending > 0) problems.push(`${left.pending} changes left pending`);

    const differences = [...await target`select * from oracle.diff(null)`];
    const q = await quarantineCheck(target, streamStart);
    const lag = [
      ...await target`
      select floor(extract(epoch from captured_at - ${streamStart}::timestamptz) / 60)::int + 1 as minute,
             count(*)::int as changes, count(applied_at)::int as applied,
             coalesce(round((percentile_cont(0.5) within group (order by extract(epoch from applied_at - captured_at))
                             filter (where applied_at is not null) * 1000)::numeric), 0)::int as p50,
             coalesce(round((percentile_cont(0.99) within group (order by extract(epoch from applied_at - captured_at))
                             filter (where applied_at is not null) * 1000)::numeric), 0)::int as p99
        from sync.inbox
       where batch_id is not null and captured_at between ${streamStart} and ${streamStop}
       group by 1 order by 1`,
    ].map((r) => ({ ...r }) as MinuteLag);
    const runs = Object.fromEntries(
      (await target`select status, count(*)::int as n from sync.runs
                     where trigger = 'schedule' and id >= ${firstRun} group by 1 order by 1`)
        .map((r) => [r.status, r.n]),
    );
    const responses = Object.fromEntries(
      (await target`select coalesce(status_code::text, case when timed_out then 'timeout' else 'error' end) as s,
                           count(*)::int as n
                      from net._http_response where created >= ${streamStart} group by 1 order by 1`)
        .map((r) => [r.s, r.n]),
    );
    const kinds = new Set(faults.map((f) => f.kind));
    for (const k of TIMED_FAULTS) if (!kinds.has(k)) problems.push(`${k} was never injected`);
    const changes = lag.reduce((n, m) => n + m.changes, 0);
    const applied = lag.reduce((n, m) => n + m.applied, 0);
    faults.sort((a, b) => a.atMs - b.atMs);
    return {
      seed: o.seed,
      rate: o.rate,
      seconds: o.seconds,
      streamSeconds: round(streamSeconds, 1),
      every,
      cronVersion,
      tx: st.total,
      changes,
      applied,
      faults,
      lag,
      runs,
      responses,
      drainMs,
      finalRows,
      quarantine: { open: q.open, constraint: q.constraint, badInput: q.badInput },
      differences,
      unexplained: q.unexplained,
      problems,
      ok: differences.length === 0 && q.unexplained.length === 0 && problems.length === 0 &&
        faults.every((f) => f.ok),
    };
  } finally {
    streamAbort.abort();
    await unschedule().catch(() => {});
    await legacy.unsafe(`alter role ${t.reader} login`).catch(() => {});
    await target.unsafe(`alter table public.patients drop constraint if exists ${CONSTRAINT}`).catch(() => {});
    for (const r of await target`select id from sync.runs where status = 'running'`.catch(() => [])) {
      await target`select sync.cancel_run(${r.id}, 'the soak is over', 'soak')`.catch(() => {});
    }
    await ticksEnded(target, 30_000).catch(() => {});
    await worker?.close();
    await gw.close();
    await killer.end();
    await legacy.end();
    await target.end();
  }
}

/** What the fault functions share. */
interface FaultContext {
  t: SoakTarget;
  target: postgres.Sql;
  /** A connection of its own for the kill polls, so that they never wait behind another query. */
  killer: postgres.Sql;
  legacy: postgres.Sql;
  legacyDb: string;
  gw: Gateway;
  keys: StackKeys;
  since: () => number;
  log: (line: string) => void;
  budgetMs: number;
  tickSeconds: number;
  /** The constraint windows so far, for the accounting at the end. */
  constraintWindows: ConstraintWindow[];
}

/** The Vault entries of the schedule: this gateway and its secret key. */
async function storeSecrets(target: postgres.Sql, gw: Gateway, keys: StackKeys): Promise<void> {
  const secrets = { sync_project_url: gw.url, sync_secret_key: keys.SECRET_KEY };
  for (const [name, value] of Object.entries(secrets)) {
    const [row] = await target`select id from vault.decrypted_secrets where name = ${name}`;
    if (!row) await target`select vault.create_secret(${value}, ${name}, 'soak')`;
    else await target`select vault.update_secret(${row.id}, ${value})`;
  }
}

/**
 * `sync.schedule(every)`; where pg_cron lives in another database, its SY409 detail's statements run there as the
 * superuser (the operator's documented step), except the daily deep verification.
 */
async function schedule(target: postgres.Sql, cronAdminUrl: string, every: string): Promise<void> {
  try {
    await target`select sync.schedule(${every}, 'soak')`;
  } catch (e) {
    if (!(e instanceof postgres.PostgresError) || e.code !== "SY409" || !e.detail?.includes("schedule_in_database")) {
      throw e;
    }
    const statements = e.detail.split("\n").filter((l) => !l.includes("'legacy-sync-daily'"));
    await psql(cronAdminUrl, { command: statements.join("\n") });
  }
}

/** The next scheduled tick after run `after` that is running and has pulled, or undefined after `ms`. */
async function nextTick(target: postgres.Sql, after: number, ms: number): Promise<Tick | undefined> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const [r] = await target`
      select r.id, a.pid, extract(epoch from a.query_start) * 1000 as call_start
        from sync.runs r
        join sync.applier l on l.run_id = r.id
        join pg_catalog.pg_stat_activity a on a.pid = l.pid and a.state = 'active'
       where r.trigger = 'schedule' and r.status = 'running' and r.id > ${after}
         and exists (select 1 from sync.batches b where b.run_id = r.id)
       order by r.id limit 1`;
    if (r) return { id: Number(r.id), pid: r.pid, callStart: Number(r.call_start) };
    await sleep(100);
  }
  return undefined;
}

/** Waits until no `call sync.tick` runs in the target (at most `ms`). */
async function ticksEnded(target: postgres.Sql, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const [{ n }] = await target`select count(*)::int as n from pg_catalog.pg_stat_activity
                                  where datname = current_database() and state = 'active'
                                    and query ilike 'call sync.tick%' and pid <> pg_backend_pid()`;
    if (n === 0) return;
    await sleep(200);
  }
}

/** The phases a kill can aim at, and the kind of each. */
const PHASE_OF: Record<"kill_pull" | "kill_apply" | "kill_verify", "pull" | "apply" | "verify"> = {
  kill_pull: "pull",
  kill_apply: "apply",
  kill_verify: "verify",
};

/**
 * Terminates the backend of scheduled run `run` if, at this instant, its open transaction is in `phase` (read from
 * the relation locks it holds; one statement, so the phase cannot change between the look and the kill).
 */
async function killIn(sql: postgres.Sql, pid: number, phase: "pull" | "apply" | "verify"): Promise<boolean> {
  const [r] = await sql`
    with held as (
      select n.nspname, c.relname, l.mode
        from pg_catalog.pg_locks l
        join pg_catalog.pg_class c on c.oid = l.relation
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
       where l.pid = ${pid} and l.locktype = 'relation' and l.granted
    ), phase as (
      select case
               when exists (select 1 from held where nspname = 'sync' and relname = 'work_ids'
                                                  or nspname like 'pg_temp%' and relname = 'work_t2') then 'verify'
               when exists (select 1 from held where nspname = 'sync' and relname = 'source' and mode = 'RowShareLock')
                 then 'pull'
               when exists (select 1 from held where nspname = 'public' and mode = 'RowExclusiveLock') then 'apply'
             end as phase
    )
    select pg_catalog.pg_terminate_backend(${pid}) as killed
      from phase, pg_catalog.pg_stat_activity a
     where phase.phase = ${phase} and a.pid = ${pid} and a.state = 'active' and a.query ilike 'call sync.tick%'`;
  return r?.killed === true;
}

/** One tick fault on `tick`; undefined when a kill's phase did not come before the tick ended. */
async function tickFault(ctx: FaultContext, f: TickFault, tick: Tick): Promise<FaultRecord | undefined> {
  const { target, since, log } = ctx;
  if (f.kind === "outage") return await outage(ctx, f, tick);
  const phase = PHASE_OF[f.kind];
  // The verification runs once the tick's budget is spent (its last step ends first): aim from just before.
  const from = tick.callStart + (f.kind === "kill_verify" ? ctx.budgetMs - 1500 : f.at * ctx.budgetMs);
  const until = tick.callStart + ctx.budgetMs + 15_000;
  await sleep(from - Date.now());
  let killed = false;
  let polls = 0;
  while (!killed && Date.now() < until) {
    killed = await killIn(ctx.killer, tick.pid, phase);
    if (killed) break;
    if (++polls % 20 === 0) {
      const [r] = await target`select status from sync.runs where id = ${tick.id}`;
      if (r?.status !== "running") break;
    }
    await sleep(2);
  }
  if (!killed) return undefined;
  const atMs = since();
  const killedAt = Date.now();
  log(`${clock(atMs)} ${f.kind}: run ${tick.id} terminated mid-${phase} (pid ${tick.pid})`);
  // The next tick's claim sweeps it: failed, category interrupted.
  const next = await nextTick(target, tick.id, 3 * ctx.tickSeconds * 1000 + 30_000);
  const [r] = await target`select status, error ->> 'category' as category from sync.runs where id = ${tick.id}`;
  const ok = next !== undefined && r.status === "failed" && r.category === "interrupted";
  return {
    kind: f.kind,
    atMs,
    detail: `run ${tick.id}'s backend (pid ${tick.pid}) terminated mid-${phase}`,
    outcome: `run ${tick.id} ${r.status}${r.category ? ` (${r.category})` : ""}; ${
      next ? `run ${next.id} pulling ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill` : "no tick since"
    }`,
    ok,
  };
}

/** The reader locked out of the source for `f.seconds`, from `f.at` of the tick's budget. */
async function outage(ctx: FaultContext, f: TickFault, tick: Tick): Promise<FaultRecord> {
  const { target, legacy, since, log, t } = ctx;
  await sleep(tick.callStart + f.at * ctx.budgetMs - Date.now());
  const atMs = since();
  const [{ now: from }] = await target`select clock_timestamp() as now`;
  await legacy.unsafe(`alter role ${t.reader} nologin`);
  // Its open sessions end too, as when the source restarts: the tick's cached FDW connection among them.
  await legacy`select pg_catalog.pg_terminate_backend(pid) from pg_catalog.pg_stat_activity
                where usename = ${t.reader} and datname = ${ctx.legacyDb}`;
  log(`${clock(atMs)} outage: ${t.reader} refused for ${f.seconds} s (run ${tick.id} running)`);
  await sleep(f.seconds! * 1000);
  await legacy.unsafe(`alter role ${t.reader} login`);
  const backAt = Date.now();
  log(`${clock(since())} outage over: ${t.reader} logs in again`);
  const next = await nextTick(target, tick.id, 3 * ctx.tickSeconds * 1000 + 60_000);
  const failed = await target`
    select id, status, error ->> 'phase' as phase, error ->> 'category' as category, error ->> 'sqlstate' as sqlstate
      from sync.runs where trigger = 'schedule' and id >= ${tick.id} and id < ${next?.id ?? 2 ** 53}
       and status <> 'running' order by id`;
  const [alert] = await target`select occurrences, resolved_at is not null as resolved from sync.alerts
                                where kind = 'source_unreachable' and created_at >= ${from} order by id limit 1`;
  // (A tick that had applied batches before its pull failed ends partial.)
  const hit = failed.filter((r) =>
    ["failed", "partial"].includes(r.status) && r.phase === "pull" && ["source", "network"].includes(r.category)
  );
  return {
    kind: "outage",
    atMs,
    detail: `${t.reader} nologin and its sessions terminated for ${f.seconds} s`,
    outcome: `${
      failed.map((r) => `run ${r.id} ${r.status}${r.phase ? ` (${r.phase}, ${r.category}, ${r.sqlstate})` : ""}`).join(
        ", ",
      ) || "no run failed"
    }; alert source_unreachable ${alert ? (alert.resolved ? "raised and resolved" : "raised") : "not raised"}; ${
      next
        ? `run ${next.id} pulling ${((Date.now() - backAt) / 1000).toFixed(1)} s after the login came back`
        : "no tick since"
    }`,
    ok: hit.length > 0 && next !== undefined,
  };
}

/** `POST /sync/runs` with the secret key. */
async function api(
  ctx: FaultContext,
  path: string,
  body: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const key = ctx.keys.SECRET_KEY;
  const res = await fetch(`${ctx.gw.url}/functions/v1/sync${path}`, {
    method: "POST",
    headers: { apikey: key, Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = { text };
  }
  return { status: res.status, body: parsed };
}

/** The scheduled run that holds the applier now, and ms left of its budget; undefined when none runs. */
async function scheduledRunning(ctx: FaultContext): Promise<{ id: number; leftMs: number } | undefined> {
  const [r] = await ctx.target`
    select l.run_id, extract(epoch from a.query_start) * 1000 as call_start
      from sync.applier l join sync.runs r on r.id = l.run_id
      join pg_catalog.pg_stat_activity a on a.pid = l.pid and a.state = 'active' and a.query ilike 'call sync.tick%'
     where r.trigger = 'schedule' and r.status = 'running' and sync._lease_alive(l)`;
  return r ? { id: Number(r.run_id), leftMs: Number(r.call_start) + ctx.budgetMs - Date.now() } : undefined;
}

/** A manual incremental run asked for while a scheduled tick runs (with a few seconds of its budget left). */
async function manualTrigger(ctx: FaultContext): Promise<FaultRecord> {
  const { since, log } = ctx;
  const end = Date.now() + 3 * ctx.tickSeconds * 1000;
  let running: number | undefined;
  while (Date.now() < end) {
    const r = await scheduledRunning(ctx);
    if (r && r.leftMs > 3000) {
      running = r.id;
      break;
    }
    await sleep(200);
  }
  const atMs = since();
  if (running === undefined) {
    return { kind: "manual_trigger", atMs, detail: "no scheduled tick ran", outcome: "not injected", ok: false };
  }
  const res = await api(ctx, "/runs", { mode: "incremental" });
  const err = res.body.error as { code?: string } | undefined;
  const run = res.body.run as { id?: number; trigger?: string } | undefined;
  log(`${clock(atMs)} manual_trigger: POST /sync/runs while run ${running} ran → ${res.status} ${err?.code ?? ""}`);
  return {
    kind: "manual_trigger",
    atMs,
    detail: `POST /sync/runs {"mode": "incremental"} while scheduled run ${running} ran`,
    outcome: `${res.status} ${err?.code ?? JSON.stringify(res.body).slice(0, 120)}${
      run?.id ? ` naming run ${run.id}` : ""
    }`,
    ok: res.status === 409 && err?.code === "already_running" && Number(run?.id) === running,
  };
}

/** Times of a constraint window, kept for the checks at the end. */
interface ConstraintWindow {
  record: FaultRecord;
  /** Before the ALTER was sent, after it committed, before the DROP was sent. */
  asked: Date;
  added: Date;
  dropping: Date;
  openAtDrop: number;
}

/** Runs `statement` with a short lock_timeout, retried: the ALTERs never queue long ahead of the ticks. */
async function alterQuickly(sql: postgres.Sql, statement: string): Promise<void> {
  for (let i = 0;; i++) {
    try {
      await sql.begin(async (tx) => {
        await tx`set local lock_timeout = '2s'`;
        await tx.unsafe(statement);
      });
      return;
    } catch (e) {
      if (!(e instanceof postgres.PostgresError) || e.code !== "55P03" || i >= 30) throw e;
      await sleep(200);
    }
  }
}

/**
 * The CHECK constraint that rejects some stream rows, for `seconds` of scheduled ticks running (a tick killed or
 * failed meanwhile applies nothing, so its gap does not count; at most three intervals more); then dropped and its
 * quarantine retried through the API.
 */
async function constraintFault(ctx: FaultContext, seconds: number): Promise<FaultRecord> {
  const { target, since, log } = ctx;
  const [{ now: asked }] = await target`select clock_timestamp() as now`;
  const atMs = since();
  await alterQuickly(
    target,
    `alter table public.patients add constraint ${CONSTRAINT} check (email not like '${VIOLATES}') not valid`,
  );
  const [{ now: added }] = await target`select clock_timestamp() as now`;
  log(`${clock(atMs)} constraint: ${CONSTRAINT} on public.patients for ${seconds} s of scheduled ticks`);
  const began = Date.now();
  const wallEnd = began + (seconds + 3 * ctx.tickSeconds + 30) * 1000;
  let overlapMs = 0;
  while (overlapMs < seconds * 1000 && Date.now() < wallEnd) {
    const running = await scheduledRunning(ctx);
    await sleep(500);
    if (running) overlapMs += 500;
  }
  const [{ now: dropping }] = await target`select clock_timestamp() as now`;
  await alterQuickly(target, `alter table public.patients drop constraint ${CONSTRAINT}`);
  const open = await openConstraintQuarantine(target);
  const statuses: Record<string, number> = {};
  for (const id of open) {
    const res = await api(ctx, `/quarantine/${id}/retry`, {});
    const key = `${res.status}${
      res.status === 200 ? "" : ` ${(res.body.error as { message?: string })?.message ?? ""}`
    }`;
    statuses[key] = (statuses[key] ?? 0) + 1;
  }
  log(`${clock(since())} constraint dropped; ${open.length} open, retried through the API: ${tally(statuses)}`);
  const record: FaultRecord = {
    kind: "constraint",
    atMs,
    detail: `check (email not like '${VIOLATES}') not valid on public.patients for ${
      (overlapMs / 1000).toFixed(0)
    } s of scheduled ticks (${((Date.now() - began) / 1000).toFixed(0)} s in all)`,
    outcome: `at the drop ${open.length} open; API retry while the schedule ran: ${
      open.length ? tally(statuses) : "-"
    }`,
    ok: true,
  };
  ctx.constraintWindows.push({ record, asked, added, dropping, openAtDrop: open.length });
  return record;
}

/** The open quarantine rows the soak's constraint caused. */
async function openConstraintQuarantine(target: postgres.Sql): Promise<number[]> {
  return (await target`select id from sync.quarantine where released_at is null and reason = 'apply_error'
                         and message like ${`%constraint ${CONSTRAINT}%`} order by id`).map((r) => Number(r.id));
}

/** Retries, through the API, what the constraint left quarantined (the schedule stopped: no run holds the applier). */
async function releaseConstraintQuarantine(
  ctx: FaultContext,
): Promise<{ total: number; statuses: Record<string, number> }> {
  const open = await openConstraintQuarantine(ctx.target);
  const statuses: Record<string, number> = {};
  for (const id of open) {
    const res = await api(ctx, `/quarantine/${id}/retry`, {});
    const key = res.status === 200 ? `retried ${res.body.outcome}` : `${res.status} ${JSON.stringify(res.body.error)}`;
    statuses[key] = (statuses[key] ?? 0) + 1;
  }
  if (open.length) ctx.log(`${clock(ctx.since())} released ${open.length} constraint quarantines: ${tally(statuses)}`);
  return { total: open.length, statuses };
}

/**
 * The constraint windows' accounting: every quarantine it caused names it and holds a violating image, none was left
 * open, and no violating change applied while it held.
 */
async function settleConstraintOutcomes(ctx: FaultContext): Promise<void> {
  for (const w of ctx.constraintWindows) {
    const [s] = await ctx.target`
      select count(*)::int as quarantined,
             count(*) filter (where i.image ->> 'email' not like ${VIOLATES} or i.image ->> 'email' is null)::int as innocent,
             count(*) filter (where q.created_at < ${w.asked} or q.created_at > ${w.dropping})::int as outside,
             count(*) filter (where q.released_at is null)::int as open,
             count(distinct q.legacy_id)::int as patients
        from sync.quarantine q join sync.inbox i on i.id = q.inbox_id
       where q.reason = 'apply_error' and q.message like ${`%constraint ${CONSTRAINT}%`}
         and q.created_at >= ${w.asked} - interval '1 minute' and q.created_at <= ${w.dropping} + interval '1 minute'`;
    const resolutions = Object.fromEntries(
      (await ctx.target`select coalesce(q.resolution, 'open') as r, count(*)::int as n from sync.quarantine q
                         where q.reason = 'apply_error' and q.message like ${`%constraint ${CONSTRAINT}%`}
                           and q.created_at >= ${w.asked} - interval '1 minute'
                           and q.created_at <= ${w.dropping} + interval '1 minute' group by 1 order by 1`)
        .map((r) => [r.r, r.n]),
    );
    // Applied without a write does not count: a stale image, a kept target, or the same version applied before
    // (the upsert leaves an identical row alone, so no new row version met the check).
    const slips = await ctx.target`
      select i.id, i.legacy_id, i.source_version, i.run_id, i.applied_at from sync.inbox i
       where i.entity = 'patients' and i.status = 'applied' and i.reason is null
         and i.image ->> 'email' like ${VIOLATES} and i.applied_at > ${w.added} and i.applied_at < ${w.dropping}
         and not exists (select 1 from sync.inbox p
                          where p.entity = i.entity and p.legacy_id = i.legacy_id and p.id <> i.id
                            and p.source_version = i.source_version and p.image = i.image
                            and p.status = 'applied' and p.applied_at <= i.applied_at)
       order by i.id`;
    const slipped = slips.length;
    w.record.outcome = `${s.quarantined} changes of ${s.patients} patients quarantined (apply_error, constraint ` +
      `${CONSTRAINT}; ${s.innocent} with a conforming e-mail), ${slipped} violating changes applied past it` +
      `${slipped ? ` (${slips.slice(0, 3).map((r) => JSON.stringify(r)).join(", ")})` : ""}; ` +
      `${w.record.outcome}; released: ${tally(resolutions)}`;
    w.record.ok = s.quarantined > 0 && s.innocent === 0 && s.outside === 0 && s.open === 0 && slipped === 0;
  }
}

/**
 * The quarantine against what explains it: rows created since the stream started are either the constraint's
 * (apply_error naming it, the change's image violating it) or bad source rows the oracle expects
 * (`oracle.expected_quarantine()`: still open, or released by a newer change). Returns the unexplained ones.
 */
async function quarantineCheck(
  target: postgres.Sql,
  start: Date,
): Promise<{ open: number; constraint: number; badInput: number; unexplained: string[] }> {
  const rows = await target`
    select q.id, q.entity, q.legacy_id, q.reason, q.message, q.released_at, q.resolution,
           case
             when q.reason = 'apply_error' and q.message like ${`%constraint ${CONSTRAINT}%`} and q.entity = 'patients'
                  and i.image ->> 'email' like ${VIOLATES} then 'constraint'
             when q.reason <> 'apply_error'
                  and (q.resolution = 'newer change'
                       or exists (select 1 from oracle.expected_quarantine() e
                                   where e.entity = q.entity and e.legacy_id = q.legacy_id and e.reason = q.reason))
               then 'bad_input'
           end as cause
      from sync.quarantine q left join sync.inbox i on i.id = q.inbox_id
     where q.created_at >= ${start}
     order by q.id`;
  const [{ open }] = await target`select count(*)::int as open from sync.quarantine where released_at is null`;
  return {
    open,
    constraint: rows.filter((r) => r.cause === "constraint").length,
    badInput: rows.filter((r) => r.cause === "bad_input").length,
    unexplained: rows.filter((r) => !r.cause).map((r) =>
      `quarantine ${r.id}: ${r.entity} ${r.legacy_id} ${r.reason} (${r.message})${
        r.released_at ? `, released (${r.resolution})` : ", open"
      }`
    ),
  };
}

/** `a ×2, b ×1`. */
function tally(counts: Record<string, number>): string {
  const parts = Object.entries(counts).map(([k, n]) => `${k} ×${n}`);
  return parts.length ? parts.join(", ") : "none";
}

/** The report a soak prints: seed, faults, lag per minute, changes, comparison. */
export function formatSoak(r: SoakResult): string {
  const lines: string[] = [];
  lines.push(
    `soak: seed ${r.seed}; ${r.streamSeconds.toFixed(0)} s of stream at ${r.rate} tx/s (${r.seconds} s asked, ` +
      `longer until every fault kind had its tick); ` +
      `scheduled every ${r.every} (pg_cron ${r.cronVersion})`,
  );
  lines.push("faults (time after the stream started):");
  for (const f of r.faults) {
    lines.push(`  ${clock(f.atMs).padEnd(8)} ${f.kind.padEnd(14)} ${f.ok ? "ok  " : "FAIL"} ${f.detail}`);
    lines.push(`  ${"".padEnd(8)} ${"".padEnd(14)}      → ${f.outcome}`);
  }
  lines.push("lag per minute of capture (applied_at − captured_at of the inbox rows pulled; done = applied_at set):");
  lines.push("  minute   changes      done    p50 ms    p99 ms");
  for (const m of r.lag) {
    lines.push(
      `  ${String(m.minute).padStart(6)} ${String(m.changes).padStart(9)} ${String(m.applied).padStart(9)} ${
        String(m.p50).padStart(9)
      } ${String(m.p99).padStart(9)}`,
    );
  }
  lines.push(
    `changes: ${r.changes} pulled (${r.applied} applied or superseded, the rest quarantined, parked or open) from ${r.tx} ` +
      `stream transactions; scheduled runs ${tally(r.runs)}; function answers to pg_net ${tally(r.responses)}`,
  );
  lines.push(
    `drain: ${r.drainMs === null ? "not confirmed on the schedule" : `${r.drainMs} ms after the stream stopped`}; ` +
      `the final manual ticks moved ${r.finalRows} rows`,
  );
  lines.push(
    `quarantine: ${r.quarantine.open} open at the end; since the start ${r.quarantine.constraint} from the ` +
      `constraint, ${r.quarantine.badInput} bad source rows the oracle expects, ${r.unexplained.length} unexplained`,
  );
  for (const u of r.unexplained) lines.push(`  unexplained: ${u}`);
  for (const p of r.problems) lines.push(`problem: ${p}`);
  if (r.differences.length === 0) lines.push("comparison: 0 differences");
  else {
    lines.push(`comparison: ${r.differences.length} differences`);
    for (const d of r.differences.slice(0, 50)) lines.push(`  ${JSON.stringify(d)}`);
    if (r.differences.length > 50) lines.push(`  … ${r.differences.length - 50} more`);
  }
  return lines.join("\n");
}
