/** Shared helpers of the Deno tests: fresh databases on the test stack, the oracle, ticks. */
import postgres from "postgres";
import { psql, withDatabase } from "../../scripts/lib/psql.ts";
import { paths, ROOT, TEST } from "../../scripts/lib/stack.ts";
import { cloneDb, conninfoAs, dropDb, LEGACY_ROLES, TEMPLATES, urlAs } from "../../scripts/lib/testenv.ts";

/** A pair of fresh databases (target migrated, legacy generated with capture installed). */
export interface Pair {
  /** The target, as `postgres` (not a superuser). */
  targetUrl: string;
  /** The legacy database, as its owner `postgres`. */
  legacyUrl: string;
  /** libpq key=value conninfo of the legacy database as the engine's reader `sync_reader`, as connect_source takes it. */
  legacyConninfo: string;
  target: postgres.Sql;
  /** The legacy database as its owner (schema changes, generator, fixtures). */
  legacy: postgres.Sql;
  /** The legacy database as the application's role `legacy_app` (writes to the app tables only). */
  legacyApp: postgres.Sql;
  close: () => Promise<void>;
}

let counter = 0;

/**
 * Clones both templates under a unique name; `empty` truncates the legacy's synced tables (the source
 * tables of the target's registry, sync.entities; Django's cascade empties the rest).
 */
export async function freshPair(name: string, opts: { empty?: boolean } = {}): Promise<Pair> {
  const id = `d_${name}_${Deno.pid}_${counter++}`;
  const targetUrl = await cloneDb(TEST, TEMPLATES.target, `${id}_t`);
  const legacyUrl = await cloneDb(TEST, TEMPLATES.legacy, `${id}_s`);
  await psql(targetUrl, { files: [`${ROOT}/sql/oracle/oracle.sql`] });
  if (opts.empty) {
    const tables = await psql(targetUrl, {
      command: "select string_agg(source_table, ', ' order by source_table) from sync.entities",
    });
    await psql(legacyUrl, { command: `truncate ${tables} restart identity cascade` });
  }
  const legacyConninfo = conninfoAs(legacyUrl, LEGACY_ROLES.reader);
  const target = postgres(targetUrl, { max: 4, onnotice: () => {} });
  const legacy = postgres(legacyUrl, { max: 8, onnotice: () => {} });
  const legacyApp = postgres(urlAs(legacyUrl, LEGACY_ROLES.app), { max: 8, onnotice: () => {} });
  return {
    targetUrl,
    legacyUrl,
    legacyConninfo,
    target,
    legacy,
    legacyApp,
    close: async () => {
      await target.end();
      await legacy.end();
      await legacyApp.end();
      await dropDb(TEST, `${id}_t`);
      await dropDb(TEST, `${id}_s`);
    },
  };
}

/** Calls sync.tick and returns its summary. */
export async function tick(sql: postgres.Sql, seconds = 50): Promise<Record<string, unknown>> {
  const [row] = await sql`call sync.tick(${seconds}, null)`;
  return row.summary;
}

/** Every difference between the target and the mapping of the source (empty = exact). */
export async function oracleDiff(sql: postgres.Sql, entity: string | null = null): Promise<Record<string, unknown>[]> {
  return [...await sql`select * from oracle.diff(${entity})`];
}

/**
 * The URL of the platform's superuser (`supabase_admin`) on a test database: only for what a real
 * deployment's platform would do (server settings, untrusted extensions), never for the product.
 */
export function adminUrlOf(url: string): string {
  return withDatabase(paths(TEST).adminUrl, new URL(url).pathname.slice(1));
}

/** The test stack's server log (for secret scans). */
export function serverLogPath(): string {
  return paths(TEST).log;
}

/**
 * Waits (at most 60 s) until no transaction on the source cluster is older than the last logged
 * change. A write running in a parallel test holds every snapshot's xmin back, and prune_log rightly
 * keeps the log rows from that xmin on; once settled, the next pull's bound covers the whole log.
 */
export async function settleSource(legacy: postgres.Sql): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const [{ settled }] = await legacy`
      select coalesce(pg_snapshot_xmin(pg_current_snapshot()) > max(txid), true) as settled from sync_capture.log`;
    if (settled) return;
    await sleep(100);
  }
  throw new Error("an older transaction on the source cluster stayed open for 60 s");
}

/** Sleeps. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
