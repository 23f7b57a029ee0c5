/** One applier at a time: a tick (or backfill) that finds another running gets already_running. */
import { deepStrictEqual, ok } from "node:assert/strict";
import postgres from "postgres";
import { freshPair } from "./_helpers.ts";

Deno.test("sync.tick returns already_running while another applier holds the lock", async () => {
  const p = await freshPair("lock");
  const other = postgres(p.targetUrl, { max: 1, onnotice: () => {} });
  try {
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    await other.reserve().then(async (conn) => {
      await conn`select pg_advisory_lock(hashtext('sync.applier'))`;
      await conn`insert into sync.runs (mode, status, trigger, started_at) values ('incremental', 'running', 'test', now())`;
      const [{ summary }] = await p.target`call sync.tick(5, null)`;
      deepStrictEqual(summary.status, "already_running");
      deepStrictEqual(summary.run.trigger, "test");
      const [{ summary: bf }] = await p.target`call sync.backfill(null, null)`;
      deepStrictEqual(bf.status, "already_running");
      await conn`select pg_advisory_unlock(hashtext('sync.applier'))`;
      conn.release();
    });
    const [{ summary }] = await p.target`call sync.tick(5, null)`;
    deepStrictEqual(summary.status, "succeeded");
    // Two ticks at once: exactly one applies.
    const both = await Promise.all([p.target`call sync.tick(3, null)`, other`call sync.tick(3, null)`]);
    const statuses = both.map(([r]) => r.summary.status).sort();
    ok(statuses.includes("succeeded"), JSON.stringify(statuses));
  } finally {
    await other.end();
    await p.close();
  }
});
