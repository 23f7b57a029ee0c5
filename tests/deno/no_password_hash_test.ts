/**
 * No credential material reaches the target (quality.md, Security; mappings.md: "The password hash
 * ... never crosses to the target"), through the real capture, pull and apply: legacy auth_user rows
 * inserted and updated (a password change alone, other fields, a change that meets a target-side
 * edit), ticks, then a backfill. No inbox image, id map image, conflict image, work table, target
 * column, run record or any other stored row holds the `password` key or a hash, nor does the
 * server log.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { freshPair, serverLogPath, tick } from "./_helpers.ts";

Deno.test("sync.tick and sync.backfill never carry auth_user.password into the target", async () => {
  const p = await freshPair("hash", { empty: true });
  const hash = (n: number) => `pbkdf2_sha256$870000$${crypto.randomUUID()}$hash${n}/Qx+Zk=`;
  const hashes = [hash(1), hash(2), hash(3), hash(4)];
  try {
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    await p
      .legacy`insert into auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active,
                                          date_joined)
                   values (${hashes[0]}, true, 'ada', 'Ada', 'Lovelace', 'ada@example.com', true, true, now()),
                          (${hashes[0]}, false, 'bob', 'Bob', '', '', false, true, now()),
                          (${hashes[0]}, false, 'cy', 'Cy', '', '', false, true, now())`;
    const first = await tick(p.target);
    deepStrictEqual(first.counts, { profiles: { inserted: 3 } });

    // A password change alone, a password change with other fields, and one that meets a target edit.
    await p.legacy`update auth_user set password = ${hashes[1]} where username = 'ada'`;
    await p.legacy`update auth_user set password = ${hashes[2]}, last_login = now() where username = 'bob'`;
    await p.target`update public.profiles set first_name = 'Cyrus' where username = 'cy'`;
    await p.legacy`update auth_user set password = ${hashes[3]}, first_name = 'Cyril' where username = 'cy'`;
    const second = await tick(p.target);
    // A password change alone changes no written column, so not updated_at either (it moves with the row's content):
    // one unchanged, two updated.
    deepStrictEqual(second.counts, { profiles: { updated: 2, unchanged: 1, conflicts: 1 } });
    const [bf] = await p.target`call sync.backfill('profiles', null)`;
    deepStrictEqual(bf.summary.status, "succeeded", JSON.stringify(bf.summary));

    // The test sees the paths it claims to: images pulled, mapped and in conflict.
    const [seen] = await p
      .target`select (select count(*)::int from sync.inbox where entity = 'profiles' and image is not null) as inbox,
                                         (select count(*)::int from sync.id_map where entity = 'profiles' and image is not null) as mapped,
                                         (select count(*)::int from sync.conflicts where source_image is not null
                                             and target_image is not null and base_image is not null) as conflicts`;
    deepStrictEqual(seen, { inbox: 6, mapped: 3, conflicts: 1 });
    // The source column is not even read: the foreign table has no password column.
    const src = await p.target`select column_name from information_schema.columns
                               where table_schema = 'sync_src' and table_name = 'auth_user' order by 1`;
    ok(src.length > 0 && !src.some((c) => c.column_name === "password"), JSON.stringify(src));
    // No target column is meant for it.
    const cols = await p.target`select table_schema, table_name, column_name from information_schema.columns
                                where table_schema in ('public', 'sync') and column_name ilike '%password%'`;
    deepStrictEqual([...cols], []);
    // No jsonb value in schemas public and sync holds a "password" key, at any depth.
    // (CASE keeps each probe behind its filters: WHERE conditions may run in any order.)
    const keys = await p.target`
      select c.table_schema || '.' || c.table_name || '.' || c.column_name as column_path
        from information_schema.columns c
        join pg_class r on r.oid = format('%I.%I', c.table_schema, c.table_name)::regclass
       where case when c.table_schema in ('public', 'sync') and c.data_type = 'jsonb' and r.relkind in ('r', 'p')
                  then (xpath('/row/n/text()', query_to_xml(format(
                         'select count(*) as n from %I.%I t where jsonb_path_exists(t.%I, ''strict $.** ? (exists (@.password))'')',
                         c.table_schema, c.table_name, c.column_name), false, true, '')))[1]::text::int > 0
                  else false end`;
    deepStrictEqual([...keys], []);
    // No stored row of any local table in any schema holds a hash.
    const rows = await p.target`
      select r.oid::regclass::text as rel, h.hash
        from pg_class r
        join pg_namespace n on n.oid = r.relnamespace
       cross join unnest(${hashes}::text[]) h (hash)
       where case when r.relkind in ('r', 'p', 'm') and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
                  then (xpath('/row/n/text()', query_to_xml(format('select count(*) as n from %s t where strpos(t::text, %L) > 0',
                                                                   r.oid::regclass, h.hash), false, true, '')))[1]::text::int > 0
                  else false end`;
    deepStrictEqual([...rows], []);
    const log = await Deno.readTextFile(serverLogPath());
    for (const h of hashes) ok(!log.includes(h), "the server log holds a password hash");
  } finally {
    await p.close();
  }
});
