/**
 * The property-based differential test (quality.md, Reliability): random sequences of Django-like legacy writes
 * over every entity, from concurrent sessions with interleaved commits and a transaction held open across ticks,
 * with ticks, backfills and rebuild_mappings at random points; after each, the target equals the oracle exactly.
 * The generator and the runner are in `_fuzz.ts`; `deno task fuzz` runs the same property for longer.
 */
import fc from "fast-check";
import { fuzzProperty, newTally } from "./_fuzz.ts";

/** Fixed, so that every run tries the same sequences. */
const SEED = 20261128;

Deno.test("fuzz: random legacy operation sequences leave the target equal to the oracle", async () => {
  const tally = newTally();
  await fc.assert(fuzzProperty(tally, 40), { seed: SEED, numRuns: 12 });
  console.log(`fuzz: ${JSON.stringify(tally)}`);
});
