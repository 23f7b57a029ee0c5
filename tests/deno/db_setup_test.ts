/**
 * setupTarget (`deno task db:setup`): the compatibility part as a superuser (here the local stack's
 * supabase_admin, found from the URL), the migrations as the URL's role; idempotent; a database that
 * `postgres` created, as another tool would; without a superuser, the step that needs one is named.
 */
import { deepStrictEqual, ok, rejects } from "node:assert/strict";
import { psql, withDatabase } from "../../scripts/lib/psql.ts";
import { setupTarget, superuserUrl } from "../../scripts/lib/setup.ts";
import { paths, ROOT, TEST } from "../../scripts/lib/stack.ts";

async function withAdminEnv<T>(url: string, fn: () => Promise<T>): Promise<T> {
  const before = Deno.env.get("SYNC_ADMIN_DB_URL");
  Deno.env.set("SYNC_ADMIN_DB_URL", url);
  try {
    return await fn();
  } finally {
    if (before === undefined) Deno.env.delete("SYNC_ADMIN_DB_URL");
    else Deno.env.set("SYNC_ADMIN_DB_URL", before);
  }
}

Deno.test("setupTarget prepares a database that postgres created, twice, and then needs no superuser", async () => {
  const owner = paths(TEST).dbUrl;
  const db = `d_setup_${Deno.pid}`;
  const url = withDatabase(owner, db);
  await psql(owner, { command: `drop database if exists ${db} with (force)` });
  await psql(owner, { command: `create database ${db}` });
  try {
    deepStrictEqual(await superuserUrl(url), withDatabase(paths(TEST).adminUrl, db));
    await setupTarget(url);
    await setupTarget(url);
    const facts = await psql(url, {
      command: `select (select rolsuper from pg_roles where rolname = current_user),
                       (select nspowner::regrole::text from pg_namespace where nspname = 'sync'),
                       (select string_agg(extname || ':' || extnamespace::regnamespace::text, ',' order by extname)
                          from pg_extension where extname in ('postgres_fdw', 'uuid-ossp', 'pgcrypto')),
                       has_foreign_data_wrapper_privilege('postgres_fdw', 'usage'),
                       (select count(*) from supabase_migrations.schema_migrations)`,
    });
    const migrations = [...Deno.readDirSync(`${ROOT}/supabase/migrations`)].filter((f) => f.name.endsWith(".sql"));
    deepStrictEqual(
      facts,
      `f|postgres|pgcrypto:extensions,postgres_fdw:extensions,uuid-ossp:extensions|t|${migrations.length}`,
    );
    // Everything the platform's part makes exists now: a run as postgres alone changes nothing and passes.
    await withAdminEnv(url, () => setupTarget(url));
  } finally {
    await psql(owner, { command: `drop database if exists ${db} with (force)` });
  }
});

Deno.test("setupTarget without a superuser names the step that needs one", async () => {
  const owner = paths(TEST).dbUrl;
  const db = `d_setup_nosu_${Deno.pid}`;
  const url = withDatabase(owner, db);
  await psql(owner, { command: `drop database if exists ${db} with (force)` });
  await psql(owner, { command: `create database ${db}` });
  try {
    await withAdminEnv(url, async () => {
      deepStrictEqual(await superuserUrl(url), url);
      await rejects(setupTarget(url), (e: Error) => {
        ok(
          e.message.includes(
            "ERROR:  create extension postgres_fdw needs a superuser; on hosted Supabase run supabase db push instead",
          ),
          e.message,
        );
        ok(!e.message.includes(":postgres@"), `the message shows the password: ${e.message}`);
        return true;
      });
    });
  } finally {
    await psql(owner, { command: `drop database if exists ${db} with (force)` });
  }
});
