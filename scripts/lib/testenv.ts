/**
 * The test suite's databases on the test stack: a migrated target template and a generated legacy
 * template, cloned per test (`createdb -T`) so that every test file starts fresh and isolated.
 *
 * Three roles, as in production: `postgres` (not a superuser) owns the databases and runs the
 * migrations and the engine; on the legacy side the application writes as `legacy_app` and the
 * engine reads as `sync_reader`. The platform's superuser only creates the untrusted extensions
 * that the tests themselves need (pgTAP, plpgsql_check, dblink), as hosted Supabase's platform would.
 */
import { buildLegacy } from "./legacy.ts";
import { psql, withDatabase } from "./psql.ts";
import { installSource, setupTarget } from "./setup.ts";
import { paths, ROOT, type StackSpec } from "./stack.ts";

/** Template database names. */
export const TEMPLATES = { target: "sync_template", legacy: "legacy_template" } as const;
/** Scale and seed of the legacy template. */
export const LEGACY_TEMPLATE = { scale: 0.01, seed: 7 } as const;

/** A login role of the test stack. */
export interface TestRole {
  user: string;
  password: string;
}

/** The legacy side's roles (cluster-wide): the application's own and the engine's reader. */
export const LEGACY_ROLES: { app: TestRole; reader: TestRole } = {
  app: { user: "legacy_app", password: "legacy-app-pw" },
  reader: { user: "sync_reader", password: "sync-reader-pw" },
};

/** The libpq key=value conninfo of a database URL, logging in as another role. */
export function conninfoAs(url: string, role: TestRole): string {
  const u = new URL(url);
  return `host=${u.hostname} port=${u.port} dbname=${
    decodeURIComponent(u.pathname.slice(1))
  } user=${role.user} password=${role.password}`;
}

/** A database URL logging in as another role. */
export function urlAs(url: string, role: TestRole): string {
  const u = new URL(url);
  u.username = role.user;
  u.password = role.password;
  return u.toString();
}

async function recreate(owner: string, db: string, template?: string): Promise<void> {
  await psql(owner, { command: `drop database if exists ${db} with (force)` });
  await psql(owner, { command: `create database ${db}${template ? ` template ${template}` : ""}` });
}

/** Creates the legacy side's roles (idempotent; as `postgres`, which has CREATEROLE). */
async function makeLegacyRoles(url: string): Promise<void> {
  const stmts = Object.values(LEGACY_ROLES).map((r) =>
    `if not exists (select 1 from pg_catalog.pg_roles where rolname = '${r.user}') then
         create role ${r.user};
     end if;
     alter role ${r.user} login password '${r.password}';`
  );
  await psql(url, { command: `do $$ begin ${stmts.join("\n")} end; $$` });
}

/** Builds both templates from the current migrations and legacy scripts. */
export async function buildTemplates(spec: StackSpec): Promise<void> {
  const owner = paths(spec).dbUrl;
  const admin = paths(spec).adminUrl;
  await recreate(owner, TEMPLATES.target);
  const target = withDatabase(owner, TEMPLATES.target);
  await setupTarget(target);
  await psql(withDatabase(admin, TEMPLATES.target), {
    command: "create extension if not exists pgtap with schema extensions; " +
      "create extension if not exists plpgsql_check with schema extensions; create extension if not exists dblink with schema extensions",
  });
  await psql(target, { files: [`${ROOT}/tests/pgtap/helpers.sql`] });

  await makeLegacyRoles(owner);
  await recreate(owner, TEMPLATES.legacy);
  const legacy = withDatabase(owner, TEMPLATES.legacy);
  await buildLegacy(legacy, LEGACY_TEMPLATE.scale, LEGACY_TEMPLATE.seed);
  // The application's role: its tables and sequences, nothing of the capture schema.
  await psql(legacy, {
    command: `grant usage on schema public to ${LEGACY_ROLES.app.user};
      grant select, insert, update, delete, truncate on all tables in schema public to ${LEGACY_ROLES.app.user};
      grant usage on all sequences in schema public to ${LEGACY_ROLES.app.user}`,
  });
  await installSource(legacy, { reader: LEGACY_ROLES.reader.user });
  await psql(legacy, { command: "create schema if not exists extensions" });
  await psql(withDatabase(admin, TEMPLATES.legacy), {
    command: "create extension if not exists pgtap with schema extensions",
  });
  await psql(owner, { command: `alter database ${TEMPLATES.legacy} set search_path = "$user", public, extensions` });
}

/** Creates a fresh database cloned from a template; returns its URL (as `postgres`, its owner). */
export async function cloneDb(spec: StackSpec, template: string, name: string): Promise<string> {
  const owner = paths(spec).dbUrl;
  await recreate(owner, name, template);
  // Database-level settings are not copied by `create database ... template`.
  await psql(owner, { command: `alter database ${name} set search_path = "$user", public, extensions` });
  return withDatabase(owner, name);
}

/** Drops a test database (its logical decoding slots first, as the platform's superuser: they would keep it). */
export async function dropDb(spec: StackSpec, name: string): Promise<void> {
  await psql(paths(spec).adminUrl, {
    command:
      `select pg_terminate_backend(active_pid, 10000) from pg_replication_slots where database = '${name}' and active;
      select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = '${name}'`,
  });
  await psql(paths(spec).dbUrl, { command: `drop database if exists ${name} with (force)` });
}
