/**
 * The local stack that stands in for `supabase start` where Docker is missing: one PostgreSQL 15
 * cluster (from Debian's packages) holding the target database (`postgres`, as on Supabase) and
 * the legacy source database (`legacy`), with pg_cron, logical decoding and TCP password auth.
 *
 * Roles as on hosted Supabase: the cluster's bootstrap superuser is `supabase_admin` (platform
 * setup only); `postgres` logs in with CREATEDB, CREATEROLE, REPLICATION and BYPASSRLS but is not a
 * superuser, and owns both databases. Migrations, tests and the engine run as `postgres`.
 *
 * One cluster, not two: postgres_fdw and pg_cron behave the same over a loopback connection as
 * across hosts, and one postmaster halves the memory and start time. The legacy database is
 * reached only through a libpq URL, so a second cluster (or a remote one) works unchanged.
 */
import { ensureInstalled, PG_BIN } from "./install.ts";
import { makeKeys, type StackKeys } from "./keys.ts";
import { psql } from "./psql.ts";
import { exists, run } from "./run.ts";

/** The project's root folder. */
export const ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

/** A named local stack: `demo` (the user's) or `test` (the suite's own, never the demo's). */
export interface StackSpec {
  name: string;
  port: number;
  /** Trade durability for speed (the test stack). */
  fast: boolean;
}

/** The demo stack: Supabase's local database port. */
export const DEMO: StackSpec = { name: "demo", port: Number(Deno.env.get("SYNC_DB_PORT") ?? 54322), fast: false };
/** The test stack: its own port and data directory (`SYNC_TEST_STACK_NAME` lets two suites run side by side). */
export const TEST: StackSpec = {
  name: Deno.env.get("SYNC_TEST_STACK_NAME") ?? "test",
  port: Number(Deno.env.get("SYNC_TEST_DB_PORT") ?? 54422),
  fast: true,
};

const PASSWORD = "postgres";
/** The platform's superuser, as on hosted Supabase. */
export const ADMIN_ROLE = "supabase_admin";

/** Paths and URLs of a stack. */
export function paths(spec: StackSpec) {
  const dir = `${ROOT}/.stack/${spec.name}`;
  const base = `postgresql://postgres:${PASSWORD}@127.0.0.1:${spec.port}`;
  return {
    dir,
    data: `${dir}/pgdata`,
    log: `${dir}/postgres.log`,
    keys: `${dir}/keys.json`,
    /** The target database, as `postgres` (not a superuser): migrations, engine, tests. */
    dbUrl: `${base}/postgres`,
    /** The legacy database, as its owner `postgres`. */
    legacyUrl: `${base}/legacy`,
    /** The platform's superuser on database `postgres`: platform setup only (roles, untrusted extensions). */
    adminUrl: `postgresql://${ADMIN_ROLE}:${PASSWORD}@127.0.0.1:${spec.port}/postgres`,
  };
}

/**
 * The local stack that a libpq URL points at (127.0.0.1 or localhost and the port of a stack under
 * `.stack/`), or undefined. Stacks are found by their data directories, so every stack counts
 * (demo, test, bench, a suite's own), whatever environment made it.
 */
export function stackOf(url: string): StackSpec | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (!["127.0.0.1", "localhost"].includes(u.hostname)) return undefined;
  const port = Number(u.port || 5432);
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(`${ROOT}/.stack`)];
  } catch {
    return undefined;
  }
  for (const e of entries) {
    if (!e.isDirectory) continue;
    const spec = { name: e.name, port, fast: false };
    let conf: string;
    try {
      conf = Deno.readTextFileSync(`${paths(spec).data}/postgresql.auto.conf`);
    } catch {
      continue;
    }
    // (ALTER SYSTEM rewrites the file with the value quoted.)
    if (new RegExp(`^port = '?${port}'?$`, "m").test(conf)) return spec;
  }
  return undefined;
}

