/**
 * `deno task bench [--scale S] [--only <measure>] [--shape <preset|json>] [--rate 2000] [--steady-seconds 300]
 * [--native-seconds 60] [--ramp] [--seconds 20] [--compare-capture <file>] [--workers 2]`: the performance measures of quality.md,
 * each as a ratio against a reference measured in the same run, on a stack of its own (port 54622 or
 * SYNC_BENCH_DB_PORT, `.stack/bench`, durable settings like production) and, for the native logical replication
 * reference, a second cluster (the subscriber: that port + 1, `.stack/bench-sub`, stopped at the end).
 *
 * With no `--only`, every row of quality.md: the backfill (end to end, per entity; `call sync.backfill()` beside
 * `--workers` - 1 sessions of `call sync.backfill_worker()`, one per core here) against the plain set-based
 * transform of the same rows (scripts/lib/bench_plain.ts) and against native logical replication's initial copy
 * (scripts/lib/bench_native.ts); verification (the deep check beside `--workers` - 1 `call sync.verify_worker()`);
 * the steady state through the deployed path (pg_cron → pg_net worker → gateway → `sync` function → `sync.tick`,
 * scripts/lib/bench_cron.ts) for `--steady-seconds` at `--rate` tx/s
 * against native logical replication under the same stream for `--native-seconds`; the naive baseline, failure
 * isolation, capture overhead, API latency. Opt-in: `--ramp` (the highest rate the deployed path sustains),
 * `--only steady_loop` (the quicker local tick loop, `--seconds`), `--only modes` (the capture modes side by side),
 * `--only linearity` (the backfill's rows/s at `--linearity-scales 0.1,3`, the large against the small).
 * `--only` is a prefix of measure names; each measure does the backfill it needs first.
 * `--compare-capture` installs another capture version beside the current one (tests/fixtures/capture_v1.sql,
 * renamed into schema sync_capture_cmp) and interleaves it into the capture-overhead runs (off / that version /
 * current). Prints one table and writes bench/results/latest.json (and a dated copy):
 * [{measure, value, unit, reference, ratio, bar, pass}].
 */
import postgres from "postgres";
import { flag, option, taskArgs } from "./lib/args.ts";
import { buildLegacy, parseShape } from "./lib/legacy.ts";
import { psql, withDatabase } from "./lib/psql.ts";
import { installSource, setupTarget } from "./lib/setup.ts";
import { isRunning, paths, ROOT, type StackSpec, start, stop } from "./lib/stack.ts";
import { runStream } from "./lib/stream.ts";
import { createClient } from "@supabase/supabase-js";
import { freePort, startGateway } from "./lib/gateway.ts";
import { makeKeys } from "./lib/keys.ts";
import { plainCleanup, plainReference } from "./lib/bench_plain.ts";
import { measureWriteFloor, type WriteFloor } from "./lib/write_floor.ts";
import {
  nativeCleanup,
  nativeCopy,
  type NativeLoad,
  type NativeOptions,
  nativePrepare,
  nativeTables,
  nativeUnderLoad,
} from "./lib/bench_native.ts";
import { clientsFor, type CronResult, steadyDeployed } from "./lib/bench_cron.ts";
import { type BackfillSummary, backfillWithWorkers, verifyWithWorkers } from "./lib/workers.ts";

const T_START = performance.now();
const BENCH: StackSpec = { name: "bench", port: Number(Deno.env.get("SYNC_BENCH_DB_PORT") ?? 54622), fast: false };
/** The subscriber of the native logical replication reference. */
const SUB: StackSpec = { name: "bench-sub", port: BENCH.port + 1, fast: false };
const args = taskArgs();
const scale = Number(option(args, "scale", "0.5"));
const only = option(args, "only");
const seconds = Number(option(args, "seconds", "20"));
const rate = Number(option(args, "rate", "2000"));
const steadySeconds = Number(option(args, "steady-seconds", "300"));
const nativeSeconds = Number(option(args, "native-seconds", "60"));
const ramp = flag(args, "ramp");
const compareCapture = option(args, "compare-capture");
const shape = parseShape(option(args, "shape") ?? "default");
/**
 * Sessions sharing the backfill (sync.backfill and sync.backfill_worker in the others) and the deep verification
 * (sync.verify and sync.verify_worker): one per core here. `--backfill-workers` is the older name.
 */
const workers = Number(option(args, "workers") ?? option(args, "backfill-workers", "2"));

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
/** Measures that run only when `--only` names them: slower or older variants of a default measure. */
const OPT_IN = ["steady_loop", "mode", "guest", "linearity"];
/** True when measure `m` runs: a prefix match with `--only`; without it every measure but the opt-in ones. */
const want = (m: string) => only ? m.startsWith(only) : !OPT_IN.some((p) => m.startsWith(p));
/** True when an opt-in group runs: `--only` names it (or one of its measures). */
const optIn = (group: string) => only !== undefined && only.startsWith(group);

