/**
 * `deno task legacy:generate -- <legacy-db-url> [--scale 0.01] [--seed 42]`: rebuild a demo legacy
 * database (drops its schema public!) with deterministic generated data.
 */
import { fail, option, positionals, taskArgs } from "./lib/args.ts";
import { buildLegacy } from "./lib/legacy.ts";
import { redact } from "./lib/psql.ts";

const args = taskArgs();
const [url] = positionals(args, ["scale", "seed"]);
if (!url) fail("usage: deno task legacy:generate -- <legacy-db-url> [--scale 0.01] [--seed 42]");
const scale = Number(option(args, "scale", "0.01"));
const seed = Number(option(args, "seed", "42"));
if (!(scale > 0 && scale <= 10)) fail(`--scale must be a number in (0, 10], got '${option(args, "scale")}'`);
const t0 = performance.now();
const counts = await buildLegacy(url, scale, seed);
const secs = (performance.now() - t0) / 1000;
const total = Object.values(counts).reduce((a, b) => a + b, 0);
for (const [t, n] of Object.entries(counts)) console.log(`${t.padEnd(28)} ${String(n).padStart(9)}`);
console.log(`${total} rows in ${secs.toFixed(1)} s (${Math.round(total / secs)} rows/s) into ${redact(url)}`);
