/**
 * Capture never breaks or misses the application's writes (engine.md §1), end to end: the legacy
 * application writing as its own role (no grant on sync_capture), a restore tool writing under
 * session_replication_role = replica, a truncate of a captured table, and a table that gained a
 * json column: every write succeeds and arrives in the target exactly.
 */
import { deepStrictEqual } from "node:assert/strict";
import { freshPair, oracleDiff, tick } from "./_helpers.ts";

Deno.test("the application's role, replica writes, truncate and a json column: writes succeed and arrive", async () => {
  const p = await freshPair("app_role");
  try {
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    await p.target`call sync.backfill(null, null)`;
    const [{ grants }] = await p.legacyApp`select has_schema_privilege('sync_capture', 'usage') as grants`;
    deepStrictEqual(grants, false, "the application role has no grant on the capture schema");

    // The application, as its own role, inserts, updates and deletes.
    const [office] = await p.legacyApp`
      insert into dispatch_office (name, phone, address, city, state, zip_code, is_active, created_at, updated_at)
      values ('App Office', '', '', 'Humble', 'TX', '', true, now(), now()) returning id`;
    const [pt] = await p.legacyApp`select id from dispatch_patient order by id limit 1`;
    await p.legacyApp`update dispatch_patient set first_name = 'AppRole' where id = ${pt.id}`;
    // It cannot switch capture off.
    const off = await p.legacyApp`update sync_capture.tables set enabled = false`.catch((e) => e.code);
    deepStrictEqual(off, "42501");

    // A restore tool writes under session_replication_role = replica: captured all the same.
    await p.legacy.begin(async (tx) => {
      await tx`set local session_replication_role = replica`;
      await tx`update dispatch_office set name = 'Replica Office' where id = ${office.id}`;
    });

    // A captured table gains a json column (schema drift): updates still succeed and arrive.
    await p.legacy`alter table dispatch_patient add column prefs json`;
    await p.legacyApp`update dispatch_patient set prefs = '{"a": 1}', last_name = 'Json' where id = ${pt.id}`;
    await p.legacyApp`update dispatch_patient set prefs = '{"a": 1}' where id = ${pt.id}`;

    // A truncate of a captured table: every removed row is a delete.
    const [{ links }] = await p.target`select count(*)::int as links from public.case_files`;
    await p.legacyApp`truncate dispatch_file_instruction`;

    const s = await tick(p.target);
    deepStrictEqual(s.status, "succeeded", JSON.stringify(s.error));
    const counts = s.counts as Record<string, Record<string, number>>;
    deepStrictEqual([counts.offices, counts.patients, counts.case_files], [{ inserted: 1 }, { updated: 1 }, {
      deleted: links,
    }]);
    const [row] = await p.target`select first_name, last_name from public.patients where legacy_patient_id = ${pt.id}`;
    deepStrictEqual([row.first_name, row.last_name], ["AppRole", "Json"]);
    const [o] = await p.target`select name from public.offices where legacy_office_id = ${office.id}`;
    deepStrictEqual(o.name, "Replica Office");
    deepStrictEqual(await oracleDiff(p.target), []);
  } finally {
    await p.close();
  }
});