await start(BENCH);
const admin = paths(BENCH).dbUrl;
const legacyUrl = withDatabase(admin, "bench_legacy");
const targetUrl = withDatabase(admin, "bench_target");
const native: NativeOptions = { publisher: BENCH, legacyDb: "bench_legacy", subscriber: SUB };
// An interrupted run may have left a subscription, a publication or slots: the legacy database cannot be dropped
// while a slot holds it.
await nativeCleanup(native, { subscriberToo: await isRunning(SUB) });
/** Drops and creates the given databases of the bench stack. */
async function recreate(dbs: string[]) {
  for (const db of dbs) {
    await psql(admin, { command: `drop database if exists ${db} with (force)` });
    await psql(admin, { command: `create database ${db}` });
  }
}
await recreate(["bench_legacy", "bench_target"]);
console.log(`generating the legacy database at scale ${scale} ...`);
await buildLegacy(legacyUrl, scale, 42, shape);
await installSource(legacyUrl);
await setupTarget(targetUrl);
const u = new URL(legacyUrl);
/** The conninfo of a legacy database of the bench stack, as connect_source takes it. */
const conninfoFor = (db: string) =>
  `host=${u.hostname} port=${u.port} dbname=${db} user=${u.username} password=${u.password}`;
const conninfo = conninfoFor("bench_legacy");
const target = postgres(targetUrl, { max: 2, onnotice: () => {} });
const [{ c }] = await target`select sync.connect_source(${conninfo}) as c`;
if (!c.connected) throw new Error(`connect_source failed: ${c.error.message}`);
const log = (s: string) => console.log(`[${((performance.now() - T_START) / 1000).toFixed(0)} s] ${s}`);

/** The first full backfill of the run: its summary and wall time. */
let backfillRun: { summary: BackfillSummary; secs: number; helped: number[] } | undefined;
/** Runs the backfill once (the first caller measures it), for the measures that start from a synced target. */
async function backfill(why: string) {
  if (backfillRun) return backfillRun;
  log(`backfill (${why}) ...`);
  const t0 = performance.now();
  const { summary, helped } = await backfillWithWorkers(targetUrl, workers);
  if (summary.status !== "succeeded") throw new Error(`backfill ${summary.status}: ${JSON.stringify(summary.error)}`);
  backfillRun = { summary, secs: (performance.now() - t0) / 1000, helped };
  return backfillRun;
}
/** Entities with fewer rows than this are one chunk: their time is its fixed cost, not a rate. */
const SMALL_ENTITY = 1000;
let writeFloor: WriteFloor = { rows: 0, ms: 0, entities: {} };
const backfillRate = () => backfillRun ? Number(backfillRun.summary.progress.done) / backfillRun.secs : 0;

