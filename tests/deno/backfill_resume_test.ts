/**
 * A backfill killed at several points (the client process, then its backend) resumes from its last
 * committed chunk, never from zero; progress only grows and ends at the total; the result is exact.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { PG_BIN } from "../../scripts/lib/install.ts";
import { freshPair, oracleDiff, sleep, tick } from "./_helpers.ts";

Deno.test("backfill killed (process and backend) at several points is resumed by ticks, exactly", async () => {
  const p = await freshPair("resume");
  try {
    await p.legacy`select count(*) from demo_gen.generate(0.05, 5)`;
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    await p.target`select sync.set_config('{"backfill_batch_size": 1000}')`;
    const samples: number[] = [];
    let runId: number | undefined;
    for (const killAfter of [8000, 30000, 70000]) {
      // The backfill runs in a psql process of its own, named so that its backend can be found.
      const child = new Deno.Command(`${PG_BIN}/psql`, {
        args: ["-X", "-q", "-d", p.targetUrl, "-c", "call sync.backfill()"],
        env: { PGAPPNAME: "backfill_under_test" },
        stdout: "null",
        stderr: "null",
      }).spawn();
      for (let i = 0; i < 600; i++) {
        const [{ s }] = await p.target`select sync.backfill_status() as s`;
        if (s.progress?.done !== undefined && s.status === "running") {
          samples.push(Number(s.progress.done));
          runId ??= s.run_id;
          deepStrictEqual(s.run_id, runId, "a resumed backfill is the same run");
          if (s.progress.done >= killAfter) break;
        }
        await sleep(50);
      }
      child.kill("SIGKILL");
      await child.status;
      await p
        .target`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'backfill_under_test'`;
      await sleep(200);
    }
    // Ticks continue the killed backfill from its last committed chunk.
    let summary: { status: string; run_id: number; progress: { done: number; total: number } } | undefined;
    for (let i = 0; i < 100; i++) {
      await tick(p.target, 2);
      const [{ s }] = await p.target`select sync.backfill_status() as s`;
      samples.push(Number(s.progress.done));
      if (s.status !== "running") {
        summary = s;
        break;
      }
    }
    deepStrictEqual(summary?.status, "succeeded");
    deepStrictEqual(summary?.run_id, runId, "the ticks finish the same run");
    for (let i = 1; i < samples.length; i++) {
      ok(samples[i] >= samples[i - 1], `progress went back: ${samples.join(",")}`);
    }
    deepStrictEqual(summary?.progress.done, summary?.progress.total);
    ok(samples.length > 3 && samples.some((x) => x >= 8000), `few samples: ${samples.join(",")}`);
    await tick(p.target);
    deepStrictEqual(await oracleDiff(p.target), []);
  } finally {
    await p.close();
  }
});
