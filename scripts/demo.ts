/**
 * `deno task demo [--scale 0.01] [--seed 42]`: the product's main job on an embedded default.
 * Installs what is missing, starts the local stack, builds the legacy database with generated
 * data, installs capture there, prepares the target (db:setup) and shows what it set up.
 */
import { option, taskArgs } from "./lib/args.ts";
import { buildLegacy } from "./lib/legacy.ts";
import { psql, redact } from "./lib/psql.ts";
import { installSource, setupTarget } from "./lib/setup.ts";
import { DEMO, env, start } from "./lib/stack.ts";

const args = taskArgs();
const scale = Number(option(args, "scale", "0.02"));
const seed = Number(option(args, "seed", "42"));
const t0 = performance.now();
const step = (msg: string) => console.log(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${msg}`);

step("starting the local stack (installs PostgreSQL 15 and extensions on first run)");
await start(DEMO);
const vars = await env(DEMO);
step(`target ${redact(vars.DB_URL)}, legacy ${redact(vars.LEGACY_DB_URL)}`);

step("applying the target migrations (db:setup, Supabase CLI)");
await setupTarget(vars.DB_URL);

const already = await psql(vars.LEGACY_DB_URL, {
  command: "select count(*) from pg_namespace where nspname = 'demo_gen'",
});
const reuse = already === "1" && !args.includes("--regenerate") && option(args, "scale") === undefined;
if (reuse) {
  step("legacy database already generated (pass --regenerate or --scale to rebuild it)");
} else {
  step(`generating the legacy database at scale ${scale} (seed ${seed})`);
  const counts = await buildLegacy(vars.LEGACY_DB_URL, scale, seed);
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  step(`generated ${total} legacy rows: ${Object.entries(counts).map(([t, n]) => `${t} ${n}`).join(", ")}`);
}

step("installing capture on the legacy database (source:install)");
await installSource(vars.LEGACY_DB_URL);

step("ready. Variables (deno task status -o env):");
for (const [k, v] of Object.entries(vars)) console.log(`  ${k}="${v}"`);
