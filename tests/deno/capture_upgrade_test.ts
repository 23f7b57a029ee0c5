/**
 * Capture v1 → v2 in place while the application writes: v1 (tests/fixtures/capture_v1.sql) on a
 * fresh legacy database with log rows, writers running as a non-owner role, the v2 install run in
 * the middle of their writes. Checked: no writer error, the v1 log rows kept, every write logged
 * exactly once (table, key, op and the writing transaction's id), none invented, version 4, v1's
 * functions gone, and a second install changing nothing.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import postgres from "postgres";
import { psql, withDatabase } from "../../scripts/lib/psql.ts";
import { installSource } from "../../scripts/lib/setup.ts";
import { ROOT, TEST } from "../../scripts/lib/stack.ts";
import { cloneDb, dropDb, TEMPLATES } from "../../scripts/lib/testenv.ts";
import { sleep } from "./_helpers.ts";

const V1 = `${ROOT}/tests/fixtures/capture_v1.sql`;
const WRITER = "capture_upgrade_app";
const PASSWORD = "capture-upgrade-app";
const TABLES = ["public.auth_user", "public.dispatch_comment", "public.dispatch_office", "public.dispatch_patient"];

/** One logged change: `table|key|op|xid`. */
type Change = string;

/** Everything capture consists of, to compare two installs (oids included: an unchanged trigger keeps its oid). */
async function captureState(sql: postgres.Sql): Promise<unknown[]> {
  return [
    ...await sql`
      select 'function' as kind, p.proname::text as name,
             md5(p.prosrc) || ' ' || p.prosecdef || ' ' || coalesce(p.proconfig::text, '') || ' ' || coalesce(p.proacl::text, '') ||
             case when p.proname like 'cap\\_%' then ' ' || p.oid || ' ' || p.xmin else '' end as state
        from pg_proc p where p.pronamespace = 'sync_capture'::regnamespace
      union all
      select 'trigger', t.tgrelid::regclass::text || '.' || t.tgname,
             t.oid || ' ' || t.tgfoid::regproc || ' ' || t.tgenabled::text || ' ' || t.xmin
        from pg_trigger t where t.tgname like 'sync\\_capture\\_%' or t.tgname = 'tables_change'
      union all
      select 'relation', c.relname::text, c.relkind::text || ' ' || coalesce(c.relacl::text, '')
        from pg_class c where c.relnamespace = 'sync_capture'::regnamespace
      union all
      select 'schema', n.nspname::text, coalesce(n.nspacl::text, '') from pg_namespace n where n.nspname = 'sync_capture'
      union all
      select 'version', v.version::text, v.installed_at::text from sync_capture.version v
      union all
      select 'log', count(*)::text, coalesce(md5(string_agg(l::text, ',' order by l::text)), '') from sync_capture.log l
      order by 1, 2, 3`,
  ];
}

