/**
 * The scheduled tick (engine.md §7): called with idle_seconds it keeps polling while idle, so a
 * change made after the source was drained is applied by the same run, seconds later, whatever the
 * schedule's interval; its trigger and caller are taken from the arguments (no session setting
 * survives a transaction pooler).
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { freshPair, sleep } from "./_helpers.ts";

Deno.test("sync.tick with idle_seconds polls while idle and applies a change made after it drained", async () => {
  const p = await freshPair("idle");
  try {
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    await p.target`call sync.backfill(null, null)`;
    const [pt] = await p.legacy`select id from dispatch_patient order by id limit 1`;
    const running = p.target`call sync.tick(20, null, 'schedule', 'cron-job', 3)`;
    await sleep(1000);
    await p.legacyApp`update dispatch_patient set first_name = 'Polled' where id = ${pt.id}`;
    const [{ summary }] = await running;
    deepStrictEqual([summary.status, summary.counts], ["succeeded", { patients: { updated: 1 } }]);
    ok(summary.timings.total_ms >= 3000 && summary.timings.total_ms < 20000, JSON.stringify(summary.timings));
    const [run] = await p.target`select trigger, caller from sync.runs where id = ${summary.run_id}`;
    deepStrictEqual([run.trigger, run.caller], ["schedule", "cron-job"]);

    // Without idle_seconds a drained tick returns at once, and names the session as its caller.
    const [{ summary: quick }] = await p.target`call sync.tick(20, null)`;
    ok(quick.timings.total_ms < 3000, JSON.stringify(quick.timings));
    const [manual] = await p.target`select trigger, caller from sync.runs where id = ${quick.run_id}`;
    deepStrictEqual([manual.trigger, manual.caller], ["manual", "postgres"]);
  } finally {
    await p.close();
  }
});
