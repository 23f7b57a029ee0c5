import { deepStrictEqual } from "node:assert/strict";
import { percentile } from "../../scripts/lib/bench_native.ts";
import { clientsFor } from "../../scripts/lib/bench_cron.ts";

Deno.test("percentile takes the nearest rank, 0 for no samples", () => {
  const xs = Array.from({ length: 100 }, (_, i) => 100 - i);
  deepStrictEqual([percentile(xs, 0.5), percentile(xs, 0.99), percentile(xs, 1), percentile([], 0.5)], [
    50,
    99,
    100,
    0,
  ]);
});

Deno.test("clientsFor gives about 250 tx/s per client, at least 4", () => {
  deepStrictEqual([clientsFor(100), clientsFor(2000), clientsFor(3001)], [4, 8, 13]);
});
