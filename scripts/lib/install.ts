/**
 * Installs what the local stack needs from Debian's packages, once: PostgreSQL 15 with pg_cron,
 * pgTAP, plpgsql_check, wal2json and pg_prove; and, for the test suite only, Chromium (the dashboard's browser
 * test drives it). Idempotent: a machine that has them all is left as is.
 */
import { exists, run } from "./run.ts";

/** Where Debian puts PostgreSQL 15's programs. */
export const PG_BIN = "/usr/lib/postgresql/15/bin";
const EXT = "/usr/share/postgresql/15/extension";

const NEEDED: Array<[string, string]> = [
  [`${PG_BIN}/postgres`, "postgresql-15"],
  [`${PG_BIN}/psql`, "postgresql-client-15"],
  [`${EXT}/postgres_fdw.control`, "postgresql-contrib"],
  [`${EXT}/pg_cron.control`, "postgresql-15-cron"],
  [`${EXT}/pgtap.control`, "postgresql-15-pgtap"],
  [`${EXT}/plpgsql_check.control`, "postgresql-15-plpgsql-check"],
  ["/usr/lib/postgresql/15/lib/wal2json.so", "postgresql-15-wal2json"],
  ["/usr/bin/pg_prove", "libtap-parser-sourcehandler-pgtap-perl"],
];
/** The browser the dashboard test drives (the test suite installs it; the demo does not need it). */
const BROWSER: Array<[string, string]> = [["/usr/bin/chromium", "chromium"]];

/** Installs the missing Debian packages (with `browser`, Chromium too); prints what it does. */
export async function ensureInstalled(opts: { browser?: boolean } = {}): Promise<void> {
  const missing = [...NEEDED, ...(opts.browser ? BROWSER : [])].filter(([path]) => !exists(path)).map(([, pkg]) => pkg);
  if (missing.length === 0) return;
  console.log(`installing ${missing.join(", ")} (apt-get)`);
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  const sudo = Deno.uid() === 0 ? [] : ["sudo", "-E"];
  await run([...sudo, "apt-get", "update", "-q"], { env });
  await run([...sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", ...missing], { env });
  // Debian's package starts a default cluster on 5432; the project runs its own and leaves that one alone.
}
