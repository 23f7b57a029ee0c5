/**
 * A backlog over batch_size on a live log (engine.md §7): its pages start at the first block that holds one of its
 * changes and end at the last, whatever the log's pruned blocks before and after, and a sparse stretch is crossed in
 * growing pages; every change is pulled exactly once and the target ends exactly the mapping of the source.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { freshPair, oracleDiff, settleSource } from "./_helpers.ts";

const BATCH = 1000;

Deno.test("a backlog's pages cover the log's blocks that hold it, not the pruned ones before them", async () => {
  const p = await freshPair("paging");
  try {
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    await p.target`call sync.backfill(null, null)`;
    await p.target.unsafe(`select sync.set_config('{"batch_size": ${BATCH}}')`);
    // Pulled and pruned rows leave their blocks behind (no vacuum reclaims them here): the log of a live source.
    await p.legacy`alter table sync_capture.log set (autovacuum_enabled = false)`;
    for (let i = 0; i < 8; i++) {
      await p.legacy`update dispatch_plan set updated_at = updated_at + interval '1 millisecond'`;
    }
    await settleSource(p.legacy);
    for (let i = 0; i < 100; i++) {
      const [{ summary }] = await p.target`call sync.tick(50, null)`;
      if (summary.rows === 0) break;
    }
    const [{ blocks }] = await p.legacy`
      select pg_relation_size('sync_capture.log') / current_setting('block_size')::int as blocks`;
    const [{ before }] = await p.target`select coalesce(max(id), 0)::int as before from sync.batches`;

    // The backlog: more than batch_size changes, in the blocks after the pruned ones.
    await p.legacy`update dispatch_plan set updated_at = updated_at + interval '1 millisecond'`;
    await p.legacy`update dispatch_patient set updated_at = updated_at + interval '1 millisecond'`;
    await settleSource(p.legacy);
    const [{ logged }] = await p.legacy`select count(*)::int as logged from sync_capture.log`;
    ok(logged > 2 * BATCH, `only ${logged} changes in the backlog`);
    const [{ summary }] = await p.target`call sync.tick(50, null)`;
    deepStrictEqual(summary.status, "succeeded", JSON.stringify(summary.error));
    const pages = await p.target`
      select changes from sync.batches where id > ${before} and snapshot_to = (
        select snapshot_to from sync.batches where id > ${before} and changes > 0 order by id limit 1) order by id`;
    const changes = pages.map((b) => b.changes as number);
    console.log(`backlog of ${logged} changes behind ${blocks} pruned blocks: ${changes.length} pages ${changes}`);
    // Every change exactly once, no page over batch_size, and no walk through the pruned blocks (a page of
    // batch_size / 100 blocks each: they alone were more pages than this).
    deepStrictEqual(changes.reduce((a, b) => a + b, 0), logged);
    ok(changes.every((n) => n <= BATCH), `a page carried ${Math.max(...changes)} changes`);
    ok(blocks / (BATCH / 100) > 2 * Math.ceil(logged / BATCH) + 4, `only ${blocks} blocks behind the backlog`);
    ok(changes.length <= Math.ceil(logged / BATCH) + 4, `${changes.length} pages for ${logged} changes`);
    ok(changes.filter((n) => n === 0).length <= 1, `empty pages: ${changes}`);
    deepStrictEqual(await oracleDiff(p.target), []);
  } finally {
    await p.close();
  }
});
