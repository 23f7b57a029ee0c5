/**
 * Target and source preparation shared by the tasks, the demo and the tests:
 * `setupTarget` = Supabase compatibility + the project's migrations through the real Supabase CLI;
 * `installSource` = the capture install script on a legacy database.
 */
import { psql, redact } from "./psql.ts";
import { run } from "./run.ts";
import { ROOT } from "./stack.ts";

/** The Supabase CLI, pinned; from the npm registry's platform package, no download of its own. */
export const SUPABASE_CLI = ["npx", "-y", "supabase@3.1.0"];

/**
 * Prepares a PostgreSQL 15+ database like a Supabase one and applies the migrations.
 * Idempotent: a second call applies only new migrations.
 * @throws Error naming the database (password hidden) and the CLI's message.
 */
export async function setupTarget(url: string): Promise<void> {
  await psql(url, { files: [`${ROOT}/sql/setup/supabase_compat.sql`] });
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
