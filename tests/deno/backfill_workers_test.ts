/**
 * A backfill copied by several sessions side by side (sync.backfill and sync.backfill_worker): every
 * range is copied exactly once (rows done = rows in the source), each session copies its share, a
 * worker killed mid-chunk loses nothing, and the target is exact. A worker with no backfill to help,
 * or under a capped source load, returns at once.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import postgres from "postgres";
import { freshPair, oracleDiff, sleep, tick } from "./_helpers.ts";

type Summary = { status: string; run_id?: number; chunks?: number; error?: unknown };

Deno.test("backfill with two workers beside it: each range once, a killed worker loses nothing, exact", async () => {
  const p = await freshPair("workers");
  const sessions = [0, 1, 2].map(() => postgres(p.targetUrl, { max: 1, onnotice: () => {} }));
  const [lead, w1, w2] = sessions;
  try {
    await p.legacy`select count(*) from demo_gen.generate(0.05, 7)`;
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    await p.target`select sync.set_config('{"backfill_batch_size": 400}')`;

    const [{ summary: idle }] = await w1`call sync.backfill_worker(null)`;
    deepStrictEqual(idle, { status: "idle" }, "nothing to help before the backfill starts");

    const [{ pid: w2pid }] = await w2`select pg_backend_pid() as pid`;
    const leading = lead`call sync.backfill(null, null)`.then(([r]) => r.summary);
    for (let i = 0; i < 200; i++) {
      const [{ s }] = await p.target`select sync.backfill_status() as s`;
      if (s.status === "running" && Number(s.progress.done) > 0) break;
      await sleep(25);
    }
    const helping = [w1, w2].map((w) =>
      w`call sync.backfill_worker(null)`.then(
        ([r]) => r.summary as Summary,
        (e): Summary => ({ status: "killed", error: e }),
      )
    );
    // The second worker is killed in the middle of a chunk: its range is copied again by another.
    for (let i = 0; i < 400; i++) {
      const [{ n }] = await p.target`select count(*)::int as n from pg_stat_activity
                                      where pid = ${w2pid} and state = 'active' and query like 'call sync.backfill_worker%'`;
      if (n > 0) break;
      await sleep(10);
    }
    await sleep(300);
    await p.target`select pg_terminate_backend(${w2pid})`;
    const [first, second] = await Promise.all(helping);
    const summary = await leading;

    deepStrictEqual(summary.status, "succeeded");
    deepStrictEqual(first.status, "done");
    deepStrictEqual(first.run_id, summary.run_id);
    ok((first.chunks ?? 0) > 3, `the worker copied ${first.chunks} chunks`);
    deepStrictEqual(second.status, "killed");
    const entities = summary.progress.entities as Record<string, { done: number; total: number; ahead?: number[] }>;
    for (const [name, e] of Object.entries(entities)) {
      deepStrictEqual([name, e.done], [name, e.total], "every row copied once: a range copied twice counts twice");
      deepStrictEqual([name, e.ahead ?? []], [name, []]);
    }
    deepStrictEqual(summary.progress.done, summary.progress.total);

    await tick(p.target);
    deepStrictEqual(await oracleDiff(p.target), []);

    await p.target`select sync.set_config('{"source_load": {"max_rows_per_second": 1000}}')`;
    const backfillAgain = lead`call sync.backfill('patients', null)`.then(([r]) => r.summary);
    let throttled: Summary | undefined;
    for (let i = 0; i < 200 && throttled?.status !== "throttled"; i++) {
      [{ summary: throttled }] = await w1`call sync.backfill_worker(null)`;
      await sleep(20);
    }
    deepStrictEqual(throttled?.status, "throttled", "a capped source keeps one session");
    deepStrictEqual((await backfillAgain).status, "succeeded");
  } finally {
    await Promise.all(sessions.map((s) => s.end({ timeout: 1 })));
    await p.close();
  }
});