async function asPostgres(cmd: string[], allowFail = false) {
  return await run(["runuser", "-u", "postgres", "--", ...cmd], { allowFail });
}

/** The postgres OS user must be able to reach the data directory: give traverse rights on the way. */
async function makeReachable(dir: string): Promise<void> {
  let p = dir;
  while (p !== "/" && p !== "") {
    p = p.substring(0, p.lastIndexOf("/")) || "/";
    const st = await Deno.stat(p);
    if (st.mode !== null && (st.mode & 0o001) === 0) await Deno.chmod(p, (st.mode & 0o7777) | 0o001);
  }
}

function portTaken(port: number): boolean {
  try {
    const l = Deno.listen({ hostname: "127.0.0.1", port });
    l.close();
    return false;
  } catch {
    return true;
  }
}

/** True when this stack's postmaster runs. */
export async function isRunning(spec: StackSpec): Promise<boolean> {
  const p = paths(spec);
  if (!exists(`${p.data}/postmaster.pid`)) return false;
  const r = await asPostgres([`${PG_BIN}/pg_ctl`, "-D", p.data, "status"], true);
  return r.code === 0;
}

async function initCluster(spec: StackSpec): Promise<void> {
  const p = paths(spec);
  await Deno.mkdir(p.dir, { recursive: true });
  await run(["chown", "postgres:postgres", p.dir]);
  await makeReachable(p.dir);
  const pwfile = `${p.dir}/.pw`;
  await Deno.writeTextFile(pwfile, PASSWORD);
  await run(["chown", "postgres:postgres", pwfile]);
  await asPostgres([
    `${PG_BIN}/initdb`,
    "-D",
    p.data,
    "-U",
    ADMIN_ROLE,
    `--pwfile=${pwfile}`,
    "--auth-local=peer",
    "--auth-host=scram-sha-256",
    "-E",
    "UTF8",
    "--locale=C.UTF-8",
  ]);
  await Deno.remove(pwfile);
  const conf = [
    `port = ${spec.port}`,
    "listen_addresses = '127.0.0.1'",
    `unix_socket_directories = ''`,
    "shared_preload_libraries = 'pg_cron'",
    "cron.database_name = 'postgres'",
    "cron.use_background_workers = on",
    "max_worker_processes = 32",
    "max_connections = 200",
    "shared_buffers = 512MB",
    "work_mem = 32MB",
    "maintenance_work_mem = 256MB",
    "wal_level = logical",
    "max_replication_slots = 10",
    "max_wal_senders = 10",
    "max_wal_size = 4GB",
    "log_min_messages = warning",
    "log_line_prefix = '%m [%p] %d '",
    ...(spec.fast ? ["fsync = off", "synchronous_commit = off", "full_page_writes = off"] : []),
  ];
  await Deno.writeTextFile(`${p.data}/postgresql.auto.conf`, conf.join("\n") + "\n", { append: true });
}

/** Reads the stack's keys, making them on first use. */
export async function keys(spec: StackSpec): Promise<StackKeys> {
  const p = paths(spec);
  if (exists(p.keys)) return JSON.parse(await Deno.readTextFile(p.keys));
  const k = await makeKeys();
  await Deno.mkdir(p.dir, { recursive: true });
  await Deno.writeTextFile(p.keys, JSON.stringify(k, null, 2), { mode: 0o600 });
  return k;
}

/**
 * Starts (or reuses) the stack and waits until it answers; makes the roles and databases. Idempotent.
 * A data directory made by an older version (where `postgres` is still the superuser) is re-initialised.
 * @throws Error when the port is taken by something that is not this stack.
 */
