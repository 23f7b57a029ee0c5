/**
 * `deno task legacy:generate -- <legacy-db-url> [--scale 0.01] [--seed 42] [--shape <name|json>]`:
 * rebuild a demo legacy database (drops its schema public!) with deterministic generated data.
 * `--shape` shapes the data for the benchmark: a name of SHAPES in scripts/lib/legacy.ts (default,
 * wide, sparse, nulls, children, mixed) or a JSON object of options, e.g. '{"wide_share": 0.1}'.
 */
import { fail, option, positionals, taskArgs } from "./lib/args.ts";
import { buildLegacy, parseShape, type Shape } from "./lib/legacy.ts";
import { redact } from "./lib/psql.ts";

const usage = "usage: deno task legacy:generate -- <legacy-db-url> [--scale 0.01] [--seed 42] [--shape <name|json>]";
const args = taskArgs();
const [url] = positionals(args, ["scale", "seed", "shape"]);
if (!url) fail(usage);
const scale = Number(option(args, "scale", "0.01"));
const seed = Number(option(args, "seed", "42"));
if (!(scale > 0 && scale <= 10)) fail(`--scale must be a number in (0, 10], got '${option(args, "scale")}'`);
let shape: Shape = {};
try {
  shape = parseShape(option(args, "shape", "default")!);
} catch (e) {
  fail(`--shape: ${(e as Error).message}`);
}
const t0 = performance.now();
const counts = await buildLegacy(url, scale, seed, shape);
const secs = (performance.now() - t0) / 1000;
const total = Object.values(counts).reduce((a, b) => a + b, 0);
for (const [t, n] of Object.entries(counts)) console.log(`${t.padEnd(28)} ${String(n).padStart(9)}`);
console.log(
  `${total} rows in ${secs.toFixed(1)} s (${Math.round(total / secs)} rows/s), shape ${JSON.stringify(shape)}, ` +
    `into ${redact(url)}`,
);
