/**
 * Lag is measured from the source commit, not from the writing statement: a legacy transaction that writes, waits
 * three seconds and commits while a tick polls is reported with the lag of its commit (under a second here), though
 * its capture time is three seconds older.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { freshPair, sleep } from "./_helpers.ts";

Deno.test("lag: a slow legacy transaction is measured from its commit, not from its write", async () => {
  const p = await freshPair("lag", { empty: true });
  try {
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    const tx = await p.legacyApp.reserve();
    try {
      await tx`begin`;
      await tx`insert into dispatch_office (name, phone, address, city, state, zip_code, is_active, created_at, updated_at)
               values ('Slow', '', '', 'Humble', 'TX', '', true, now(), now())`;
      const ticking = p.target`call sync.tick(8, null, null, null, 8)`.execute(); // sent now, polls while the write waits
      await sleep(3000);
      await tx`commit`;
      const [{ summary }] = await ticking;
      deepStrictEqual([summary.status, summary.counts], ["succeeded", { offices: { inserted: 1 } }]);
      const [row] = await p.target`select extract(epoch from applied_at - captured_at)::float8 as since_write
                                     from sync.inbox where entity = 'offices'`;
      ok(row.since_write >= 3, `the write is ${row.since_write} s older than the apply`);
      ok(summary.lag_ms.p99 < 1500, `lag from the commit: ${JSON.stringify(summary.lag_ms)}`);
    } finally {
      tx.release();
    }
  } finally {
    await p.close();
  }
});
