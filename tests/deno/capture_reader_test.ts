/**
 * `installSource(url, { reader })` (source:install --reader) grants a plain login role exactly what
 * the engine reads the source with: connected as that role, the target connects, backfills and
 * ticks to an exact copy; the role can neither switch capture by hand nor read what is not
 * captured. A missing role is refused before anything changes.
 */
import { deepStrictEqual, ok, rejects } from "node:assert/strict";
import { psql, withDatabase } from "../../scripts/lib/psql.ts";
import { installSource } from "../../scripts/lib/setup.ts";
import { freshPair, oracleDiff, tick } from "./_helpers.ts";

const READER = "capture_test_engine_reader";
const PASSWORD = "capture-test-engine-reader";

Deno.test("installSource (capture) grants a reader role what the engine needs: connect, backfill and tick as that role", async () => {
  const p = await freshPair("reader");
  try {
    await rejects(installSource(p.legacyUrl, { reader: "capture_test_no_such_role" }), (e: Error) => {
      ok(e.message.includes('reader role "capture_test_no_such_role" does not exist'), e.message);
      return true;
    });
    await p.legacy.unsafe(`do $$ begin
        if not exists (select 1 from pg_roles where rolname = '${READER}') then
            create role ${READER} login password '${PASSWORD}';
        end if; end $$`);
    const report = await installSource(p.legacyUrl, { reader: READER });
    deepStrictEqual(report.split("\n"), [
      `grant usage on schema sync_capture to ${READER}`,
      `grant select, delete on table sync_capture.log to ${READER}`,
      `grant select, insert, update on table sync_capture.tables to ${READER}`,
      `grant select on table sync_capture.version to ${READER}`,
      `grant select on table sync_capture.current_snapshot to ${READER}`,
      `grant execute on function sync_capture.prune_log(jsonb) to ${READER}`,
      `grant execute on function sync_capture.read_batch(jsonb) to ${READER}`,
    ]);

    const conninfo = p.legacyConninfo.replace(/ user=\S+ password=\S+/, ` user=${READER} password=${PASSWORD}`);
    await p.target`select sync.connect_source(${conninfo})`;
    // Registering the tables (through the FDW, as the reader) captured them and granted them to it.
    const [g] = await p.legacy`
      select count(*)::int as tables,
             count(*) filter (where has_table_privilege(${READER}, t.tbl, 'select'))::int as readable,
             count(*) filter (where exists (select 1 from pg_trigger x where x.tgrelid = t.tbl::regclass
                                              and x.tgname = 'sync_capture_upd' and x.tgenabled = 'A'))::int as captured
        from sync_capture.tables t`;
    ok(g.tables > 0, JSON.stringify(g));
    deepStrictEqual(g, { tables: g.tables, readable: g.tables, captured: g.tables });
    await p.target`call sync.backfill(null, null)`;
    await p.legacy`update dispatch_patient set email = 'reader@x.io' where id = 1`;
    await p.legacy`delete from dispatch_comment where id = (select max(id) from dispatch_comment)`;
    await p.legacy`truncate dispatch_file_instruction`;
    await tick(p.target);
    deepStrictEqual(await oracleDiff(p.target), []);

    const [priv] = await p.legacy`
      select has_function_privilege(${READER}, 'sync_capture.enable(regclass, text)', 'execute') as enable,
             has_function_privilege(${READER}, 'sync_capture.disable(regclass)', 'execute') as disable,
             has_table_privilege(${READER}, 'public.django_session', 'select') as uncaptured,
             has_table_privilege(${READER}, 'sync_capture.log', 'insert, update, truncate') as log_write,
             (select rolsuper from pg_roles where rolname = ${READER}) as superuser`;
    deepStrictEqual(priv, { enable: false, disable: false, uncaptured: false, log_write: false, superuser: false });
  } finally {
    await p.close();
    await psql(withDatabase(p.legacyUrl, "postgres"), { command: `drop role if exists ${READER}` }).catch(() => {});
  }
});
