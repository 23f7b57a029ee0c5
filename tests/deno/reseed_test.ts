/**
 * Reseed recovery: the target's tables are reloaded with new UUIDs for existing rows (foreign
 * keys rewritten to match), sync.rebuild_mappings() rebuilds the id map from the legacy id
 * columns, and the sync continues: exact, no duplicate, no dangling foreign key.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import postgres from "postgres";
import { freshPair, oracleDiff, tick } from "./_helpers.ts";

/** Every registered entity's application table (the registry) with its foreign key columns (the catalog). */
async function foreignKeys(sql: postgres.Sql): Promise<Record<string, string[]>> {
  const rows = await sql`
    select c.relname::text as t,
           coalesce(array_agg(a.attname::text order by a.attname) filter (where a.attname is not null), '{}') as cols
      from sync.entities e
      join pg_class c on c.oid = e.target_table and c.relnamespace = 'public'::regnamespace
      left join pg_constraint k on k.conrelid = c.oid and k.contype = 'f'
      left join pg_attribute a on a.attrelid = c.oid and a.attnum = k.conkey[1]
     group by c.relname order by 1`;
  return Object.fromEntries(rows.map((r) => [r.t, r.cols]));
}

Deno.test("rebuild_mappings after a reseed with new UUIDs: the sync continues exactly", async () => {
  const p = await freshPair("reseed");
  try {
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    await p.target`call sync.backfill(null, null)`;
    deepStrictEqual(await oracleDiff(p.target), []);

    // The reseed: every row gets a new UUID, every foreign key follows it.
    const FKS = await foreignKeys(p.target);
    deepStrictEqual(FKS.patients, ["doctor_id", "office_id", "profile_id"]);
    await p.target.begin(async (tx) => {
      await tx`set local session_replication_role = replica`;
      await tx`create temp table remap (old uuid primary key, new uuid not null) on commit drop`;
      for (const t of Object.keys(FKS)) {
        await tx.unsafe(`insert into remap select id, gen_random_uuid() from public.${t}`);
      }
      for (const [t, cols] of Object.entries(FKS)) {
        await tx.unsafe(`update public.${t} x set id = r.new from remap r where r.old = x.id`);
        for (const c of cols) {
          await tx.unsafe(`update public.${t} x set ${c} = r.new from remap r where r.old = x.${c}`);
        }
      }
    });
    const [{ stale }] = await p.target`select count(*)::int as stale from oracle.diff() where problem = 'id'`;
    ok(stale > 1000, `the reseed changed the UUIDs (${stale} rows no longer match the map)`);

    const [{ r }] = await p.target`select sync.rebuild_mappings() as r`;
    deepStrictEqual(r.unmatched, 0);
    ok(r.entities.patients.remapped > 0);
    deepStrictEqual(await oracleDiff(p.target), []);

    // Changes after the reseed: updates, inserts with new children, deletes.
    await p.legacy`select demo_gen.stream_step() from generate_series(1, 400)`;
    await p
      .legacy`update dispatch_patient set email = 'after@reseed.io', updated_at = now() where id in (select id from dispatch_patient order by id limit 20)`;
    for (let i = 0; i < 5; i++) if ((await tick(p.target)).rows === 0) break;
    deepStrictEqual(await oracleDiff(p.target), []);
    const dup = await p
      .target`select 'patients' as t, legacy_patient_id as l from public.patients group by 2 having count(*) > 1
                               union all select 'cases', legacy_instruction_id from public.cases group by 2 having count(*) > 1`;
    deepStrictEqual([...dup], []);
    // Every live id map entry has its row in its entity's own table.
    let n = 0;
    for (
      const [name, t] of (await p.target`select e.name, c.relname::text as t from sync.entities e
                                              join pg_class c on c.oid = e.target_table
                                             where c.relnamespace = 'public'::regnamespace`).map((r) => [r.name, r.t])
    ) {
      const [{ c }] = await p.target.unsafe(
        `select count(*)::int as c from sync.id_map m
          where m.entity = $1 and not m.deleted and not exists (select 1 from public.${t} x where x.id = m.target_id)`,
        [name],
      );
      n += c;
    }
    deepStrictEqual(n, 0);
  } finally {
    await p.close();
  }
});

Deno.test("a reseed is detected by verification (target_reseeded), and rebuilt by it with auto_rebuild_mappings", async () => {
  const p = await freshPair("reseed_auto");
  try {
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    await p.target`call sync.backfill(null, null)`;
    // The reseed: offices reloaded under new UUIDs (their children follow them).
    await p.target.begin(async (tx) => {
      await tx`set local session_replication_role = replica`;
      await tx`create temp table remap on commit drop as select id as old, gen_random_uuid() as new from public.offices`;
      await tx`update public.offices x set id = r.new from remap r where r.old = x.id`;
      const refs = await tx`select c.conrelid::regclass::text as t, a.attname::text as col from pg_constraint c
                             join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
                            where c.contype = 'f' and c.confrelid = 'public.offices'::regclass`;
      for (const { t, col } of refs) {
        await tx.unsafe(`update ${t} x set ${col} = r.new from remap r where r.old = x.${col}`);
      }
    });
    const [{ n: offices }] = await p.target`select count(*)::int as n from public.offices`;

    // Off (the default): verification reports it and the alert names the call.
    const [{ v }] = await p.target`select sync.verify(false) as v`;
    deepStrictEqual(v.entities.offices.integrity.reseeded, offices);
    deepStrictEqual(v.rebuilt_mappings, undefined);
    await p.target`select sync.evaluate_alerts()`;
    const alerts = await p.target`select severity, message from sync.alerts
                                   where kind = 'target_reseeded' and resolved_at is null`;
    deepStrictEqual([...alerts], [{
      severity: "info",
      message: `offices: ${offices} mapped rows are gone from the target while rows with the same legacy ids exist ` +
        "under new UUIDs (a reseed): run sync.rebuild_mappings()",
    }]);

    // On: the verification rebuilds the map itself and says so.
    await p.target`select sync.set_config('{"auto_rebuild_mappings": true}')`;
    const [{ v: w }] = await p.target`select sync.verify(false) as v`;
    deepStrictEqual([w.rebuilt_mappings.entities.offices.remapped, w.rebuilt_mappings.unmatched], [offices, 0]);
    await p.target`select sync.evaluate_alerts()`;
    const [a] = await p.target`select message from sync.alerts where kind = 'target_reseeded' and resolved_at is null`;
    deepStrictEqual(
      a.message,
      `offices: ${offices} mapped rows were gone from the target while rows with the same legacy ids exist under new ` +
        `UUIDs (a reseed); sync.rebuild_mappings() ran (auto_rebuild_mappings): ${offices} remapped, 0 unmatched`,
    );
    const [{ who }] = await p.target`select caller as who from sync.audit where kind = 'mappings.rebuild'`;
    deepStrictEqual(who, "sync (auto_rebuild_mappings)");
    deepStrictEqual(await oracleDiff(p.target), []);
    // The next verification is clean: the alert resolves itself.
    const [{ v: x }] = await p.target`select sync.verify(false) as v`;
    deepStrictEqual([x.ok, x.entities.offices.integrity.reseeded], [true, undefined]);
    await p.target`select sync.evaluate_alerts()`;
    const [{ n }] = await p.target`select count(*)::int as n from sync.alerts
                                    where kind = 'target_reseeded' and resolved_at is null`;
    deepStrictEqual(n, 0);
  } finally {
    await p.close();
  }
});
