/**
 * The test suite's databases on the test stack: a migrated target template and a generated legacy
 * template, cloned per test (`createdb -T`) so that every test file starts fresh and isolated.
 */
import { buildLegacy } from "./legacy.ts";
import { psql, withDatabase } from "./psql.ts";
import { installSource, setupTarget } from "./setup.ts";
import { paths, ROOT, type StackSpec } from "./stack.ts";

/** Template database names. */
export const TEMPLATES = { target: "sync_template", legacy: "legacy_template" } as const;
/** Scale and seed of the legacy template. */
export const LEGACY_TEMPLATE = { scale: 0.01, seed: 7 } as const;

async function recreate(admin: string, db: string, template?: string): Promise<void> {
  await psql(admin, { command: `drop database if exists ${db} with (force)` });
  await psql(admin, { command: `create database ${db}${template ? ` template ${template}` : ""}` });
}

/** Builds both templates from the current migrations and legacy scripts. */
export async function buildTemplates(spec: StackSpec): Promise<void> {
  const admin = paths(spec).dbUrl;
  await recreate(admin, TEMPLATES.target);
  const target = withDatabase(admin, TEMPLATES.target);
  await setupTarget(target);
  // The tests' own untrusted extensions: made by the platform's superuser, as hosted Supabase's platform would.
  await psql(withDatabase(paths(spec).adminUrl, TEMPLATES.target), {
    command: "create extension if not exists pgtap with schema extensions; " +
      "create extension if not exists plpgsql_check with schema extensions; create extension if not exists dblink with schema extensions",
  });
  await psql(target, { files: [`${ROOT}/tests/pgtap/helpers.sql`] });
  await recreate(admin, TEMPLATES.legacy);
  const legacy = withDatabase(admin, TEMPLATES.legacy);
  await buildLegacy(legacy, LEGACY_TEMPLATE.scale, LEGACY_TEMPLATE.seed);
  await installSource(legacy);
  await psql(legacy, { command: "create schema if not exists extensions" });
  await psql(withDatabase(paths(spec).adminUrl, TEMPLATES.legacy), {
    command: "create extension if not exists pgtap with schema extensions",
  });
  await psql(legacy, { command: `alter database ${TEMPLATES.legacy} set search_path = "$user", public, extensions` });
}

/** Creates a fresh database cloned from a template; returns its URL. */
export async function cloneDb(spec: StackSpec, template: string, name: string): Promise<string> {
  const admin = paths(spec).dbUrl;
  await recreate(admin, name, template);
  // Database-level settings are not copied by `create database ... template`.
  await psql(admin, { command: `alter database ${name} set search_path = "$user", public, extensions` });
  return withDatabase(admin, name);
}

/** Drops a test database. */
export async function dropDb(spec: StackSpec, name: string): Promise<void> {
  await psql(paths(spec).dbUrl, { command: `drop database if exists ${name} with (force)` });
}
