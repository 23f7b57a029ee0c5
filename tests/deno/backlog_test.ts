/**
 * Bounded work (engine.md §7): a backlog of over a million changes (after an outage), written by
 * eight transactions of 125,000+ changes each, drains in committed steps of at most batch_size
 * changes, each change pulled exactly once, and ends exactly the mapping of the source.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { freshPair, oracleDiff, settleSource } from "./_helpers.ts";

const BATCH = 5000;

Deno.test("a backlog of 1,000,000 changes drains in steps of at most batch_size, exactly", async () => {
  const p = await freshPair("backlog");
  const conn = await p.target.reserve();
  try {
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    await p.target`call sync.backfill(null, null)`;
    await p.target.unsafe(`select sync.set_config('{"batch_size": ${BATCH}}')`);
    await p.legacy`delete from sync_capture.log`;
    // Eight transactions, each updating every row of five tables many times.
    const [{ rows }] = await p
      .legacy`select (select count(*) from dispatch_patient) + (select count(*) from dispatch_instruction)
      + (select count(*) from dispatch_plan) + (select count(*) from dispatch_order) + (select count(*) from dispatch_office) as rows`;
    const passes = Math.ceil(1_000_000 / 8 / Number(rows));
    for (let t = 0; t < 8; t++) {
      await p.legacy.unsafe(`do $$ begin for i in 1..${passes} loop
        update dispatch_patient set updated_at = updated_at + interval '1 millisecond';
        update dispatch_instruction set updated_at = updated_at + interval '1 millisecond';
        update dispatch_plan set updated_at = updated_at + interval '1 millisecond';
        update dispatch_order set updated_at = updated_at + interval '1 millisecond';
        update dispatch_office set updated_at = updated_at + interval '1 millisecond';
      end loop; end $$`);
    }
    const [{ logged }] = await p.legacy`select count(*)::int as logged from sync_capture.log`;
    ok(logged >= 1_000_000, `only ${logged} changes logged`);

    await settleSource(p.legacy);
    const [{ pid }] = await conn`select pg_backend_pid() as pid`;
    const t0 = performance.now();
    const summaries = [];
    for (let i = 0; i < 200; i++) {
      const [{ summary }] = await conn`call sync.tick(50, null)`;
      deepStrictEqual(summary.status, "succeeded", JSON.stringify(summary.error));
      summaries.push(summary);
      if (summary.rows === 0) break;
    }
    const seconds = (performance.now() - t0) / 1000;
    const status = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => "");
    const peak = status.match(/VmHWM:\s+(\d+) kB/)?.[1];
    const [{ pulled, batches, largest }] = await p.target`
      select sum(changes)::int as pulled, count(*)::int as batches, max(changes)::int as largest from sync.batches`;
    const longest = Math.max(...summaries.map((s) => s.steps.longest_ms));
    console.log(
      `backlog: ${logged} changes drained in ${seconds.toFixed(1)} s (${Math.round(logged / seconds)} changes/s), ` +
        `${batches} pulls, largest pull ${largest}, longest transaction ${longest} ms, ` +
        `target backend peak RSS ${peak ? Math.round(Number(peak) / 1024) : "?"} MiB`,
    );
    // Every change was pulled exactly once, in pulls and apply steps of at most batch_size changes.
    deepStrictEqual(pulled, logged);
    ok(largest <= BATCH, `a pull carried ${largest} changes`);
    for (const s of summaries) {
      ok(s.steps.max_pull_changes <= BATCH && s.steps.max_apply_changes <= BATCH, JSON.stringify(s.steps));
    }
    const [{ left }] = await p.legacy`select count(*)::int as left from sync_capture.log`;
    deepStrictEqual(left, 0, "the source log is pruned");
    deepStrictEqual(await oracleDiff(p.target), []);
  } finally {
    conn.release();
    await p.close();
  }
});
