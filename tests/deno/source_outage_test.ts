/**
 * The source reader unable to log in for several ticks while the application keeps writing
 * (quality.md, reliability): runs fail with a clear category, nothing is lost, the sync catches up
 * by itself when the login works again, and the reader's password appears in no run, alert or
 * server log line.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { LEGACY_ROLES } from "../../scripts/lib/testenv.ts";
import { freshPair, oracleDiff, serverLogPath, sleep, tick } from "./_helpers.ts";

Deno.test("the reader locked out for several ticks: runs fail as source errors, then the sync catches up exactly", async () => {
  const p = await freshPair("outage");
  const reader = LEGACY_ROLES.reader.user;
  try {
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    await p.target`call sync.backfill(null, null)`;
    const [pt] = await p.legacyApp`select id from dispatch_patient order by id limit 1`;

    // Quick backoff for the test: the breaker opens for 10 ms × 2^6 = 640 ms after two failing ticks.
    await p.target`select sync.set_config('{"retry": {"attempts": 3, "backoff_ms": 10, "max_backoff_ms": 1000}}')`;
    await p.legacy.unsafe(`alter role ${reader} nologin`);
    // Cached source connections end too (as when the source restarts).
    await p.legacy`select pg_terminate_backend(pid) from pg_stat_activity where usename = ${reader}`;
    const outcomes = [];
    for (let i = 0; i < 3; i++) {
      await p.legacyApp`update dispatch_patient set first_name = ${"Outage " + i} where id = ${pt.id}`;
      await p
        .legacyApp`insert into dispatch_office (name, phone, address, city, state, zip_code, is_active, created_at, updated_at)
                        values (${"During outage " + i}, '', '', 'Humble', 'TX', '', true, now(), now())`;
      const s = await tick(p.target, 5);
      const e = s.error as Record<string, string>;
      outcomes.push([s.status, e?.phase, e?.category, e?.sqlstate]);
    }
    // Two failing ticks (a refused login is not retried within the tick), then the breaker is open:
    // the third tick leaves the source alone and starts no run.
    deepStrictEqual(outcomes, [
      ["failed", "pull", "source", "08001"],
      ["failed", "pull", "source", "08001"],
      ["circuit_open", undefined, undefined, undefined],
    ]);
    const [{ runs }] = await p.target`select count(*)::int as runs from sync.runs where mode = 'incremental'`;
    deepStrictEqual(runs, 2);
    const [alert] = await p
      .target`select kind, severity, acknowledged_at from sync.alerts where kind = 'source_unreachable'`;
    deepStrictEqual([alert.kind, alert.severity, alert.acknowledged_at], ["source_unreachable", "warning", null]);

    await p.legacy.unsafe(`alter role ${reader} login`);
    await sleep(1100); // the breaker's time is past: the next tick is the probe
    const back = await tick(p.target);
    deepStrictEqual(back.status, "succeeded", JSON.stringify(back.error));
    const counts = back.counts as Record<string, Record<string, number>>;
    deepStrictEqual([counts.patients, counts.offices], [{ updated: 1 }, { inserted: 3 }]);
    deepStrictEqual(await oracleDiff(p.target), []);
    const [{ closed }] = await p.target`select resolved_at is not null as closed from sync.alerts
                                        where kind = 'source_unreachable'`;
    deepStrictEqual(closed, true, "the alert clears when the source answers");
    const [{ failures }] = await p.target`select failures from sync.source`;
    deepStrictEqual(failures, 0);

    const secret = LEGACY_ROLES.reader.password;
    const [{ found }] = await p.target`
      select exists (select 1 from sync.runs r where r::text like ${"%" + secret + "%"})
          or exists (select 1 from sync.alerts a where a::text like ${"%" + secret + "%"}) as found`;
    deepStrictEqual(found, false, "the password is in a run or an alert");
    const log = await Deno.readTextFile(serverLogPath());
    ok(!log.includes(secret), "the password is in the server log");
  } finally {
    await p.legacy.unsafe(`alter role ${reader} login`).catch(() => {});
    await p.close();
  }
});
