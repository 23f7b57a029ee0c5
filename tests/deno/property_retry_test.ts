/**
 * Property 28 of tests/PROPERTIES.md (engine.md §7: transient errors are retried within the tick with exponential
 * backoff and jitter): the application holds a lock on a captured source table, so the pull's read of that table
 * gives up after the source sessions' 2 s lock_timeout (SQLSTATE 55P03, transient). When the lock goes between two
 * attempts, the same tick retries and applies the change; when it stays, the tick gives up after exactly
 * retry.attempts attempts, backing off between them, records them, and the next tick applies the change.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { freshPair, oracleDiff, sleep, tick } from "./_helpers.ts";

Deno.test("sync.tick retries a transient source error within the tick, up to retry.attempts, backing off", async () => {
  const p = await freshPair("property_retry", { empty: true });
  const holder = await p.legacy.reserve();
  try {
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    await p.target`select sync.set_config('{"retry": {"attempts": 3, "backoff_ms": 1000, "max_backoff_ms": 30000}}')`;
    const office = (n: number) =>
      p.legacyApp`insert into dispatch_office (name, phone, address, city, state, zip_code, is_active, created_at,
                                               updated_at)
                  values (${"Office " + n}, '', '', 'Humble', 'TX', '', true, now(), now())`;
    const lock = async () => {
      await holder`begin`;
      await holder`lock table dispatch_office in access exclusive mode`;
    };
    /** Source sessions waiting for the holder's lock on dispatch_office. */
    const waiting = async () =>
      (await p.legacy`select count(*)::int as n from pg_locks
                      where database = (select oid from pg_database where datname = current_database())
                        and relation = 'dispatch_office'::regclass and not granted`)[0].n;

    // The lock goes after the first attempt gave up: the same tick retries and applies the change.
    await office(1);
    await lock();
    const running = tick(p.target, 30);
    let seen = false;
    for (let i = 0; i < 1000; i++) {
      const n = await waiting();
      if (n > 0) seen = true;
      else if (seen) break; // the first attempt timed out; the tick is backing off
      await sleep(10);
    }
    ok(seen, "the pull never waited for the lock");
    await holder`rollback`;
    const recovered = await running;
    deepStrictEqual([recovered.status, recovered.counts, recovered.error], [
      "succeeded",
      { offices: { inserted: 1 } },
      null,
    ]);

    // The lock stays: three attempts of 2 s each, with at least 0.5 s and then 1 s of backoff between them.
    await office(2);
    await lock();
    const t0 = performance.now();
    const failed = await tick(p.target, 30);
    const ms = performance.now() - t0;
    await holder`rollback`;
    const error = failed.error as Record<string, unknown>;
    deepStrictEqual([failed.status, error.phase, error.sqlstate, error.attempts], ["failed", "pull", "55P03", 3]);
    ok(ms >= 7400 && ms < 25000, `three attempts with backoff took ${Math.round(ms)} ms`);
    deepStrictEqual((await p.target`select count(*)::int as n from public.offices`)[0].n, 1);

    // Nothing is lost: the next tick applies the change.
    const next = await tick(p.target, 10);
    deepStrictEqual([next.status, next.counts], ["succeeded", { offices: { inserted: 1 } }]);
    deepStrictEqual(await oracleDiff(p.target), []);
  } finally {
    await holder`rollback`.catch(() => {});
    holder.release();
    await p.close();
  }
});
