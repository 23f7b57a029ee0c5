/**
 * Run control (engine.md §7): a queued backfill is advanced by ticks, paused between chunks with its
 * progress kept, resumed from its last chunk, and converges exactly; the state machine refuses what
 * does not fit (SY409) and names unknown runs (SY404); every action is audited with its caller.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { freshPair, oracleDiff, tick } from "./_helpers.ts";

Deno.test("a queued backfill: ticks advance it, pause keeps its progress, resume finishes it exactly", async () => {
  const p = await freshPair("run_control");
  try {
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    await p.target`select sync.set_config('{"backfill_batch_size": 500}')`;
    const [{ run }] = await p.target`select sync.queue_backfill(null, 'tester') as run`;
    deepStrictEqual([run.mode, run.status, run.caller, run.progress.done], ["backfill", "queued", "tester", 0]);
    const twice = await p.target`select sync.queue_backfill()`.catch((e) => e);
    deepStrictEqual([twice.code, twice.message], [
      "SY409",
      `backfill run ${run.id} is not finished: cancel it first, or let it finish`,
    ]);
    const unknown = await p.target`select sync.queue_backfill('{nope}')`.catch((e) => e);
    deepStrictEqual([unknown.code, unknown.message], ["SY400", 'unknown entity "nope"']);

    // A short tick advances a few chunks.
    await tick(p.target, 1);
    const [{ status, done }] = await p
      .target`select status, (progress ->> 'done')::int as done from sync.runs where id = ${run.id}`;
    ok(status === "running" && done > 0, `${status} ${done}`);

    const [{ paused }] = await p.target`select sync.pause_run(${run.id}, 'tester') as paused`;
    deepStrictEqual(paused.status, "paused");
    const held = await tick(p.target, 1);
    deepStrictEqual((held.timings as Record<string, number>).backfill_ms, 0, "a paused backfill is not advanced");
    const [{ still }] = await p.target`select (progress ->> 'done')::int as still from sync.runs where id = ${run.id}`;
    deepStrictEqual(still, paused.progress.done);
    const again = await p.target`select sync.pause_run(${run.id})`.catch((e) => e);
    deepStrictEqual(again.code, "SY409");

    const [{ resumed }] = await p.target`select sync.resume_run(${run.id}, 'tester') as resumed`;
    deepStrictEqual(resumed.status, "queued");
    let final = "";
    for (let i = 0; i < 60 && final !== "succeeded"; i++) {
      await tick(p.target, 2);
      [{ final }] = await p.target`select status as final from sync.runs where id = ${run.id}`;
    }
    deepStrictEqual(final, "succeeded");
    const [{ progress }] = await p.target`select progress from sync.runs where id = ${run.id}`;
    deepStrictEqual(progress.done, progress.total);
    deepStrictEqual(await oracleDiff(p.target), []);

    const ended = await p.target`select sync.resume_run(${run.id})`.catch((e) => e);
    deepStrictEqual(ended.code, "SY409");
    const missing = await p.target`select sync.pause_run(999999)`.catch((e) => e);
    deepStrictEqual(missing.code, "SY404");
    const [{ incremental }] = await p
      .target`select id as incremental from sync.runs where mode = 'incremental' limit 1`;
    const tickPause = await p.target`select sync.pause_run(${incremental})`.catch((e) => e);
    deepStrictEqual(tickPause.code, "SY409");
    const audit = await p.target`select kind, caller from sync.audit where kind like 'run.%' order by id`;
    deepStrictEqual(audit.map((a) => [a.kind, a.caller]), [["run.queue", "tester"], ["run.pause", "tester"], [
      "run.resume",
      "tester",
    ]]);
  } finally {
    await p.close();
  }
});