if (optIn("guest")) {
  // The guest's impact (engine.md §1, issue 15): the legacy application's throughput (Django-like units of work from 4
  // clients, as many as they can) with no backfill, while the first full backfill runs unthrottled, and while it
  // runs throttled by source_load; interleaved windows, the order rotated each round (the noise here is ±20 %).
  // Source and target share this machine's 2 cores, so the unthrottled figure includes the target's own work.
  const throttle = { max_rows_per_second: Number(option(args, "guest-rows-per-second") ?? 5000), pause_ms: 0 };
  log(
    `guest impact: the Django-like stream alone, beside a backfill unthrottled, and throttled (${
      JSON.stringify(throttle)
    }) ...`,
  );
  // --guest-pinned: the application (its clients and backends) and the sync's source sessions on core 0, the target's
  // backfill backend on core 1: the deployment's split (the target on another machine) on one machine's two cores.
  const pinned = flag(args, "guest-pinned");
  const suffix = pinned ? "_pinned" : "";
  const app = postgres(legacyUrl, { max: 4, onnotice: () => {}, connection: { application_name: "guest_app" } });
  const runner = postgres(targetUrl, { max: 1, onnotice: () => {}, connection: { application_name: "guest_target" } });
  const taskset = (cpu: number, pid: number) =>
    new Deno.Command("taskset", { args: ["-apc", String(cpu), String(pid)], stdout: "null", stderr: "null" }).output();
  const pinAll = async () => {
    if (!pinned) return;
    await taskset(0, Deno.pid);
    for (
      const { pid }
        of await app`select pid from pg_stat_activity where application_name in ('guest_app', 'legacy-sync')`
    ) {
      await taskset(0, pid);
    }
    for (const { pid } of await app`select pid from pg_stat_activity where application_name = 'guest_target'`) {
      await taskset(1, pid);
    }
  };
  let running: Promise<unknown> | undefined;
  let finished = false;
  const stop = async () => {
    if (!running) return;
    await target`select sync.pause_run(r.id) from sync.runs r where r.mode = 'backfill' and r.status = 'running'`;
    await running;
    running = undefined;
  };
  // What an unthrottled backfill asks of the source alone: its chunked reads through the FDW, back to back, the rows
  // discarded (on a deployment the target's own work runs on another machine; here it shares the 2 cores).
  let reading: Promise<void> | undefined;
  let readStop = false;
  const reader = postgres(targetUrl, { max: 1, onnotice: () => {}, connection: { application_name: "guest_target" } });
  const reads = async () => {
    const tables = await reader`select split_part(source_table, '.', 2) as t from sync.entities order by name`;
    for (let i = 0; !readStop; i++) {
      const { t } = tables[i % tables.length];
      for (let lo = 0; !readStop; lo += 20000) {
        const [{ n }] = await reader.unsafe(
          `select count(*)::int as n, sum(octet_length(to_jsonb(s)::text)) as b from sync_src.${t} s
            where s.id > ${lo} and s.id <= ${lo + 20000}`,
        );
        if (n === 0) break;
      }
    }
  };
  const stopReads = async () => {
    readStop = true;
    await reading;
    reading = undefined;
    readStop = false;
  };
  const states: Record<string, () => Promise<void>> = {
    none: async () => {
      await stop();
      await stopReads();
    },
    source_reads: async () => {
      await stop();
      reading ??= reads();
      await new Promise((r) => setTimeout(r, 500));
    },
    unthrottled: async () => {
      await stopReads();
      await target`select sync.set_config('{"source_load": {"max_rows_per_second": null}}')`;
      running ??= runner`call sync.backfill(null, null)`.then(([r]) => {
        if (r.summary.status === "succeeded") finished = true;
      });
      await new Promise((r) => setTimeout(r, 1000));
    },
    throttled: async () => {
      await stopReads();
      await target`select sync.set_config(${target.json({ source_load: throttle })})`;
      running ??= runner`call sync.backfill(null, null)`.then(([r]) => {
        if (r.summary.status === "succeeded") finished = true;
      });
      await new Promise((r) => setTimeout(r, 1000));
    },
  };
  // The CPU the sync's sessions spend on the source (their backends, application_name legacy-sync) against the
  // target's backfill backend, over the unthrottled windows: what a backfill costs the source wherever the target
  // runs (here both share the cores the application saturates).
  const cpu = { source: 0, target: 0, secs: 0 };
  const cpuOf = async () => {
    const src = await app`select pid from pg_stat_activity where application_name = 'legacy-sync'`;
    const [t] =
      await target`select pid from pg_stat_activity where query like 'call sync.backfill%' and pid <> pg_backend_pid()`;
    return { src: src.map((r) => r.pid as number), tgt: (t?.pid ?? 0) as number };
  };
  const ticks = async (pid: number) => {
    try {
      const f = (await Deno.readTextFile(`/proc/${pid}/stat`)).split(") ")[1].split(" ");
      return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks of 1/100 s
    } catch {
      return 0;
    }
  };
  const sum: Record<string, number> = {};
  const entries = Object.entries(states);
  for (let i = 0; i < 3; i++) {
    for (const [k, setup] of [...entries.slice(i), ...entries.slice(0, i)]) {
      await setup();
      await pinAll();
      const pids = k === "unthrottled" ? await cpuOf() : undefined;
      const before = pids && await Promise.all([...pids.src, pids.tgt].map(ticks));
      const end = performance.now() + 4000;
      let n = 0;
      await Promise.all([0, 1, 2, 3].map(async () => {
        while (performance.now() < end) {
          await app.begin((tx) => tx`select demo_gen.stream_step()`).catch(() => {});
          n++;
        }
      }));
      if (pids && before) {
        const after = await Promise.all([...pids.src, pids.tgt].map(ticks));
        const d = after.map((a, j) => a - before[j]);
        cpu.source += d.slice(0, -1).reduce((x, y) => x + y, 0);
        cpu.target += d[d.length - 1];
        cpu.secs += 4;
      }
      sum[k] = (sum[k] ?? 0) + n / 4 / 3;
    }
  }
  results.push({
    measure: `guest_source_cpu_cores${suffix}`,
    value: round(cpu.source / cpu.secs),
    unit: "cores",
    reference: round(cpu.target / cpu.secs),
    ratio: round(cpu.source / Math.max(cpu.target, 0.01)),
    bar:
      "report: CPU of the sync's source sessions during an unthrottled backfill (reference: the target's backend); " +
      "on a source of N cores the backfill takes about value / N of it",
    pass: true,
  });
  await stop();
  await stopReads();
  await reader.end();
  await target`select sync.set_config('{"source_load": null}')`;
  if (finished) log("guest impact: the backfill finished inside the windows; use a larger --scale");
  for (const k of ["source_reads", "unthrottled", "throttled"]) {
    results.push({
      measure: `guest_app_throughput_${k}${suffix}`,
      value: Math.round(sum[k]),
      unit: "tx/s",
      reference: Math.round(sum.none),
      ratio: round(sum[k] / sum.none),
      bar: `>= 0.9 x the application alone${k === "throttled" ? ` (source_load ${JSON.stringify(throttle)})` : ""}${
        k === "source_reads" ? " (the unthrottled backfill's reads alone, the target's work elsewhere)" : ""
      }${finished ? "; the backfill finished early" : ""}`,
      pass: sum[k] / sum.none >= 0.9 && !finished,
    });
  }
  await app.end();
  await runner.end();
}

