/**
 * `deno task fuzz [-- --seconds N] [--seed S] [--length L] [--path P]`: the property of
 * `tests/deno/fuzz_test.ts` (random Django-like legacy operation sequences, then the target must equal the oracle)
 * for N seconds (default 60) on a test stack of its own, one sequence after another: run r of seed S (default:
 * random) is fast-check's run r, so `--seed S --path P` replays a failure, shrunk counterexample included. Prints the
 * seed, the sequences and operations tried and, on a failure, how to replay it and the shrunk counterexample (exit 1).
 * `--length` bounds the operations of a sequence (default 40).
 *
 * The stack: `SYNC_TEST_STACK_NAME` and `SYNC_TEST_DB_PORT` as for `deno task test`; unset, its own `.stack/fuzz` on
 * port 54722, so a long run never meets the test suite's stack. Stopped at the end unless `SYNC_KEEP_TEST_STACK=1`.
 */
import fc from "fast-check";
import { fail, option, taskArgs } from "./lib/args.ts";
import type { Op, Setup } from "../tests/deno/_fuzz.ts";

const args = taskArgs();
const seconds = Number(option(args, "seconds", "60"));
const seed = Number(option(args, "seed") ?? Math.floor(Math.random() * 2 ** 31));
const length = Number(option(args, "length", "40"));
const path = option(args, "path");
if (!Number.isFinite(seconds) || seconds <= 0) {
  fail(`--seconds must be a positive number, got ${option(args, "seconds")}`);
}
if (!Number.isInteger(seed)) fail(`--seed must be an integer, got ${option(args, "seed")}`);
if (!Number.isInteger(length) || length < 1) fail(`--length must be a positive integer, got ${option(args, "length")}`);

// The stack is chosen from the environment when these modules load: set the defaults first.
if (!Deno.env.get("SYNC_TEST_STACK_NAME")) {
  Deno.env.set("SYNC_TEST_STACK_NAME", "fuzz");
  if (!Deno.env.get("SYNC_TEST_DB_PORT")) Deno.env.set("SYNC_TEST_DB_PORT", "54722");
}
const { ensureInstalled } = await import("./lib/install.ts");
const { start, stop, TEST } = await import("./lib/stack.ts");
const { buildTemplates } = await import("./lib/testenv.ts");
const { fuzzProperty, newTally } = await import("../tests/deno/_fuzz.ts");

await ensureInstalled();
await start(TEST);
console.log(`building test templates on stack ${TEST.name} (port ${TEST.port}) ...`);
await buildTemplates(TEST);

const tally = newTally();
const property = fuzzProperty(tally, length);
const t0 = performance.now();
const elapsed = () => (performance.now() - t0) / 1000;
const replay = (p: string) => `deno task fuzz -- --seed ${seed} --path ${p} --length ${length}`;
console.log(
  `fuzz: seed ${seed}, ${path ? `replaying path ${path}` : `${seconds} s`}, sequences of up to ${length} ops`,
);

let failure: fc.RunDetails<[Setup, Op[]]> | undefined;
if (path) {
  const d = await fc.check(property, { seed, path, numRuns: 1 });
  if (d.failed) failure = d;
} else {
  for (let run = 0; elapsed() < seconds; run++) {
    const d = await fc.check(property, { seed, path: String(run), numRuns: 1 });
    if (d.failed) {
      failure = d;
      break;
    }
    if (run % 10 === 9) console.log(`  ${tally.sequences} sequences, ${tally.ops} ops, ${elapsed().toFixed(0)} s`);
  }
}

if (!Deno.env.get("SYNC_KEEP_TEST_STACK")) await stop(TEST);
const summary =
  `fuzz: seed ${seed}: ${tally.sequences} sequences, ${tally.ops} operations in ${elapsed().toFixed(0)} s ` +
  `(writes refused ${tally.refusedWrites}, commits refused ${tally.refusedCommits}, ticks ${tally.ticks}, ` +
  `final source rows ${tally.rows}, quarantined ${tally.quarantined}, parked ${tally.parked})`;
if (failure) {
  console.log(summary);
  console.log(
    `FAILED: seed ${seed}, path ${failure.counterexamplePath}; replay: ${replay(failure.counterexamplePath!)}`,
  );
  console.log(`shrunk counterexample (${failure.numShrinks} shrinks), [setup, ops]:`);
  console.log(JSON.stringify(failure.counterexample));
  console.log(String(failure.errorInstance));
  Deno.exit(1);
}
console.log(`${summary}: every target equal to the oracle`);
