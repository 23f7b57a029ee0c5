/**
 * Reseed recovery: the target's tables are reloaded with new UUIDs for existing rows (foreign
 * keys rewritten to match), sync.rebuild_mappings() rebuilds the id map from the legacy id
 * columns, and the sync continues: exact, no duplicate, no dangling foreign key.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { freshPair, oracleDiff, tick } from "./_helpers.ts";

const FKS: Record<string, string[]> = {
  profiles: [],
  offices: [],
  patients: ["office_id", "profile_id", "doctor_id"],
  cases: ["patient_id", "doctor_id", "office_id"],
  treatment_plans: ["case_id"],
  orders: ["case_id", "patient_id", "office_id"],
  operations: ["order_id", "case_id"],
  messages: ["sender_id", "recipient_patient_id", "recipient_profile_id"],
  case_messages: ["case_id", "treatment_plan_id", "sender_id"],
  system_messages: ["recipient_patient_id", "recipient_profile_id"],
  files: ["uploaded_by"],
  case_files: ["file_id", "case_id"],
};

Deno.test("rebuild_mappings after a reseed with new UUIDs: the sync continues exactly", async () => {
  const p = await freshPair("reseed");
  try {
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    await p.target`call sync.backfill(null, null)`;
    deepStrictEqual(await oracleDiff(p.target), []);

    // The reseed: every row gets a new UUID, every foreign key follows it.
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
    const [{ n }] = await p.target`select count(*)::int as n from sync.id_map m
                                    where not m.deleted and m.entity <> 'content_types'
                                      and not exists (select 1 from public.patients x where x.id = m.target_id)
                                      and not exists (select 1 from public.profiles x where x.id = m.target_id)
                                      and not exists (select 1 from public.offices x where x.id = m.target_id)
                                      and not exists (select 1 from public.cases x where x.id = m.target_id)
                                      and not exists (select 1 from public.treatment_plans x where x.id = m.target_id)
                                      and not exists (select 1 from public.orders x where x.id = m.target_id)
                                      and not exists (select 1 from public.operations x where x.id = m.target_id)
                                      and not exists (select 1 from public.messages x where x.id = m.target_id)
                                      and not exists (select 1 from public.case_messages x where x.id = m.target_id)
                                      and not exists (select 1 from public.system_messages x where x.id = m.target_id)
                                      and not exists (select 1 from public.files x where x.id = m.target_id)
                                      and not exists (select 1 from public.case_files x where x.id = m.target_id)`;
    deepStrictEqual(n, 0);
  } finally {
    await p.close();
  }
});
