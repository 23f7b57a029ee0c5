/**
 * PostgreSQL's native logical replication as the bench's reference (quality.md): a second local cluster (the
 * subscriber, `.stack/bench-sub`, made by stack.ts like any stack), a publication of exactly the legacy tables and
 * columns the sync reads (sync.entities' source tables in schema public, less their `source_exclude` columns, so no
 * password hash leaves the legacy database), the same tables on the subscriber (columns, NOT NULL and the primary
 * key, built from the publisher's catalog: no foreign keys, no secondary indexes, no triggers), then
 *
 * - {@link nativeCopy}: `create subscription … with (copy_data = true)`, timed until every table of
 *   pg_subscription_rel is ready (`r`); the subscription (and with it its slot) is dropped afterwards;
 * - {@link nativeUnderLoad}: a subscription with `copy_data = false` while the legacy stream runs, its lag sampled
 *   every 200 ms from `pg_stat_replication.replay_lag` on the publisher.
 *
 * Replication needs a role with REPLICATION that may read the tables, and `create subscription` a superuser on the
 * subscriber (PostgreSQL 15): both sides use the stacks' superuser, for this reference only.
 */
import postgres from "postgres";
import { psql, withDatabase } from "./psql.ts";
import { paths, type StackSpec, start } from "./stack.ts";
import { runStream } from "./stream.ts";

/** The subscriber's database. */
export const SUB_DB = "bench_sub";
const PUBLICATION = "bench_native";

/** Where the reference runs. */
export interface NativeOptions {
  /** The publisher's stack (its superuser URL, database replaced). */
  publisher: StackSpec;
  /** The legacy database on the publisher. */
  legacyDb: string;
  /** The subscriber's stack. */
  subscriber: StackSpec;
}

/** A published table: its name in schema public and the columns the sync reads. */
export interface NativeTable {
  table: string;
  columns: string[];
}

function pubAdmin(o: NativeOptions): string {
  return withDatabase(paths(o.publisher).adminUrl, o.legacyDb);
}

function subAdmin(o: NativeOptions): string {
  return withDatabase(paths(o.subscriber).adminUrl, SUB_DB);
}

/** The subscriber's connection string to the publisher, as its superuser (REPLICATION, reads every table). */
function pubConninfo(o: NativeOptions): string {
  const u = new URL(paths(o.publisher).adminUrl);
  return `host=${u.hostname} port=${u.port} dbname=${o.legacyDb} user=${u.username} password=${
    decodeURIComponent(u.password)
  }`;
}

/** The legacy tables (schema public) and columns the sync reads, from the target's registry. */
export async function nativeTables(target: postgres.Sql, legacy: postgres.Sql): Promise<NativeTable[]> {
  const ents = await target`select split_part(source_table, '.', 2) as t, source_exclude as ex from sync.entities
                             where available and split_part(source_table, '.', 1) = 'public' order by name`;
  const out: NativeTable[] = [];
  for (const e of ents) {
    const cols = await legacy`select a.attname::text as c from pg_catalog.pg_attribute a
                               where a.attrelid = ${`public.${e.t}`}::regclass and a.attnum > 0 and not a.attisdropped
                                 and not a.attname = any (${e.ex}::text[]) order by a.attnum`;
    out.push({ table: e.t, columns: cols.map((r) => r.c) });
  }
  return out;
}

/**
 * Removes what a run (this one or an interrupted one) left: the subscriptions of the subscriber's database (when
 * the subscriber runs) and, on the publisher, the publication and every replication slot of the legacy database
 * (their walsenders terminated first), so that the legacy database can be dropped. Idempotent.
 */
