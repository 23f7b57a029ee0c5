/**
 * The floor under any backfill into these target tables: how fast the target accepts the final rows alone, with
 * its indexes, checks and foreign keys and nothing else (no source, no transform, no id map). Each entity's rows
 * are copied from its synced target table into a fresh table shaped like it (`like … including all`) whose
 * foreign keys point at the real parent tables, in apply order, timed per entity; the copies are dropped after.
 * Native logical replication skips exactly these foreign-key checks (its apply worker runs as a replica), which is
 * why this floor, not the transform, bounds the backfill's ratio against it.
 */
import type postgres from "postgres";

/** Rows and milliseconds per entity, and in all. */
export interface WriteFloor {
  rows: number;
  ms: number;
  entities: Record<string, { rows: number; ms: number }>;
}

/** Measures the write floor of every synced entity (run after a backfill, as the owner of the target tables). */
export async function measureWriteFloor(sql: postgres.Sql): Promise<WriteFloor> {
  await sql.unsafe("drop schema if exists bench_floor cascade; create schema bench_floor");
  const ents = await sql`select o.name, e.target_table::regclass::oid::int as oid,
                                  format('%I.%I', n.nspname, c.relname) as target
                           from sync._apply_order() o join sync.entities e on e.name = o.name
                           join pg_class c on c.oid = e.target_table::regclass join pg_namespace n on n.oid = c.relnamespace
                          order by o.depth, o.name`;
  const floor: WriteFloor = { rows: 0, ms: 0, entities: {} };
  try {
    for (const { name, oid, target } of ents) {
      const copy = `bench_floor.${name}`;
      await sql.unsafe(`create table ${copy} (like ${target} including all)`);
      // Foreign keys as the target declares them, still pointing at the real (synced) parents.
      const fks = await sql.begin(async (tx) => {
        await tx`set local search_path = ''`;
        return await tx`select pg_get_constraintdef(c.oid) as def from pg_constraint c
                         where c.conrelid = ${oid} and c.contype = 'f'`;
      });
      for (const { def } of fks) await sql.unsafe(`alter table ${copy} add ${def}`);
      const t0 = performance.now();
      const [{ n }] = await sql.unsafe(`with i as (insert into ${copy} select * from ${target} returning 1)
                                        select count(*)::int as n from i`);
      const ms = performance.now() - t0;
      floor.entities[name] = { rows: n, ms };
      floor.rows += n;
      floor.ms += ms;
    }
  } finally {
    await sql.unsafe("drop schema bench_floor cascade");
  }
  return floor;
}
