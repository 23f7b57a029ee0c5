/**
 * Target and source preparation shared by the tasks, the demo and the tests:
 * `setupTarget` = Supabase compatibility (as a superuser, where one is at hand) + the project's
 * migrations through the real Supabase CLI (as the given URL's role);
 * `installSource` = the capture install script on a legacy database.
 */
import { psql, redact, withDatabase } from "./psql.ts";
import { run } from "./run.ts";
import { paths, ROOT, stackOf } from "./stack.ts";

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
}

/** Options of {@link installSource}. */
export interface InstallOptions {
  /** `trigger` (default) or `logical` (checks wal_level, creates the decoding slot). */
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
