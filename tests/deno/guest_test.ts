/**
 * The sync is a guest on the live legacy database (engine.md §1): its sessions there give up on a lock
 * rather than queue behind the application, and backfill and deep verification are throttled by
 * `source_load` (pause_ms between chunks, max_rows_per_second).
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { freshPair, oracleDiff, type Pair, tick } from "./_helpers.ts";

/** 250 users with ids 1..250 (three chunks of 100). */
async function users(p: Pair): Promise<void> {
  await p.legacyApp`insert into auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                      is_active, date_joined)
                    select 'x', false, 'u' || g, 'First', 'Last', '', false, true, now() from generate_series(1, 250) g`;
}

Deno.test("source_load pauses a backfill between chunks: pause_ms after each chunk but the last, max_rows_per_second by rows", async () => {
  const p = await freshPair("guest_throttle", { empty: true });
  try {
    await users(p);
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    await p.target`select sync.set_config('{"backfill_batch_size": 100, "source_load": {"pause_ms": 150}}')`;
    const [{ summary: a }] = await p.target`call sync.backfill('profiles', null)`;
    deepStrictEqual([a.status, a.progress.done], ["succeeded", 250]);
    // Three chunks, two pauses between them.
    const [{ t: ta }] = await p
      .target`select (progress ->> 'throttle_ms')::int as t from sync.runs where id = ${a.run_id}`;
    deepStrictEqual(ta, 300);

    // By rate: 100 rows a chunk at 200 rows/s is 500 ms a chunk, whatever the chunk itself took.
    await p.target`select sync.set_config('{"source_load": {"pause_ms": 0, "max_rows_per_second": 200}}')`;
    const t0 = performance.now();
    const [{ summary: b }] = await p.target`call sync.backfill('profiles', null)`;
    const ms = performance.now() - t0;
    deepStrictEqual(b.status, "succeeded");
    const [{ t: tb }] = await p
      .target`select (progress ->> 'throttle_ms')::int as t from sync.runs where id = ${b.run_id}`;
    ok(tb > 500 && tb <= 1000, `two pauses topping 100-row chunks up to 500 ms each: ${tb} ms`);
    ok(ms >= 1000, `two chunks at 200 rows/s take at least a second before the last: ${Math.round(ms)} ms`);

    // Unthrottled (the default): no pause recorded.
    await p.target`select sync.set_config('{"source_load": {"max_rows_per_second": null}}')`;
    const [{ summary: c }] = await p.target`call sync.backfill('profiles', null)`;
    const [{ t: tc }] = await p.target`select progress -> 'throttle_ms' as t from sync.runs where id = ${c.run_id}`;
    deepStrictEqual(tc, null);
    deepStrictEqual(await oracleDiff(p.target, "profiles"), []);
  } finally {
    await p.close();
  }
});

Deno.test("a source lock the application holds makes the sync give up after its lock_timeout, not queue behind it", async () => {
  const p = await freshPair("guest_lock", { empty: true });
  try {
    await users(p);
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    // The application holds a lock that every read of auth_user waits for (a migration, a LOCK TABLE).
    const holder = await p.legacy.reserve();
    await holder`begin`;
    await holder`lock table auth_user in access exclusive mode`;
    const t0 = performance.now();
    // The backfill's first read (the table's key range) is the one that meets the lock.
    // (Without a lock_timeout the call would wait for this lock: it is let go after 10 s at the latest.)
    const release = setTimeout(() => holder`rollback`.catch(() => {}), 10000);
    const err = await p.target`call sync.backfill('profiles', null)`.then(() => null, (e) => e);
    const ms = performance.now() - t0;
    clearTimeout(release);
    await holder`rollback`;
    holder.release();
    deepStrictEqual(err?.code, "55P03", String(err));
    ok(/lock timeout/.test(err.message), err.message);
    ok(ms >= 1900 && ms < 15000, `gave up after the 2 s lock_timeout: ${Math.round(ms)} ms`);
    // Nothing is lost: the next attempt, the lock gone, copies everything.
    const [{ summary }] = await p.target`call sync.backfill('profiles', null)`;
    deepStrictEqual([summary.status, summary.progress.done], ["succeeded", 250]);
    await tick(p.target, 5);
    deepStrictEqual(await oracleDiff(p.target, "profiles"), []);
  } finally {
    await p.close();
  }
});