export async function nativeCleanup(o: NativeOptions, opts: { subscriberToo: boolean }): Promise<void> {
  if (opts.subscriberToo) await dropSubscriptions(o);
  const admin = paths(o.publisher).adminUrl;
  await psql(admin, {
    command: `select pg_terminate_backend(active_pid) from pg_replication_slots
               where database = '${o.legacyDb}' and active_pid is not null`,
  });
  for (let i = 0; i < 50; i++) {
    const busy = await psql(admin, {
      command: `select count(*) from pg_replication_slots where database = '${o.legacyDb}' and active`,
    });
    if (busy === "0") break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await psql(admin, {
    command: `select pg_drop_replication_slot(slot_name) from pg_replication_slots
               where database = '${o.legacyDb}' and not active`,
  });
  const has = await psql(admin, { command: `select count(*) from pg_database where datname = '${o.legacyDb}'` });
  if (has === "1") await psql(pubAdmin(o), { command: `drop publication if exists ${PUBLICATION}` });
}

/** Drops the subscriptions of the subscriber's database; one whose slot cannot be dropped is detached first. */
async function dropSubscriptions(o: NativeOptions): Promise<void> {
  const admin = paths(o.subscriber).adminUrl;
  const has = await psql(admin, { command: `select count(*) from pg_database where datname = '${SUB_DB}'` });
  if (has !== "1") return;
  const subs = await psql(subAdmin(o), {
    command: "select subname from pg_subscription where subdbid = (select oid from pg_database where datname = " +
      "current_database())",
  });
  for (const s of subs.split("\n").filter((x) => x)) {
    try {
      await psql(subAdmin(o), { command: `drop subscription ${s}` });
    } catch {
      await psql(subAdmin(o), {
        command:
          `alter subscription ${s} disable; alter subscription ${s} set (slot_name = none); drop subscription ${s}`,
      });
    }
  }
}

/**
 * Starts the subscriber, recreates its database with the published tables (columns, NOT NULL, primary key) and
 * the publication on the legacy database. Idempotent.
 */
export async function nativePrepare(o: NativeOptions, tables: NativeTable[]): Promise<void> {
  await start(o.subscriber);
  await dropSubscriptions(o);
  const sadmin = paths(o.subscriber).adminUrl;
  await psql(sadmin, { command: `drop database if exists ${SUB_DB} with (force)` });
  await psql(sadmin, { command: `create database ${SUB_DB}` });
  const pub = postgres(pubAdmin(o), { max: 1, onnotice: () => {} });
  try {
    const ddl: string[] = [];
    for (const t of tables) {
      const [{ d }] = await pub`
        select format('create table public.%I (%s, %s);', c.relname,
                      string_agg(format('%I %s%s', a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
                                        case when a.attnotnull then ' not null' else '' end), ', ' order by a.attnum),
                      (select pg_catalog.pg_get_constraintdef(k.oid) from pg_catalog.pg_constraint k
                        where k.conrelid = c.oid and k.contype = 'p')) as d
          from pg_catalog.pg_class c
          join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attname = any (${t.columns}::text[])
         where c.oid = ${`public.${t.table}`}::regclass
         group by c.oid, c.relname`;
      if (!d) throw new Error(`native reference: public.${t.table} has no primary key (a subscriber needs one)`);
      ddl.push(d);
    }
    await psql(subAdmin(o), { command: ddl.join("\n") });
    await pub.unsafe(`drop publication if exists ${PUBLICATION}`);
    await pub.unsafe(
      `create publication ${PUBLICATION} for table ${
        tables.map((t) => `public.${pid(t.table)} (${t.columns.map(pid).join(", ")})`).join(", ")
      }`,
    );
  } finally {
    await pub.end();
  }
}

/** A quoted identifier. */
function pid(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** What {@link nativeCopy} measured. */
export interface NativeCopy {
  rows: number;
  bytes: number;
  ms: number;
}

/**
 * The initial copy: `create subscription … with (copy_data = true)`, timed until every published table is ready;
 * then the subscription is dropped (its slot with it). The subscriber's tables must be empty ({@link nativePrepare}).
 * @throws Error when the copy is not done within `timeoutMs` (default 15 minutes).
 */
export async function nativeCopy(o: NativeOptions, opts: { tables: NativeTable[]; timeoutMs?: number }) {
  const pub = postgres(pubAdmin(o), { max: 1, onnotice: () => {} });
  const sub = postgres(subAdmin(o), { max: 1, onnotice: () => {} });
  try {
    let rows = 0;
    let bytes = 0;
    for (const t of opts.tables) {
      const [r] = await pub.unsafe(
        `select count(*)::bigint as n, coalesce(sum(pg_column_size(s.*)), 0)::bigint as b
           from (select ${t.columns.map(pid).join(", ")} from public.${pid(t.table)}) s`,
      );
      rows += Number(r.n);
      bytes += Number(r.b);
    }
    const t0 = performance.now();
    await sub.unsafe(
      `create subscription bench_native_copy connection '${pubConninfo(o).replaceAll("'", "''")}'
         publication ${PUBLICATION} with (copy_data = true)`,
    );
    const end = Date.now() + (opts.timeoutMs ?? 15 * 60_000);
    for (;;) {
      const [s] = await sub`select count(*)::int as n, count(*) filter (where r.srsubstate = 'r')::int as ready
                               from pg_catalog.pg_subscription_rel r
                               join pg_catalog.pg_subscription s on s.oid = r.srsubid
                              where s.subname = 'bench_native_copy'`;
      if (s.n === opts.tables.length && s.ready === s.n) break;
      if (Date.now() > end) throw new Error(`native copy: ${s.ready} of ${opts.tables.length} tables ready in time`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const ms = performance.now() - t0;
    await sub.unsafe(`drop subscription bench_native_copy`);
    // Ready means copied: the subscriber holds every published row (not timed).
    let copied = 0;
    for (const t of opts.tables) {
      copied += Number((await sub.unsafe(`select count(*)::bigint as n from public.${pid(t.table)}`))[0].n);
    }
    if (copied !== rows) throw new Error(`native copy: ${copied} rows on the subscriber, ${rows} published`);
    return { rows, bytes, ms } satisfies NativeCopy;
  } finally {
    await pub.end();
    await sub.end();
  }
}

/** What {@link nativeUnderLoad} measured. */
export interface NativeLoad {
  /** Legacy transactions committed during the window. */
  tx: number;
  seconds: number;
  /** replay_lag percentiles over the samples, ms. */
  p50: number;
  p99: number;
  samples: number;
  /** Samples where replay_lag was NULL (nothing in flight), left out of the percentiles. */
  idle: number;
  /** After the stream: ms until the subscriber had replayed the publisher's WAL position at its end. */
  drainMs: number;
}

/**
 * The stream at `rate` tx/s for `seconds` while a subscription (copy_data = false) replicates the published
 * tables; lag = `pg_stat_replication.replay_lag` sampled every 200 ms on the publisher. The subscription is dropped
 * afterwards.
 */
export async function nativeUnderLoad(
  o: NativeOptions,
  opts: { legacyUrl: string; rate: number; clients: number; seconds: number },
): Promise<NativeLoad> {
  const pub = postgres(pubAdmin(o), { max: 1, onnotice: () => {} });
  const sub = postgres(subAdmin(o), { max: 1, onnotice: () => {} });
  try {
    await sub.unsafe(
      `create subscription bench_native_load connection '${pubConninfo(o).replaceAll("'", "''")}'
         publication ${PUBLICATION} with (copy_data = false)`,
    );
    const wait = Date.now() + 30_000;
    for (;;) {
      const [r] = await pub`select count(*)::int as n from pg_catalog.pg_stat_replication
                               where application_name = 'bench_native_load' and state = 'streaming'`;
      if (r.n > 0) break;
      if (Date.now() > wait) throw new Error("native under load: the subscription is not streaming after 30 s");
      await new Promise((r) => setTimeout(r, 100));
    }
    const ac = new AbortController();
    setTimeout(() => ac.abort(), opts.seconds * 1000);
    const stream = runStream(opts.legacyUrl, { rate: opts.rate, clients: opts.clients, signal: ac.signal });
    const lags: number[] = [];
    let idle = 0;
    while (!ac.signal.aborted) {
      await new Promise((r) => setTimeout(r, 200));
      const [r] =
        await pub`select extract(epoch from replay_lag)::float8 * 1000 as ms from pg_catalog.pg_stat_replication
                               where application_name = 'bench_native_load'`;
      if (r?.ms === null || r?.ms === undefined) idle++;
      else lags.push(Number(r.ms));
    }
    const st = await stream;
    const [{ lsn }] = await pub`select pg_catalog.pg_current_wal_lsn()::text as lsn`;
    const d0 = performance.now();
    for (let i = 0; i < 600; i++) {
      const [r] = await pub`select count(*)::int as n from pg_catalog.pg_stat_replication
                               where application_name = 'bench_native_load' and replay_lsn >= ${lsn}::pg_lsn`;
      if (r.n > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const drainMs = performance.now() - d0;
    await sub.unsafe(`drop subscription bench_native_load`);
    return {
      tx: st.total,
      seconds: opts.seconds,
      p50: percentile(lags, 0.5),
      p99: percentile(lags, 0.99),
      samples: lags.length,
      idle,
      drainMs,
    };
  } finally {
    await pub.end();
    await sub.end();
  }
}

/** The p-quantile of xs (nearest rank), 0 when empty. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(s.length * p) - 1))];
}
