/**
 * A backfill's chunks hold backfill_batch_size rows each however the source's keys are spread (ids
 * a thousand apart, an outlier id near the top of the integer range): their ends are every
 * batch-th key of the source, so the run takes as many chunks as the rows need and no more (a
 * chunk per batch of key values would be millions here); the target is exact.
 */
import { deepStrictEqual } from "node:assert/strict";
import { freshPair, oracleDiff, tick } from "./_helpers.ts";

const BATCH = 300; // backfill_batch_size below

Deno.test("backfill chunks hold a batch of rows each, however far apart the ids are", async () => {
  const p = await freshPair("chunks");
  try {
    await p.legacy`select count(*) from demo_gen.generate(0.01, 11, '{"sparse_ids": 1000}')`;
    // An outlier: the newest audit row moves to an id near the top of the column's range.
    await p.legacy`update dispatch_auditlog set id = 2147483000 where id = (select max(id) from dispatch_auditlog)`;
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    await p.target`select sync.set_config('{"backfill_batch_size": 300}')`;
    const [{ run }] = await p.target`select (sync.queue_backfill(null) ->> 'id')::bigint as run`;

    // The expected chunks: (min - 1, the BATCH-th id], (that, the 2·BATCH-th], ..., (.., max id].
    const expected: [string, number, number][] = [];
    const totals: Record<string, number> = {};
    for (const e of await p.target`select name, source_table from sync.entities order by name`) {
      const ids = (await p.legacy.unsafe(`select id from ${e.source_table} order by id`)).map((r) => Number(r.id));
      totals[e.name] = ids.length;
      for (let i = 0; i < ids.length; i += BATCH) {
        expected.push([e.name, i === 0 ? ids[0] - 1 : ids[i - 1], ids[Math.min(i + BATCH, ids.length) - 1]]);
      }
    }
    const chunks = await p.target`select entity, after, upto from sync.backfill_chunks
                                   where run_id = ${run} order by entity, after`;
    deepStrictEqual(chunks.map((c) => [c.entity, Number(c.after), Number(c.upto)]), expected);

    // Ticks advance the run: a bounded number of them finishes it.
    let status = "";
    for (let i = 0; i < 40 && status !== "succeeded"; i++) {
      await tick(p.target, 5);
      [{ status }] = await p.target`select status from sync.runs where id = ${run}`;
    }
    deepStrictEqual(status, "succeeded");
    const [{ progress }] = await p.target`select progress from sync.runs where id = ${run}`;
    const perEntity = Object.entries(progress.entities as Record<string, Record<string, number>>)
      .map(([name, e]) => [name, e.done, e.chunks, e.chunks_done]).sort();
    deepStrictEqual(
      perEntity,
      Object.entries(totals).map(([name, n]) => [name, n, Math.ceil(n / BATCH), Math.ceil(n / BATCH)]).sort(),
      "every row once, one chunk per batch of rows",
    );
    await tick(p.target);
    deepStrictEqual(await oracleDiff(p.target), []);
  } finally {
    await p.close();
  }
});
