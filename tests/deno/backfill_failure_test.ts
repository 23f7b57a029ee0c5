/**
 * A failing backfill never blocks incremental changes (engine.md §7): ticks keep pulling and
 * applying while the backfill backs off and retries; it resumes when the fault is gone, or stops
 * for good when cancelled.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { freshPair, oracleDiff, sleep, tick } from "./_helpers.ts";

/** A target trigger that refuses every write to public.orders while public.fault says so. */
const FAULT = `
  create table public.fault (on_ boolean not null);
  insert into public.fault values (true);
  create function public.refuse_orders() returns trigger language plpgsql as $$
  begin
    if (select on_ from public.fault) then
      raise exception 'orders are read-only during maintenance' using errcode = '55000';
    end if;
    return new;
  end $$;
  create trigger refuse_orders before insert or update on public.orders for each row execute function public.refuse_orders();`;

Deno.test("a backfill that fails mid-way backs off while changes keep arriving, then resumes", async () => {
  const p = await freshPair("bf_fail");
  try {
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    await p
      .target`select sync.set_config('{"backfill_batch_size": 500, "retry": {"backoff_ms": 100, "max_backoff_ms": 400}}')`;
    await p.target.unsafe(FAULT);
    const [{ summary: bf }] = await p.target`call sync.backfill(null, null)`;
    deepStrictEqual([bf.status, bf.error.sqlstate, bf.error.category, bf.error.phase], [
      "failed",
      "55000",
      "database",
      "backfill",
    ]);
    ok(bf.progress.entities.patients.finished && !bf.progress.entities.orders.finished, JSON.stringify(bf.progress));

    // Changes keep arriving and are applied while the backfill fails and backs off.
    const [pt] = await p.legacy`select id from dispatch_patient order by id limit 1`;
    await p.legacy`update dispatch_patient set first_name = 'During' where id = ${pt.id}`;
    const during = await tick(p.target, 2);
    deepStrictEqual(during.status, "succeeded");
    deepStrictEqual((during.counts as Record<string, unknown>).patients, { updated: 1 });
    deepStrictEqual(await oracleDiff(p.target, "patients"), []);
    const [{ error }] = await p.target`select error from sync.runs where id = ${bf.run_id}`;
    deepStrictEqual([error.sqlstate, error.category], ["55000", "database"]);
    ok(error.attempts >= 1 && error.retry_at, JSON.stringify(error));

    // The fault is gone: the same run resumes from its last chunk and finishes.
    await p.target`update public.fault set on_ = false`;
    let status = "";
    for (let i = 0; i < 50 && status !== "succeeded"; i++) {
      await sleep(100);
      await tick(p.target, 2);
      [{ status }] = await p.target`select status from sync.runs where id = ${bf.run_id}`;
    }
    deepStrictEqual(status, "succeeded");
    await tick(p.target);
    deepStrictEqual(await oracleDiff(p.target), []);
  } finally {
    await p.close();
  }
});

Deno.test("a failing backfill cancelled by a call is never advanced again", async () => {
  const p = await freshPair("bf_cancel");
  try {
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    await p.target`select sync.set_config('{"backfill_batch_size": 500}')`;
    await p.target.unsafe(FAULT);
    const [{ summary: bf }] = await p.target`call sync.backfill(null, null)`;
    deepStrictEqual(bf.status, "failed");
    const [{ run }] = await p.target`select sync.cancel_run(${bf.run_id}, 'not needed', 'tester') as run`;
    deepStrictEqual([run.status, run.error.category, run.error.message], ["cancelled", "cancelled", "not needed"]);
    const again = await p.target`select sync.cancel_run(${bf.run_id})`.catch((e) => e);
    deepStrictEqual(again.code, "SY409");
    const missing = await p.target`select sync.cancel_run(999999)`.catch((e) => e);
    deepStrictEqual(missing.code, "SY404");

    await p.target`update public.fault set on_ = false`;
    const [{ progress: before }] = await p.target`select progress from sync.runs where id = ${bf.run_id}`;
    const after = await tick(p.target, 2);
    deepStrictEqual([after.status, (after.timings as Record<string, number>).backfill_ms], ["succeeded", 0]);
    const [{ progress, status }] = await p.target`select progress, status from sync.runs where id = ${bf.run_id}`;
    deepStrictEqual([status, progress], ["cancelled", before]);
    const audit = await p.target`select kind, subject, caller from sync.audit where kind like 'run.%'`;
    deepStrictEqual([...audit], [{ kind: "run.cancel", subject: `run:${bf.run_id}`, caller: "tester" }]);
  } finally {
    await p.close();
  }
});
