/**
 * The HTTP bridge beside the FDW pull: a backlog larger than batch_size (pages of log blocks, one block read whole
 * when it holds more than batch_size changes) arrives whole over both transports, with the pull's time reported;
 * and a crash between ingest and prune loses nothing: the batch ingested again is a no-op and the next tick prunes.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import postgres from "postgres";
import { LEGACY_ROLES, urlAs } from "../../scripts/lib/testenv.ts";
import { freshPair, oracleDiff, settleSource } from "./_helpers.ts";
import { driver, TRANSPORTS } from "./_transport.ts";

const OFFICE =
  `insert into dispatch_office (name, phone, address, city, state, zip_code, is_active, created_at, updated_at)
                select 'Bulk ' || g, '', '', 'Humble', 'TX', '', true, now(), now() from generate_series(1, $1) g`;

for (const transport of TRANSPORTS) {
  Deno.test(`bridge and pull drain a backlog larger than batch_size whole (${transport})`, async () => {
    const p = await freshPair(`backlog_${transport}`, { empty: true });
    const t = await driver(p, transport);
    try {
      await t.connect();
      // A page of one block holds ~150 log rows, more than batch_size 10: read whole, never cut.
      await p.target`select sync.set_config('{"batch_size": 10}')`;
      await p.legacy.unsafe(OFFICE, [400]);
      while ((await t.tick(30)).rows !== 0);
      const [floor] = await p.target`select count(*)::int as n, count(distinct legacy_id)::int as keys,
                                            (select max(changes) from sync.batches)::int as biggest
                                       from sync.inbox where entity = 'offices'`;
      ok(floor.biggest > 10, `no page held a whole block: ${floor.biggest}`);
      deepStrictEqual({ n: floor.n, keys: floor.keys }, { n: 400, keys: 400 });

      // Throughput, pull only, on the same backlog for both transports.
      await p.target`select sync.set_config('{"batch_size": 5000}')`;
      await p.legacy.unsafe(OFFICE, [20000]);
      let pullMs = 0;
      let rows = 0;
      for (;;) {
        const s = await t.tick(60);
        if (s.rows === 0) break;
        rows += s.rows as number;
        pullMs += transport === "http"
          ? (s.bridge as Record<string, number>).pull_ms
          : (s.timings as Record<string, number>).pull_ms;
      }
      deepStrictEqual(rows, 20000);
      console.log(`${transport}: pulled ${rows} changes in ${pullMs} ms (${Math.round(rows / (pullMs / 1000))}/s)`);
      await t.beforeOracle();
      deepStrictEqual(await oracleDiff(p.target), []);
    } finally {
      await t.close();
      await p.close();
    }
  });
}

Deno.test("bridge survives a crash between ingest and prune: the batch again is a no-op, the next tick prunes", async () => {
  const p = await freshPair("bridge_crash", { empty: true });
  const t = await driver(p, "http");
  const reader = postgres(urlAs(p.legacyUrl, LEGACY_ROLES.reader), { max: 1, onnotice: () => {} });
  try {
    await t.connect();
    await p.legacy.unsafe(OFFICE, [5]);
    await p.legacy`update dispatch_office set phone = '555' where id = 2`;
    // What the function does, stopped after the ingest (no prune).
    const [{ request }] = await p.target`select sync.get_bridge_request()::text as request`;
    const batch = await reader.begin("isolation level repeatable read read only", async (tx) => {
      const [r] = await tx`select sync_capture.read_batch(${request}::text::jsonb)::text as batch`;
      return r.batch as string;
    });
    const [{ r: first }] = await p.target`select sync.ingest_batch(${batch}::text::jsonb) as r`;
    deepStrictEqual([first.changes, first.rows, first.more], [6, 5, false]);
    const count = async () => {
      const [c] = await p.target`select (select count(*)::int from sync.inbox) as inbox,
                                        (select count(*)::int from sync.batches) as batches,
                                        (select cursor_snapshot from sync.source) as cursor`;
      return c;
    };
    const before = await count();
    const [{ r: again }] = await p.target`select sync.ingest_batch(${batch}::text::jsonb) as r`;
    deepStrictEqual(again.already_ingested, true);
    deepStrictEqual(await count(), before);
    const logRows = async () => (await p.legacy`select count(*)::int as n from sync_capture.log`)[0].n;
    deepStrictEqual(await logRows(), 6);

    await settleSource(p.legacy);
    const s = await t.tick(10);
    deepStrictEqual(s.rows, 0);
    deepStrictEqual(await logRows(), 0);
    deepStrictEqual(s.status, "succeeded");
    await t.beforeOracle();
    deepStrictEqual(await oracleDiff(p.target), []);
  } finally {
    await reader.end();
    await t.close();
    await p.close();
  }
});