Deno.test("capture upgrades from v1 to v2 in place while a non-owner role writes, missing nothing", async () => {
  const db = `d_capture_upgrade_${Deno.pid}`;
  const url = await cloneDb(TEST, TEMPLATES.legacy, db);
  const owner = postgres(url, { max: 2, onnotice: () => {} });
  let writer: postgres.Sql | undefined;
  try {
    // The template has v2: start over from v1, with capture on four tables and a few changes logged.
    await owner`drop schema sync_capture cascade`;
    await installSource(url, { script: V1 });
    await owner.unsafe(`do $$ begin
        if not exists (select 1 from pg_roles where rolname = '${WRITER}') then
            create role ${WRITER} login password '${PASSWORD}';
        end if; end $$`);
    for (const t of TABLES) await owner`insert into sync_capture.tables (tbl) values (${t})`;
    await owner.unsafe(`
      grant usage on schema public to ${WRITER};
      grant select, insert, update, delete on ${TABLES.join(", ")} to ${WRITER};
      grant usage on all sequences in schema public to ${WRITER};
      -- v1's trigger functions run as the writer: it needs these two (v2 needs neither).
      grant usage on schema sync_capture to ${WRITER};
      grant insert on sync_capture.log to ${WRITER};`);
    await owner`update dispatch_patient set email = 'before@x.io' where id in (1, 2)`;
    await owner`delete from dispatch_comment where id = (select min(id) from dispatch_comment)`;
    const before = (await owner`select tbl || '|' || pk || '|' || op::text || '|' || txid as c from sync_capture.log`)
      .map((r) => r.c as Change).sort();
    deepStrictEqual(before.length, 3);
    const [{ v1fns }] = await owner`select count(*)::int as v1fns from pg_proc
                                     where pronamespace = 'sync_capture'::regnamespace and proname like 'cap\\_%'`;
    deepStrictEqual(v1fns, 4);

    const patients = (await owner`select id from dispatch_patient order by id limit 100`).map((r) => Number(r.id));
    const offices = (await owner`select id from dispatch_office order by id`).map((r) => Number(r.id));
    const users = (await owner`select id from auth_user order by id limit 100`).map((r) => Number(r.id));
    const [{ plan }] = await owner`select min(id)::int as plan from dispatch_plan`;

    const u = new URL(url);
    u.username = WRITER;
    u.password = PASSWORD;
    writer = postgres(u.toString(), { max: 4, onnotice: () => {} });
    const w = writer;
    const expected: Change[] = [];
    const errors: string[] = [];
    let phase = "v1";
    const writes: Record<string, number> = { v1: 0, upgrading: 0, v2: 0, v2_revoked: 0 };
    let stop = false;
    const loop = async (n: number) => {
      const mine: number[] = [];
      for (let i = 0; !stop; i++) {
        const p = phase;
        try {
          const k = i % 5;
          if (k === 0) {
            const [r] = await w`insert into dispatch_comment (plan_id, author_id, text, created_at)
                                values (${plan}, null, ${`w${n}-${i}`}, now()) returning id, pg_current_xact_id()::text as x`;
            mine.push(Number(r.id));
            expected.push(`public.dispatch_comment|${r.id}|I|${r.x}`);
          } else if (k === 1) {
            const id = patients[(n * 31 + i) % patients.length];
            const [r] = await w`update dispatch_patient set email = ${`w${n}-${i}@x.io`} where id = ${id}
                                returning id, pg_current_xact_id()::text as x`;
            expected.push(`public.dispatch_patient|${r.id}|U|${r.x}`);
          } else if (k === 2 && mine.length > 0) {
            const [r] = await w`delete from dispatch_comment where id = ${mine.shift()!}
                                returning id, pg_current_xact_id()::text as x`;
            expected.push(`public.dispatch_comment|${r.id}|D|${r.x}`);
          } else if (k === 3) {
            // Two writes in one transaction, and an update that changes nothing (never logged).
            await w.begin(async (tx) => {
              const id = offices[(n + i) % offices.length];
              const [a] = await tx`update dispatch_office set phone = ${`555-${n}-${i}`} where id = ${id}
                                   returning id, pg_current_xact_id()::text as x`;
              const [b] = await tx`update auth_user set last_login = clock_timestamp() where id = ${
                users[(n * 7 + i) % users.length]
              } returning id, pg_current_xact_id()::text as x`;
              await tx`update dispatch_patient set email = email where id = ${patients[0]}`;
              expected.push(`public.dispatch_office|${a.id}|U|${a.x}`, `public.auth_user|${b.id}|U|${b.x}`);
            });
          } else {
            await w`update dispatch_patient set first_name = first_name where id = ${patients[i % patients.length]}`;
          }
          writes[p]++;
        } catch (e) {
          errors.push(`${p}: ${(e as Error).message}`);
        }
      }
    };
    const writers = [0, 1, 2].map(loop);
    await sleep(400);
    phase = "upgrading";
    await installSource(url);
    phase = "v2";
    await sleep(400);
    // v2 needs no privilege in sync_capture: take v1's away and keep writing.
    await owner.unsafe(
      `revoke all on schema sync_capture from ${WRITER}; revoke all on sync_capture.log from ${WRITER}`,
    );
    phase = "v2_revoked";
    await sleep(400);
    stop = true;
    await Promise.all(writers);

    deepStrictEqual(errors, []);
    for (const p of ["v1", "upgrading", "v2", "v2_revoked"]) {
      ok(writes[p] > 0, `no write in phase ${p}: ${JSON.stringify(writes)}`);
    }
    const after = (await owner`select tbl || '|' || pk || '|' || op::text || '|' || txid as c from sync_capture.log`)
      .map((r) => r.c as Change);
    deepStrictEqual(after.filter((c) => before.includes(c)).sort(), before);
    deepStrictEqual(after.filter((c) => !before.includes(c)).sort(), [...expected].sort());

    const [{ version }] = await owner`select string_agg(version::text, ',') as version from sync_capture.version`;
    deepStrictEqual(version, "4");
    const fns = await owner`select proname::text as name from pg_proc
                             where pronamespace = 'sync_capture'::regnamespace and proname like 'cap\\_%' order by 1`;
    const want = await owner`select 'cap_' || replace(t, '.', '_') || '_' || left(md5(t), 8) as name
                               from unnest(${TABLES}::text[]) t order by 1`;
    deepStrictEqual([...fns], [...want]);
    const triggers = await owner`select tgrelid::regclass::text as tbl, count(*)::int as n,
                                        bool_and(tgenabled = 'A') as always, count(distinct tgfoid)::int as fns
                                   from pg_trigger where tgname like 'sync\\_capture\\_%' group by 1 order by 1`;
    deepStrictEqual(
      [...triggers],
      TABLES.map((t) => ({ tbl: t.replace("public.", ""), n: 4, always: true, fns: 1 })),
    );
    const [priv] = await owner`select has_schema_privilege(${WRITER}, 'sync_capture', 'usage') as usage`;
    deepStrictEqual(priv.usage, false);

    const first = await captureState(owner);
    const report = await installSource(url);
    ok(report.includes("grant select on table public.dispatch_patient to <reader>"), report);
    deepStrictEqual(await captureState(owner), first);
  } finally {
    await writer?.end();
    await owner.end();
    await dropDb(TEST, db);
    await psql(withDatabase(url, "postgres"), { command: `drop role if exists ${WRITER}` }).catch(() => {});
  }
});