if (want("backfill")) {
  const { summary, secs } = await backfill("end to end");
  const rows = Number(summary.progress.done);
  const rate = rows / secs;
  log(
    "plain set-based transform of the same rows (reference: work_in → the pack's transforms → copies of the targets) ...",
  );
  const plain = await plainReference(target);
  const plainRows = Object.values(plain).reduce((n, p) => n + p.rows, 0);
  const plainRate = plainRows / (Object.values(plain).reduce((n, p) => n + p.ms, 0) / 1000);
  await plainCleanup(target);
  log(
    "write floor: the synced rows copied into tables like the targets, with their indexes, checks and foreign keys ...",
  );
  writeFloor = await measureWriteFloor(target);
  // Per entity: rows/s and MB/s of source rows (quality.md: >= 20k rows/s or >= 50 MB/s, whichever the row width
  // makes binding), against the plain transform of the same entity. A row's size is that of its text form (what
  // the copy moves; pg_column_size would count a wide text by its compressed storage). An entity of fewer rows than
  // a chunk has no rate to speak of: its time is one chunk's fixed cost.
  const legacySql = postgres(legacyUrl, { max: 1, onnotice: () => {} });
  const progress = summary.progress.entities;
  /** The entity's write floor, in rows/s and MB/s of its source rows: what no transform can beat. */
  const floorOf = (name: string, bytes: number) => {
    const f = writeFloor?.entities[name];
    if (!f || !f.ms) return "";
    return `; write floor ${Math.round(f.rows / (f.ms / 1000))} rows/s, ${round(bytes / 1e6 / (f.ms / 1000))} MB/s`;
  };
  const ents = await target`select name, split_part(source_table, '.', 2) as t from sync.entities`;
  for (const e of ents) {
    const pr = progress[e.name];
    const pl = plain[e.name];
    if (!pr || !pr.done || !pr.ms || !pl?.ms) continue;
    const [{ bytes }] = await legacySql.unsafe(
      `select coalesce(sum(octet_length(s::text)), 0)::bigint as bytes from ${e.t} s`,
    );
    const perS = pr.done / (pr.ms / 1000);
    const mbPerS = Number(bytes) / 1e6 / (pr.ms / 1000);
    const plainPerS = pl.rows / (pl.ms / 1000);
    results.push({
      measure: `backfill_${e.name}`,
      value: Math.round(perS),
      unit: "rows/s",
      reference: Math.round(plainPerS),
      ratio: round(perS / plainPerS),
      bar: `${pr.done} rows, ${round(Number(bytes) / 1e6)} MB, ${round(mbPerS)} MB/s (plain ${
        round(Number(bytes) / 1e6 / (pl.ms / 1000))
      } MB/s${floorOf(e.name, Number(bytes))}); ${
        pr.done < SMALL_ENTITY
          ? `n/a: fewer than ${SMALL_ENTITY} rows, one chunk's fixed cost (${Math.round(pr.ms)} ms)`
          : ">= 20000 rows/s or >= 50 MB/s"
      }`,
      pass: pr.done < SMALL_ENTITY || perS >= 20000 || mbPerS >= 50,
    });
  }
  await legacySql.end();
  results.push({
    measure: "backfill_rows_per_s",
    value: Math.round(rate),
    unit: "rows/s",
    reference: Math.round(plainRate),
    ratio: round(rate / plainRate),
    bar: `>= 20000 rows/s and >= 0.5 x plain (${rows} rows in ${secs.toFixed(1)} s; ${workers} session(s): ` +
      `sync.backfill and ${workers - 1} sync.backfill_worker, which copied ${
        backfillRun?.helped.join("+") || 0
      } chunks; plain: one session, ${plainRows} rows)`,
    pass: rate >= 20000 && rate / plainRate >= 0.5,
  });
  const floorRate = writeFloor.rows / (writeFloor.ms / 1000);
  results.push({
    measure: "target_write_floor_rows_per_s",
    value: Math.round(floorRate),
    unit: "rows/s",
    reference: Math.round(rate),
    ratio: round(floorRate / rate),
    bar: `reference (no bar): the target tables accepting the final ${writeFloor.rows} rows alone (indexes, checks, ` +
      "foreign keys; no source, transform or id map), against the backfill",
    pass: true,
  });
}

const nativeCopyWanted = want("native_copy") || (want("backfill_vs_native") && backfillRun !== undefined);
// The deployed steady state's lags are reported against native logical replication under the same stream.
const nativeLoadWanted = want("native_steady") || want("steady_lag");
if (nativeCopyWanted || nativeLoadWanted) {
  const legacySql = postgres(legacyUrl, { max: 1, onnotice: () => {} });
  const tables = await nativeTables(target, legacySql);
  await legacySql.end();
  log(`native logical replication: subscriber on port ${SUB.port}, publication of ${tables.length} tables ...`);
  await nativePrepare(native, tables);
  if (nativeCopyWanted) {
    log("native logical replication: initial copy (copy_data = true) until every table is ready ...");
    const nc = await nativeCopy(native, { tables });
    const nRate = nc.rows / (nc.ms / 1000);
    const nMb = nc.bytes / 1e6 / (nc.ms / 1000);
    results.push({
      measure: "native_copy_rows_per_s",
      value: Math.round(nRate),
      unit: "rows/s",
      reference: Math.round(nRate),
      ratio: 1,
      bar: `reference (no bar): ${nc.rows} rows, ${round(nc.bytes / 1e6)} MB in ${(nc.ms / 1000).toFixed(1)} s, ${
        round(nMb)
      } MB/s; ${tables.length} tables, PKs only on the subscriber`,
      pass: true,
    });
    results.push({
      measure: "native_copy_mb_per_s",
      value: round(nMb),
      unit: "MB/s",
      reference: round(nMb),
      ratio: 1,
      bar: "reference (no bar): source row bytes (pg_column_size) of the published columns",
      pass: true,
    });
    if (backfillRun && want("backfill_vs_native")) {
      const b = backfillRate();
      results.push({
        measure: "backfill_vs_native",
        value: Math.round(b),
        unit: "rows/s",
        reference: Math.round(nRate),
        ratio: round(b / nRate),
        bar: ">= 0.5 x native logical replication's initial copy (issue 13's goal)" +
          (writeFloor.rows
            ? `; the target's own write floor is ${round(writeFloor.rows / (writeFloor.ms / 1000) / nRate)} x native`
            : ""),
        pass: b / nRate >= 0.5,
      });
    }
  }
}