export async function start(spec: StackSpec): Promise<void> {
  await ensureInstalled();
  const p = paths(spec);
  if (!(await isRunning(spec))) {
    if (portTaken(spec.port)) {
      throw new Error(
        `port ${spec.port} on 127.0.0.1 is taken by another process; stop it or choose another port with ` +
          (spec.name === "test" ? "SYNC_TEST_DB_PORT" : "SYNC_DB_PORT"),
      );
    }
    if (!exists(`${p.data}/PG_VERSION`)) await initCluster(spec);
    await postmaster(spec);
  }
  if (await postgresIsSuperuser(spec)) {
    console.log(
      `local stack '${spec.name}': made by an older version (postgres is a superuser); re-initialising it with ` +
        `${ADMIN_ROLE} as the superuser (its data is regenerated)`,
    );
    await stop(spec);
    await Deno.remove(p.data, { recursive: true });
    await initCluster(spec);
    await postmaster(spec);
  }
  await makeRoles(spec);
  await keys(spec);
}

async function postmaster(spec: StackSpec): Promise<void> {
  const p = paths(spec);
  await makeReachable(p.dir);
  // The port of this start, not the one written at initdb: a changed SYNC_*_PORT takes effect (and
  // stackOf, which finds a stack by the port in its configuration, finds it).
  const conf = `${p.data}/postgresql.auto.conf`;
  const text = await Deno.readTextFile(conf);
  const moved = text.replace(/^port = \d+$/m, `port = ${spec.port}`);
  if (moved !== text) await Deno.writeTextFile(conf, moved);
  await asPostgres([`${PG_BIN}/pg_ctl`, "-D", p.data, "-l", p.log, "-w", "-t", "60", "start"]);
}

/** True when the stack's `postgres` role is a superuser: a cluster that the older code bootstrapped as `postgres`. */
async function postgresIsSuperuser(spec: StackSpec): Promise<boolean> {
  try {
    return await psql(paths(spec).dbUrl, {
      command: "select rolsuper from pg_catalog.pg_roles where rolname = 'postgres'",
    }) === "t";
  } catch {
    return false; // no role postgres yet: a new cluster
  }
}

/**
 * As the platform's superuser: `postgres` as on hosted Supabase (login, CREATEDB, CREATEROLE,
 * REPLICATION, BYPASSRLS, not a superuser; the predefined roles and parameter that hosted grants it),
 * owner of databases `postgres` and `legacy`. Idempotent.
 */
async function makeRoles(spec: StackSpec): Promise<void> {
  const admin = (command: string) => psql(paths(spec).adminUrl, { command });
  await admin(`do $$
    begin
        if not exists (select 1 from pg_catalog.pg_roles where rolname = 'postgres') then
            create role postgres login password '${PASSWORD}';
        end if;
    end;
    $$;
    alter role postgres with login nosuperuser createdb createrole replication bypassrls;
    grant pg_monitor, pg_read_all_data, pg_signal_backend to postgres;
    grant set on parameter session_replication_role to postgres;
    alter database postgres owner to postgres`);
  if (await admin("select count(*) from pg_catalog.pg_database where datname = 'legacy'") === "0") {
    await admin("create database legacy owner postgres");
  } else await admin("alter database legacy owner to postgres");
}

/** Stops the stack's postmaster, and nothing else. */
export async function stop(spec: StackSpec): Promise<boolean> {
  if (!(await isRunning(spec))) return false;
  await asPostgres([`${PG_BIN}/pg_ctl`, "-D", paths(spec).data, "-m", "fast", "-w", "stop"]);
  return true;
}

/** The `KEY=value` variables of a running stack, in `supabase status -o env` order. */
export async function env(spec: StackSpec): Promise<Record<string, string>> {
  const p = paths(spec);
  const out: Record<string, string> = {};
  if (!(await isRunning(spec))) return out;
  const k = await keys(spec);
  out.DB_URL = p.dbUrl;
  out.LEGACY_DB_URL = p.legacyUrl;
  out.JWT_SECRET = k.JWT_SECRET;
  out.ANON_KEY = k.ANON_KEY;
  out.SERVICE_ROLE_KEY = k.SERVICE_ROLE_KEY;
  out.SECRET_KEY = k.SECRET_KEY;
  out.PUBLISHABLE_KEY = k.PUBLISHABLE_KEY;
  return out;
}
