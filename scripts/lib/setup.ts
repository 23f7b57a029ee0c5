/**
 * Target and source preparation shared by the tasks, the demo and the tests:
 * `setupTarget` = Supabase compatibility (as a superuser, where one is at hand) + the project's
 * migrations through the real Supabase CLI (as the given URL's role);
 * `installSource` = the capture install script on a legacy database.
 */
import postgres from "postgres";
import { apiUrl } from "./gateway_process.ts";
import { psql, redact, withDatabase } from "./psql.ts";
import { run } from "./run.ts";
import { keys, paths, ROOT, stackOf, type StackSpec } from "./stack.ts";

/** The Supabase CLI, pinned; from the npm registry's platform package, no download of its own. */
export const SUPABASE_CLI = ["npx", "-y", "supabase@3.1.0"];

/** Who a database URL logs in as, and where. */
interface Login {
  role: string;
  superuser: boolean;
  database: string;
}

async function login(url: string): Promise<Login> {
  const out = await psql(url, {
    command: "select current_user, r.rolsuper, current_database() from pg_catalog.pg_roles r " +
      "where r.rolname = current_user",
  });
  const [role, superuser, database] = out.split("|");
  return { role, superuser: superuser === "t", database };
}

/**
 * A superuser URL for the database that `url` names, for the platform part of setup: env
 * `SYNC_ADMIN_DB_URL` (its database replaced) if set; else the local stack's `supabase_admin` when
 * `url` points at one of this project's stacks; else `url` itself when its role is a superuser;
 * else undefined (the compatibility part then runs as the URL's role, and names any step that
 * needs a superuser).
 */
export async function superuserUrl(url: string): Promise<string | undefined> {
  return superuserFor(url, await login(url));
}

function superuserFor(url: string, who: Login): string | undefined {
  const env = Deno.env.get("SYNC_ADMIN_DB_URL");
  if (env) return withDatabase(env, who.database);
  const stack = stackOf(url);
  if (stack) return withDatabase(paths(stack).adminUrl, who.database);
  return who.superuser ? url : undefined;
}

/**
 * Prepares a PostgreSQL 15+ database like a Supabase one and applies the migrations. The
 * compatibility part (roles, untrusted extensions, stand-ins, what hosted Supabase grants `postgres`)
 * runs as a superuser where {@link superuserUrl} finds one; the migrations run as the URL's role,
 * as `supabase db push` does on hosted Supabase. Idempotent: a second call applies only new migrations.
 * On a local stack's database `postgres` (where pg_cron runs and the stack's gateway points), it then stores
 * the stack's Vault entries for the schedule ({@link storeScheduleSecrets}).
 * @throws Error naming the database (password hidden) and the step or the CLI's message.
 */
export async function setupTarget(url: string): Promise<void> {
  const who = await login(url);
  const admin = superuserFor(url, who);
  try {
    await psql(admin ?? url, { files: [`${ROOT}/sql/setup/supabase_compat.sql`] }, {
      vars: { migration_role: who.role },
    });
  } catch (e) {
    const as = admin === undefined ? `${who.role}, not a superuser` : admin === url ? who.role : "the admin URL";
    throw new Error(`db:setup on ${redact(url)}: the compatibility part (as ${as}) failed: ${(e as Error).message}`);
  }
  const out = await run([...SUPABASE_CLI, "db", "push", "--db-url", url, "--include-all", "--yes"], {
    cwd: ROOT,
    allowFail: true,
    env: { SUPABASE_TELEMETRY_DISABLED: "1", DO_NOT_TRACK: "1" },
  });
  if (out.code !== 0) {
    throw new Error(`supabase db push on ${redact(url)} failed: ${(out.stderr || out.stdout).trim()}`);
  }
  const stack = stackOf(url);
  if (stack && who.database === "postgres") await storeScheduleSecrets(stack);
}

/** The Vault entries that sync.schedule's job reads: names and what a stack stores in them. */
export const SCHEDULE_SECRETS = ["sync_project_url", "sync_secret_key"] as const;

/**
 * The documented step "store the project URL and a secret key in Vault", done for a local stack: in its
 * database `postgres`, `sync_project_url` = the stack's gateway URL and `sync_secret_key` = the stack's secret
 * key, created or updated (idempotent), as `postgres` through query parameters (the key never appears in a
 * command line, a statement or a log line).
 * @returns false when the database has no Vault yet (before db:setup), true when the entries are stored.
 */
export async function storeScheduleSecrets(spec: StackSpec): Promise<boolean> {
  const sql = postgres(paths(spec).dbUrl, { max: 1, onnotice: () => {} });
  try {
    const [{ vault }] = await sql`select to_regclass('vault.decrypted_secrets') is not null as vault`;
    if (!vault) return false;
    const values: Record<(typeof SCHEDULE_SECRETS)[number], string> = {
      sync_project_url: apiUrl(spec),
      sync_secret_key: (await keys(spec)).SECRET_KEY,
    };
    for (const name of SCHEDULE_SECRETS) {
      const description = `local stack '${spec.name}': set by deno task start / db:setup`;
      const [row] = await sql`select id, decrypted_secret = ${values[name]} as same
                                from vault.decrypted_secrets where name = ${name}`;
      if (!row) await sql`select vault.create_secret(${values[name]}, ${name}, ${description})`;
      else if (!row.same) await sql`select vault.update_secret(${row.id}, ${values[name]})`;
    }
    return true;
  } finally {
    await sql.end();
  }
}

/** Options of {@link installSource}. */
export interface InstallOptions {
  /**
   * `trigger` (default) or `logical`: no trigger; checks wal_level and the installing role's REPLICATION, creates the
   * database's wal2json slot and the objects the target reads it through (sync_capture.logical, logical_changes,
   * logical_status), grants them to the recorded readers, and reports `alter role <reader> replication` for each
   * reader still without REPLICATION.
   */
  mode?: "trigger" | "logical";
  /** A role to grant exactly what the engine's source reader needs (it must exist). */
  reader?: string;
  /** Another capture script to run instead of sql/capture/install.sql (an older version, for upgrade tests and benches). */
  script?: string;
}

/**
 * Installs or upgrades capture on a legacy database. Idempotent.
 * @returns the script's report: the reader grants made (with `reader`), else the grants a reader role needs.
 * @throws Error with psql's message (a missing reader role, a table lock not obtained after the retries).
 */
export async function installSource(url: string, opts: InstallOptions = {}): Promise<string> {
  const out = await psql(url, { files: [opts.script ?? `${ROOT}/sql/capture/install.sql`] }, {
    vars: { capture_mode: opts.mode ?? "trigger", reader: opts.reader ?? "" },
  });
  return out.split("\n").filter((l) => l.trim() !== "").join("\n");
}
