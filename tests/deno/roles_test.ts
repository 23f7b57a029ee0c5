/**
 * The roles of a hosted deployment, on the local test stack: `supabase_admin` is the only
 * superuser; `postgres` (migrations, engine, tests) is not one and owns the databases; on the
 * legacy side the application writes as `legacy_app` and the engine reads as `sync_reader`.
 */
import { deepStrictEqual, rejects } from "node:assert/strict";
import postgres from "postgres";
import { psql } from "../../scripts/lib/psql.ts";
import { env, paths, TEST } from "../../scripts/lib/stack.ts";
import { LEGACY_ROLES, urlAs } from "../../scripts/lib/testenv.ts";
import { freshPair } from "./_helpers.ts";

const denied = (e: { code?: string }) => e.code === "42501";

Deno.test("stack: postgres is not a superuser and owns the databases; supabase_admin is the superuser", async () => {
  const roles = await psql(paths(TEST).adminUrl, {
    command: `select string_agg(format('%s:%s%s%s%s%s%s', rolname, rolsuper, rolcanlogin, rolcreatedb, rolcreaterole,
                                       rolreplication, rolbypassrls), ' ' order by rolname)
                from pg_roles where rolname in ('postgres', 'supabase_admin', 'legacy_app', 'sync_reader')`,
  });
  deepStrictEqual(roles, "legacy_app:ftffff postgres:fttttt supabase_admin:tttttt sync_reader:ftffff");
  const owners = await psql(paths(TEST).adminUrl, {
    command: "select string_agg(datname || ':' || datdba::regrole::text, ' ' order by datname) from pg_database " +
      "where datname in ('postgres', 'legacy')",
  });
  deepStrictEqual(owners, "legacy:postgres postgres:postgres");
  const vars = await env(TEST);
  deepStrictEqual([new URL(vars.DB_URL).username, new URL(vars.LEGACY_DB_URL).username], ["postgres", "postgres"]);
});

Deno.test("legacy roles: legacy_app writes the app tables only; sync_reader writes nothing", async () => {
  const p = await freshPair("roles");
  try {
    const app = p.legacyApp;
    const [{ id }] = await app`insert into dispatch_office (name, phone, address, city, state, zip_code, is_active,
                                                         created_at, updated_at)
                               values ('App', '', '', '', '', '', true, now(), now()) returning id`;
    await app`update dispatch_office set name = 'App 2' where id = ${id}`;
    await app`delete from dispatch_office where id = ${id}`;
    await app`truncate django_session`;
    await rejects(app`select count(*) from sync_capture.log`, denied);
    await rejects(app`update sync_capture.tables set enabled = false`, denied);
    await rejects(app`create table public.app_made (id int)`, denied);

    const reader = postgres(urlAs(p.legacyUrl, LEGACY_ROLES.reader), { max: 1, onnotice: () => {} });
    try {
      deepStrictEqual((await reader`select rolsuper from pg_roles where rolname = current_user`)[0].rolsuper, false);
      await rejects(reader`update public.dispatch_office set name = 'Reader' where id = 1`, denied);
    } finally {
      await reader.end();
    }
  } finally {
    await p.close();
  }
});