if (want("verify")) {
  // Verification at this scale: the cheap check that rides on every run that applied rows, and the deep check
  // (every source row read and transformed again), against the backfill of the same rows as the reference.
  await backfill("the verification's reference");
  const backfillRate = Math.round(Number(backfillRun!.summary.progress.done) / backfillRun!.secs);
  await target.unsafe("analyze");
  log("verification: cheap, then deep ...");
  let t0 = performance.now();
  // What rides on every run that applied rows: a drift sample of 50 per entity (here every entity), no repair.
  await target`select sync._verify(null, false, null, 50, false, true)`;
  const lightMs = performance.now() - t0;
  t0 = performance.now();
  const [{ v: cheap }] = await target`select sync.verify(false) as v`;
  const cheapMs = performance.now() - t0;
  t0 = performance.now();
  const { summary: deep, helped } = await verifyWithWorkers(targetUrl, workers);
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
    bar: "<= 10 % of the run (reference: the backfill of these rows); drift sample of every entity, rides on each run",
    pass: lightMs <= 0.1 * rows / backfillRate * 1000,
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
    bar: `2.5M rows <= 60 s (>= 41667 rows/s; at this rate ${Math.round(2_500_000 / deepRate)} s): ${rows} rows in ${
      deepSecs.toFixed(1)
    } s; ok=${deep.ok}; ${workers} session(s): sync.verify and ${workers - 1} sync.verify_worker, which checked ${
      helped.reduce((a, b) => a + b, 0)
    } chunks`,
    pass: deep.ok === true && deepRate * 60 >= 2_500_000,
  });
}

