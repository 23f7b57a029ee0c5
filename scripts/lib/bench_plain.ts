/**
 * The backfill's plain reference (quality.md): a plain set-based transform of the same rows, jsonb → UUIDv5 →
 * target tables, with no capture and no transport. Per entity, after the backfill (so that the id map holds the
 * parents' target ids): the entity's source rows are first copied into a local table (`bench_src.<table>`, not
 * timed); then, chunk by chunk over the same key ranges the backfill reads (`backfill_batch_size`), `pg_temp.work_in`
 * is filled from that copy the way `sync._read_source` fills it (work_id = legacy id, op `upsert`, image
 * `to_jsonb(s)`), the entity's pack transform runs, and its `write` rows go into a copy of the entity's target table
 * (`bench_plain.<table>`, `like … including all`: indexes, checks, defaults) with id = UUIDv5 of `<entity>:<legacy
 * id>`, the legacy id column and the write columns from `jsonb_populate_record`. Timed: the fill, the transform and
 * the insert. Chunked like the backfill so that `pg_temp.work_in` stays as small as it is there.
 *
 * Runs as the URL's role (`postgres`, not a superuser), in one session of the pool (the work table is its own).
 */
import type postgres from "postgres";

/** The plain transform of one entity. */
export interface PlainEntity {
  /** Rows read into pg_temp.work_in. */
  rows: number;
  /** Rows the transform said to write (and were inserted). */
  written: number;
  /** Time of fill + transform + insert, ms (the local copy left out). */
  ms: number;
}

/** Runs the plain reference over every available entity, in apply order; per entity its rows and time. */
export async function plainReference(pool: postgres.Sql): Promise<Record<string, PlainEntity>> {
  // One session throughout: the work table is the session's own (sync._work_open).
  const target = await pool.reserve();
  try {
    await target`select sync._work_open()`;
    return await plainEntities(target);
  } finally {
    target.release();
  }
}

async function plainEntities(target: postgres.ReservedSql): Promise<Record<string, PlainEntity>> {
  await target.unsafe(`drop schema if exists bench_src cascade; create schema bench_src;
    drop schema if exists bench_plain cascade; create schema bench_plain`);
  const [{ batch }] = await target`select (sync.get_config() ->> 'backfill_batch_size')::int as batch`;
  const ents = await target`
    select e.name, split_part(e.source_table, '.', 2) as src, e.source_pk as pk, e.target_table::text as tt,
           c.relname::text as tname, e.legacy_id_column as lcol, e.write_columns as cols, e.transform::text as fn
      from sync._apply_order() with ordinality o (name, depth, ord)
      join sync.entities e on e.name = o.name
      join pg_catalog.pg_class c on c.oid = e.target_table
     where e.available order by o.ord`;
  const out: Record<string, PlainEntity> = {};
  for (const e of ents) {
    const src = `bench_src.${id(e.src)}`;
    const dst = `bench_plain.${id(e.tname)}`;
    // Not timed: the rows arrive locally (the "no transport" of the reference).
    await target.unsafe(`create table ${src} as select * from sync_src.${id(e.src)}`);
    await target.unsafe(`create index on ${src} (${id(e.pk)})`);
    await target.unsafe(`analyze ${src}`);
    await target.unsafe(`create table ${dst} (like ${e.tt} including all)`);
    const [{ lo, hi }] = await target.unsafe(
      `select coalesce(min(${id(e.pk)}) - 1, 0)::bigint as lo, coalesce(max(${id(e.pk)}), 0)::bigint as hi from ${src}`,
    );
    const cols = (e.cols as string[]).map(id);
    const fill = `insert into pg_temp.work_in (work_id, legacy_id, op, image, source_version, captured_at)
      select s.${id(e.pk)}, s.${id(e.pk)}, 'upsert', to_jsonb(s), 0, now() from ${src} s
       where s.${id(e.pk)} > $1::bigint and s.${id(e.pk)} <= $1::bigint + $2::bigint`;
    const write = `insert into ${dst} (id, ${id(e.lcol)}, ${cols.join(", ")})
      select extensions.uuid_generate_v5('5b0e3c2a-8f4d-4e71-9c6a-1d2f3e4a5b6c'::uuid, ${
      lit(e.name)
    } || ':' || w.legacy_id),
             w.legacy_id, ${cols.map((c) => `r.${c}`).join(", ")}
        from ${e.fn}() t
        join pg_temp.work_in w on w.work_id = t.work_id
       cross join lateral jsonb_populate_record(null::${e.tt}, t.data) r
       where t.outcome = 'write'`;
    let rows = 0;
    let written = 0;
    const t0 = performance.now();
    for (let after = Number(lo); after < Number(hi); after += batch) {
      await target`truncate pg_temp.work_in`;
      rows += (await target.unsafe(fill, [after, batch])).count;
      written += (await target.unsafe(write)).count;
    }
    out[e.name] = { rows, written, ms: performance.now() - t0 };
  }
  await target`truncate pg_temp.work_in`;
  return out;
}

/** Drops what {@link plainReference} made. */
export async function plainCleanup(target: postgres.Sql): Promise<void> {
  await target.unsafe(`drop schema if exists bench_src cascade; drop schema if exists bench_plain cascade`);
}

function id(name: string): string {
  return `"${String(name).replaceAll('"', '""')}"`;
}

function lit(s: string): string {
  return `'${String(s).replaceAll("'", "''")}'`;
}
