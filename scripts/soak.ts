/**
 * `deno task soak [-- --minutes N] [--rate R] [--seed S] [--scale X] [--keep]`: the live demo stream at R
 * transactions/s (default 300) for N minutes (default 5), driven the way it is deployed (pg_cron → pg_net worker →
 * gateway → `sync` function → `sync.tick`), with faults injected at random moments drawn from the seed: the tick's
 * backend terminated mid-pull, mid-apply and mid-verify, the source refusing connections for 20–60 s, a target
 * CHECK constraint that rejects some rows for a while (then dropped and its quarantine released), and a manual
 * trigger while a scheduled tick runs. Then it drains, compares every target row with the oracle
 * (sql/oracle/oracle.sql) and the quarantine with what the faults imply, and prints the seed, the faults with
 * their times and outcomes, the lag per minute, the changes and the comparison (scripts/lib/soak.ts). Exit 1 on
 * any difference, unexplained quarantine or fault whose outcome is wrong.
 *
 * On a stack of its own: `.stack/soak`, port 54960 (`SYNC_SOAK_DB_PORT`), databases `soak_legacy` (generated at
 * `--scale`, default 0.02, capture installed, read by the role `sync_reader`) and `soak_target` (migrated,
 * connected, backfilled); stopped at the end unless `--keep`.
 */
import { fail, flag, option, taskArgs } from "./lib/args.ts";
import { psql, withDatabase } from "./lib/psql.ts";
import { installSource, setupTarget } from "./lib/setup.ts";
import { formatSoak, runSoak } from "./lib/soak.ts";
import { paths, ROOT, type StackSpec, start, stop } from "./lib/stack.ts";
import { buildLegacy } from "./lib/legacy.ts";
import { conninfoAs, LEGACY_ROLES } from "./lib/testenv.ts";
import postgres from "postgres";

const args = taskArgs();
const minutes = Number(option(args, "minutes", "5"));
const rate = Number(option(args, "rate", "300"));
const seed = Number(option(args, "seed") ?? Math.floor(Math.random() * 2 ** 31));
const scale = Number(option(args, "scale", "0.02"));
const keep = flag(args, "keep");
if (!Number.isFinite(minutes) || minutes <= 0) {
  fail(`--minutes must be a positive number, got ${option(args, "minutes")}`);
}
if (!Number.isFinite(rate) || rate <= 0) fail(`--rate must be a positive number, got ${option(args, "rate")}`);
if (!Number.isInteger(seed)) fail(`--seed must be an integer, got ${option(args, "seed")}`);
if (!Number.isFinite(scale) || scale <= 0) fail(`--scale must be a positive number, got ${option(args, "scale")}`);

const SOAK: StackSpec = { name: "soak", port: Number(Deno.env.get("SYNC_SOAK_DB_PORT") ?? 54960), fast: false };
const t0 = performance.now();
const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(0)} s`;
console.log(
  `soak: seed ${seed}, ${minutes} min at ${rate} tx/s, stack ${SOAK.name} (port ${SOAK.port}), scale ${scale}`,
);

await start(SOAK);
const admin = paths(SOAK).dbUrl;
const legacyUrl = withDatabase(admin, "soak_legacy");
const targetUrl = withDatabase(admin, "soak_target");
let exitCode = 1;
try {
  // The cron jobs of an earlier, interrupted soak point at the database dropped below.
  await psql(paths(SOAK).adminUrl, {
    command: "create extension if not exists pg_cron; " +
      "select cron.unschedule(jobid) from cron.job where database = 'soak_target'",
  });
  for (const db of ["soak_legacy", "soak_target"]) {
    await psql(admin, { command: `drop database if exists ${db} with (force)` });
    await psql(admin, { command: `create database ${db}` });
  }
  // The engine's reader, a role of its own: the source outage locks it out (never the owner, who writes).
  const reader = LEGACY_ROLES.reader;
  await psql(admin, {
    command: `do $$ begin
      if not exists (select 1 from pg_catalog.pg_roles where rolname = '${reader.user}') then
        create role ${reader.user};
      end if;
    end $$; alter role ${reader.user} login password '${reader.password}'`,
  });
  console.log(`[${elapsed()}] generating the legacy database (scale ${scale}) and migrating the target ...`);
  await buildLegacy(legacyUrl, scale, 42);
  await installSource(legacyUrl, { reader: reader.user });
  await setupTarget(targetUrl);
  await psql(targetUrl, { files: [`${ROOT}/sql/oracle/oracle.sql`] });
  const target = postgres(targetUrl, { max: 1, onnotice: () => {} });
  try {
    const [{ c }] = await target`select sync.connect_source(${conninfoAs(legacyUrl, reader)}) as c`;
    if (!c.connected) throw new Error(`connect_source failed: ${c.error.message}`);
    const [{ summary }] = await target`call sync.backfill(null, null)`;
    if (summary.status !== "succeeded") throw new Error(`backfill ${summary.status}: ${JSON.stringify(summary.error)}`);
    console.log(`[${elapsed()}] backfilled ${summary.progress?.done ?? "?"} rows`);
  } finally {
    await target.end();
  }

  const result = await runSoak({
    cronAdminUrl: paths(SOAK).adminUrl,
    targetUrl,
    legacyUrl,
    reader: reader.user,
    logFile: `${paths(SOAK).dir}/soak-functions.log`,
  }, { seconds: minutes * 60, rate, seed, log: (line) => console.log(`[${elapsed()}] ${line}`) });
  console.log(formatSoak(result));
  exitCode = result.ok ? 0 : 1;
} finally {
  if (!keep) await stop(SOAK);
}
console.log(`soak: ${exitCode === 0 ? "passed" : "FAILED"} in ${elapsed()} (seed ${seed})`);
Deno.exit(exitCode);