/**
 * The floor of this applier's design for `n` profile updates: the three writes every applied change needs and
 * nothing else (its target row, the image it last wrote in the id map, which conflict detection reads, and its inbox
 * row marked applied), each one set-based statement over the same rows, in a transaction rolled back. Its rate over
 * the naive one is the best ratio the design could reach here: a round trip on this loopback costs a fraction of a
 * millisecond, not the network's milliseconds of a deployment.
 */
async function applyFloorRate(n: number): Promise<number> {
  let ms = 0;
  const rollback = new Error("rollback");
  await target.begin(async (sql) => {
    await sql`create temp table floor_ids on commit drop as
                select m.legacy_id, m.target_id from sync.id_map m
                 where m.entity = 'profiles' and not m.deleted order by m.legacy_id limit ${n}`;
    await sql`insert into sync.inbox (entity, legacy_id, op, image, source_version, captured_at)
              select 'profiles', f.legacy_id, 'upsert', '{}', 1000000000, now() from floor_ids f`;
    await sql`analyze floor_ids`;
    const t0 = performance.now();
    await sql`update public.profiles p set username = p.username || '~', updated_at = now()
                from floor_ids f where p.id = f.target_id`;
    await sql`update sync.id_map m set image = jsonb_set(m.image, '{username}', to_jsonb((m.image ->> 'username') || '~')),
                     source_version = 1000000000, updated_at = now()
                from floor_ids f where m.entity = 'profiles' and m.legacy_id = f.legacy_id`;
    await sql`update sync.inbox i set status = 'applied', applied_at = now()
               where i.entity = 'profiles' and i.status = 'pending' and i.source_version = 1000000000`;
    ms = performance.now() - t0;
    throw rollback;
  }).catch((e) => {
    if (e !== rollback) throw e;
  });
  return n / (ms / 1000);
}

