/**
 * Backfill of a scale-0.05 legacy database while four writers run Django-like transactions over
 * every entity (inserts, updates, deletes, cascades), then ticks: the exact check reports no
 * difference. Once more with a source transaction held open across the end of the backfill.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { runStream } from "../../scripts/lib/stream.ts";
import { freshPair, oracleDiff, sleep, tick } from "./_helpers.ts";

async function backfillUnderWrites(name: string, holdOpen: boolean) {
  const p = await freshPair(name);
  try {
    await p.legacy`select count(*) from demo_gen.generate(0.05, 11)`;
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    await p.target`select sync.set_config('{"backfill_batch_size": 3000}')`;
    const ac = new AbortController();
    const writers = runStream(p.legacyUrl, { rate: 200, clients: 4, signal: ac.signal });
    let held: Promise<unknown> = Promise.resolve();
    let release = () => {};
    if (holdOpen) {
      // Takes its xid before the backfill ends and commits after it (new rows only, so that no
      // writer ever waits on its locks).
      held = p.legacy.begin(async (tx) => {
        await tx`insert into auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined)
                 values ('x', false, 'held_open', 'Held', '', '', false, true, now())`;
        await tx`insert into dispatch_office (name, phone, address, city, state, zip_code, is_active, created_at, updated_at)
                 values ('Held open', '', '', '', '', '', true, now(), now())`;
        await new Promise<void>((r) => (release = r));
      });
      await sleep(100);
    }
    await sleep(300);
    const [{ summary }] = await p.target`call sync.backfill(null, null)`;
    deepStrictEqual(summary.status, "succeeded");
    await sleep(300);
    ac.abort();
    const stream = await writers;
    ok(stream.total > 50, `the writers committed ${stream.total} transactions`);
    await tick(p.target);
    release();
    await held;
    for (let i = 0; i < 10; i++) {
      const s = await tick(p.target);
      if (s.rows === 0) break;
    }
    deepStrictEqual(await oracleDiff(p.target), []);
    if (holdOpen) {
      const [{ n }] = await p.target`select (select count(*) from public.offices where name = 'Held open')::int
                                          + (select count(*) from public.profiles where username = 'held_open')::int as n`;
      deepStrictEqual(n, 2);
    }
  } finally {
    await p.close();
  }
}

Deno.test("backfill converges to the exact source while four writers run", async () => {
  await backfillUnderWrites("bf", false);
});

Deno.test("backfill converges with a source transaction held open across its end", async () => {
  await backfillUnderWrites("bfo", true);
});
