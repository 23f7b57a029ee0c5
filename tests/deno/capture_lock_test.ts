/**
 * Installing and removing capture never queue the application behind a long transaction: each lock
 * is tried with a short lock_timeout and retried; writers (enable) and readers (disable) arriving
 * meanwhile wait at most one short attempt, and after the last attempt the call fails with a
 * message naming the table, having changed nothing. Once the long transaction ends, it succeeds.
 */
import { deepStrictEqual, ok, rejects } from "node:assert/strict";
import postgres from "postgres";
import { TEST } from "../../scripts/lib/stack.ts";
import { cloneDb, dropDb, TEMPLATES } from "../../scripts/lib/testenv.ts";
import { sleep } from "./_helpers.ts";

/** Runs `op` every 50 ms until `done` settles; returns the slowest run (ms) and the number of runs. */
async function probe(op: () => Promise<unknown>, done: Promise<unknown>): Promise<{ max: number; n: number }> {
  let finished = false;
  done.finally(() => finished = true).catch(() => {});
  let max = 0;
  let n = 0;
  while (!finished) {
    const t0 = performance.now();
    await op();
    max = Math.max(max, performance.now() - t0);
    n++;
    await sleep(50);
  }
  return { max, n };
}

/** The capture triggers of a table. */
async function triggers(sql: postgres.Sql, table: string): Promise<string[]> {
  const rows = await sql`select tgname::text as name from pg_trigger
                          where tgrelid = ${table}::regclass and tgname like 'sync\\_capture\\_%' order by 1`;
  return rows.map((r) => r.name);
}

Deno.test("sync_capture.enable and disable take their locks with retries, never queueing the application, and name the table", async () => {
  const db = `d_capture_lock_${Deno.pid}`;
  const url = await cloneDb(TEST, TEMPLATES.legacy, db);
  const sql = postgres(url, { max: 6, onnotice: () => {} });
  try {
    // A long transaction holds a write lock on dispatch_office for 4 s.
    const holder = sql.begin(async (tx) => {
      await tx`update dispatch_office set phone = phone where id = 1`;
      await sleep(4000);
    });
    await sleep(200);
    const failing = sql.begin(async (tx) => {
      await tx`set local sync_capture.lock_attempts = 4`;
      await tx`select sync_capture.enable('public.dispatch_office')`;
    });
    const writes = probe(() => sql`update dispatch_office set phone = phone where id = 2`, failing);
    await rejects(failing, (e: Error & { code?: string }) => {
      deepStrictEqual(e.code, "55P03");
      deepStrictEqual(
        e.message,
        "capture could not lock public.dispatch_office after 4 attempts (lock_timeout 250ms): another transaction holds it",
      );
      return true;
    });
    const w = await writes;
    ok(w.n >= 3, `writers ran ${w.n} times while enable retried`);
    ok(w.max < 1500, `a writer waited ${Math.round(w.max)} ms behind enable's lock attempts`);
    deepStrictEqual(await triggers(sql, "public.dispatch_office"), []);

    // The default attempts (8, over about 3.4 to 7 s) outlast the long transaction's last 2 s: enable succeeds.
    await sql`select sync_capture.enable('public.dispatch_office')`;
    await holder;
    deepStrictEqual(await triggers(sql, "public.dispatch_office"), [
      "sync_capture_del",
      "sync_capture_ins",
      "sync_capture_trunc",
      "sync_capture_upd",
    ]);

    // Removing capture needs ACCESS EXCLUSIVE: a long reader holds it off, other readers keep going.
    const reader = sql.begin(async (tx) => {
      await tx`select count(*) from dispatch_office`;
      await sleep(2500);
    });
    await sleep(200);
    const removing = sql.begin(async (tx) => {
      await tx`set local sync_capture.lock_attempts = 3`;
      await tx`select sync_capture.disable('public.dispatch_office')`;
    });
    const reads = probe(() => sql`select count(*) from dispatch_office`, removing);
    await rejects(removing, (e: Error & { code?: string }) => {
      deepStrictEqual(e.code, "55P03");
      ok(e.message.startsWith("capture could not lock public.dispatch_office after 3 attempts"), e.message);
      return true;
    });
    const r = await reads;
    ok(r.n >= 3 && r.max < 1500, `readers: ${r.n} runs, slowest ${Math.round(r.max)} ms`);
    deepStrictEqual((await triggers(sql, "public.dispatch_office")).length, 4);
    await reader;
    await sql`select sync_capture.disable('public.dispatch_office')`;
    deepStrictEqual(await triggers(sql, "public.dispatch_office"), []);
  } finally {
    await sql.end();
    await dropDb(TEST, db);
  }
});