if (want("naive")) {
  // Every profile (10,000 at scale 0.5), so the set-based apply's fixed cost per call is spread as a backfill's is.
  const [{ n }] = await target`select least(count(*), 10000)::int as n from sync_src.auth_user`;
  console.log(`naive row-by-row apply vs the set-based applier (same ${n} profile changes) ...`);
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
  const floorRate = await applyFloorRate(n);
  await target.unsafe(`drop table public.naive_profiles`);
  results.push({
    measure: "apply_vs_naive",
    value: Math.round(setRate),
    unit: "changes/s",
    reference: Math.round(naiveRate),
    ratio: round(setRate / naiveRate),
    bar: `>= 50 x row-by-row; ${
      floorRate / naiveRate < 50 ? "out of reach here: " : ""
    }the design's floor, its three writes per change alone (target row, id map image, inbox row), ${
      Math.round(floorRate)
    } changes/s = ${round(floorRate / naiveRate)} x naive`,
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

// Last of the default measures: the stream leaves the inbox and the tables larger, which slows the ones above.
let steady: CronResult | undefined;
if (want("steady_changes_per_s") || want("steady_lag") || (ramp && want("steady_max"))) {
  await backfill("not measured: the steady state starts from a synced target");
  // A steady state, not the aftermath of the bulk load: the vacuum and analyze autovacuum would otherwise run on both
  // databases' freshly loaded tables during the window (minutes at scale 1, on the same two cores), as an operator
  // runs them after an initial copy.
  log("vacuum (analyze) of the legacy and target databases after the bulk load ...");
  // Then a checkpoint: the load's and the vacuum's dirty pages (every page of every table: hint bits, the visibility
  // map) are written now, not by the checkpoint that would otherwise fall in the window's first minutes.
  for (const db of ["bench_legacy", "bench_target"]) {
    await psql(withDatabase(paths(BENCH).adminUrl, db), { command: "vacuum (analyze)" });
  }
  await psql(paths(BENCH).adminUrl, { command: "checkpoint" });
  // ... and from a sync that has caught up: the earlier measures (capture overhead, the naive baseline) leave changes
  // in the capture log, which the first scheduled tick would otherwise work through inside the window.
  const [{ summary: drained }] = await target`call sync.tick(300, null)`;
  log(`drained what the earlier measures captured: ${JSON.stringify(drained.counts ?? {}).slice(0, 200)}`);
  log(
    `steady state through the deployed path (pg_cron → net.http_post → worker → gateway → sync → sync.tick): ` +
      `waiting for the first scheduled tick, then ${steadySeconds} s at ${rate} tx/s${
        ramp ? ", then the ramp" : ""
      } ...`,
  );
  steady = await steadyDeployed({
    cronAdminUrl: paths(BENCH).adminUrl,
    targetUrl,
    legacyUrl,
    logFile: `${paths(BENCH).dir}/bench-functions.log`,
  }, {
    rate,
    seconds: steadySeconds,
    rampRates: ramp ? [1.5, 2, 3, 4, 6, 8].map((k) => Math.round(rate * k)) : [],
    rampSeconds: 60,
    rampBarMs: 5000,
  });
  log(`first scheduled tick ${(steady.firstTickMs / 1000).toFixed(1)} s after scheduling`);
}

let nativeLoad: NativeLoad | undefined;
if (nativeLoadWanted) {
  log(`native logical replication under the same stream: ${nativeSeconds} s at ${rate} tx/s ...`);
  nativeLoad = await nativeUnderLoad(native, { legacyUrl, rate, clients: clientsFor(rate), seconds: nativeSeconds });
  const nl = nativeLoad;
  const why = `reference (no bar): native logical replication, ${Math.round(nl.tx / nl.seconds)} tx/s for ` +
    `${nl.seconds} s, replay_lag sampled every 200 ms (${nl.samples} samples, ${nl.idle} idle); caught up ` +
    `${Math.round(nl.drainMs)} ms after the stream`;
  results.push({
    measure: "native_steady_lag_p50_ms",
    value: round(nl.p50),
    unit: "ms",
    reference: 1000,
    ratio: round(nl.p50 / 1000, 4),
    bar: why,
    pass: true,
  });
  results.push({
    measure: "native_steady_lag_p99_ms",
    value: round(nl.p99),
    unit: "ms",
    reference: 5000,
    ratio: round(nl.p99 / 5000, 4),
    bar: why,
    pass: true,
  });
}
if (nativeCopyWanted || nativeLoadWanted) {
  await nativeCleanup(native, { subscriberToo: true });
  await psql(paths(SUB).adminUrl, { command: "drop database if exists bench_sub with (force)" });
  await stop(SUB);
}

if (steady) {
  const w = steady.window;
  const changesPerS = w.applied / w.seconds;
  const txPerS = w.tx / w.seconds;
  // The lags against native logical replication under the same stream when it ran, else against the bar.
  const ref = (p: "p50" | "p99", bar: number) => nativeLoad ? Math.max(0.01, round(nativeLoad[p])) : bar;
  const refName = nativeLoad ? "reference: native logical replication, same stream" : "reference: the bar";
  if (want("steady_changes_per_s")) {
    results.push({
      measure: "steady_changes_per_s",
      value: Math.round(changesPerS),
      unit: "changes/s",
      reference: Math.round(txPerS),
      ratio: round(changesPerS / Math.max(txPerS, 1)),
      bar: `>= 2000 changes/s for ${w.seconds} s with the lag bars, pg_cron → pg_net → function → sync.tick; ` +
        `reference: legacy tx/s committed (${w.rate} asked); ${w.pending} still pending after 30 s`,
      pass: changesPerS >= 2000 && w.pending === 0 && w.p50 <= 1000 && w.p99 <= 5000,
    });
  }
  if (want("steady_lag")) {
    results.push({
      measure: "steady_lag_p50_ms",
      value: w.p50,
      unit: "ms",
      reference: ref("p50", 1000),
      ratio: round(w.p50 / ref("p50", 1000)),
      bar: `<= 1000 ms; ${refName}`,
      pass: w.p50 <= 1000,
    });
    results.push({
      measure: "steady_lag_p99_ms",
      value: w.p99,
      unit: "ms",
      reference: ref("p99", 5000),
      ratio: round(w.p99 / ref("p99", 5000)),
      bar: `<= 5000 ms; ${refName}`,
      pass: w.p99 <= 5000,
    });
  }
  if (ramp && want("steady_max")) {
    const windows = [w, ...steady.ramp];
    const ok = windows.filter((x) => x.p99 <= 5000 && x.pending === 0);
    const best = ok.reduce((m, x) => Math.max(m, x.tx / x.seconds), 0);
    const last = windows[windows.length - 1];
    results.push({
      measure: "steady_max_sustained_tx_per_s",
      value: Math.round(best),
      unit: "tx/s",
      reference: rate,
      ratio: round(best / rate),
      bar: `steps of 60 s at ${steady.ramp.map((x) => x.rate).join(", ")} tx/s asked until lag p99 > 5 s; last: ` +
        `${Math.round(last.tx / last.seconds)} tx/s committed, p99 ${last.p99} ms; no bar`,
      pass: true,
    });
  }
}

if (optIn("steady_loop")) {
  await backfill("not measured: the steady state starts from a synced target");
  log(`steady state, local loop (call sync.tick every 100 ms): live stream for ${seconds} s at ${rate} tx/s ...`);
  const ac = new AbortController();
  setTimeout(() => ac.abort(), seconds * 1000);
  const t0 = Date.now();
  const stream = runStream(legacyUrl, { rate, clients: clientsFor(rate), signal: ac.signal });
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
    measure: "steady_loop_changes_per_s",
    value: Math.round(changesPerS),
    unit: "changes/s",
    reference: Math.round(st.total / seconds),
    ratio: round(changesPerS / Math.max(st.total / seconds, 1)),
    bar: "keeps up with the stream (reference: legacy transactions/s); local loop, not the deployed path",
    pass: Number(lag.p99) <= 5,
  });
  results.push({
    measure: "steady_loop_lag_p50_ms",
    value: Math.round(Number(lag.p50) * 1000),
    unit: "ms",
    reference: 1000,
    ratio: round(Number(lag.p50)),
    bar: "<= 1000 ms",
    pass: Number(lag.p50) <= 1,
  });
  results.push({
    measure: "steady_loop_lag_p99_ms",
    value: Math.round(Number(lag.p99) * 1000),
    unit: "ms",
    reference: 5000,
    ratio: round(Number(lag.p99) / 5),
    bar: "<= 5000 ms",
    pass: Number(lag.p99) <= 5,
  });
}

if (optIn("mode")) {
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

if (optIn("linearity")) {
  // quality.md's apply scaling and issue 13's linearity: the backfill's rows/s on a large dataset against a small one,
  // both measured in this process, each on fresh databases of their own (`--linearity-scales small,large`).
  const [small, large] = (option(args, "linearity-scales") ?? "0.1,3").split(",").map(Number);
  const rates: { scale: number; rows: number; rate: number; floor: number }[] = [];
  for (const s of [small, large]) {
    await recreate(["bench_lin_legacy", "bench_lin_target"]);
    log(`linearity: generating scale ${s} ...`);
    const lLegacy = withDatabase(admin, "bench_lin_legacy");
    const lTarget = withDatabase(admin, "bench_lin_target");
    await buildLegacy(lLegacy, s, 42, shape);
    await installSource(lLegacy);
    await setupTarget(lTarget);
    const sql = postgres(lTarget, { max: 1, onnotice: () => {} });
    try {
      await sql`select sync.connect_source(${conninfoFor("bench_lin_legacy")})`;
      log(`linearity: backfill at scale ${s} ...`);
      const t0 = performance.now();
      const { summary } = await backfillWithWorkers(lTarget, workers);
      if (summary.status !== "succeeded") {
        throw new Error(`backfill ${summary.status}: ${JSON.stringify(summary.error)}`);
      }
      const rows = Number(summary.progress.done);
      const rate = rows / ((performance.now() - t0) / 1000);
      // The target's own scaling beside it: the same rows into fresh tables like the targets, nothing else.
      const wf = await measureWriteFloor(sql);
      const floor = wf.rows / (wf.ms / 1000);
      rates.push({ scale: s, rows, rate, floor });
      const per = Object.entries(summary.progress.entities as Record<string, { done: number; ms: number }>)
        .filter(([, e]) => e.done >= SMALL_ENTITY)
        .map(([k, e]) => `${k} ${Math.round(e.done / (e.ms / 1000))}`);
      log(
        `linearity: scale ${s}: ${Math.round(rate)} rows/s (write floor ${Math.round(floor)}); ${per.join(", ")}`,
      );
    } finally {
      await sql.end();
    }
  }
  for (const db of ["bench_lin_legacy", "bench_lin_target"]) {
    await psql(admin, { command: `drop database if exists ${db} with (force)` });
  }
  const [a, b] = rates;
  results.push({
    measure: "backfill_linearity",
    value: Math.round(b.rate),
    unit: "rows/s",
    reference: Math.round(a.rate),
    ratio: round(b.rate / a.rate),
    bar: `>= 0.8: scale ${b.scale} (${b.rows} rows) against scale ${a.scale} (${a.rows} rows), the same process; ` +
      `the target's write floor alone: ${Math.round(b.floor)} against ${Math.round(a.floor)} rows/s (${
        round(b.floor / a.floor)
      })`,
    pass: b.rate / a.rate >= 0.8,
  });
}

await target.end();
const wall = (performance.now() - T_START) / 1000;
console.log("");
console.log(
  `scale ${scale}${only ? `, --only ${only}` : ""}: wall time ${Math.floor(wall / 60)} min ${Math.round(wall % 60)} s`,
);
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

function round(x: number, digits = 2): number {
  return Math.round(x * 10 ** digits) / 10 ** digits;
}
