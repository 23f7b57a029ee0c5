/**
 * Failure isolation (engine.md §7): a change that the target refuses (a CHECK constraint the
 * Supabase application added) is quarantined alone with reason apply_error, everything else of its
 * batch and of other entities applies in the same tick, the error does not recur tick after tick,
 * and the API releases it: retry (the current legacy row) and discard.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { freshPair, oracleDiff, sleep, tick } from "./_helpers.ts";

Deno.test("a change the target refuses is quarantined alone; retry applies it, discard closes it", async () => {
  const p = await freshPair("isolate");
  try {
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    await p.target`call sync.backfill(null, null)`;
    deepStrictEqual(await oracleDiff(p.target), []);
    const [a, b, c] = await p.legacy`select id from dispatch_patient order by id limit 3`;
    const [order] = await p.legacy`select id from dispatch_order order by id limit 1`;
    await p.target`alter table public.patients add constraint patients_no_zz check (last_name not like 'ZZ%')`;

    // One refused patient among other patients and an order, in one batch.
    await p.legacy.begin(async (tx) => {
      await tx`update dispatch_patient set last_name = 'ZZRefused' where id = ${a.id}`;
      await tx`update dispatch_patient set last_name = 'Accepted' where id = ${b.id}`;
      await tx`update dispatch_patient set first_name = 'Also' where id = ${c.id}`;
      await tx`update dispatch_order set total = total + 1 where id = ${order.id}`;
    });
    const first = await tick(p.target);
    deepStrictEqual(first.status, "succeeded");
    deepStrictEqual(first.counts, { patients: { updated: 2, quarantined: 1 }, orders: { updated: 1 } });
    const quarantine = await p.target`
      select id, entity, legacy_id, reason, message, released_at from sync.quarantine where reason = 'apply_error'`;
    deepStrictEqual(quarantine.map((q) => ({ ...q, id: 0 })), [{
      id: 0,
      entity: "patients",
      legacy_id: String(a.id),
      reason: "apply_error",
      message: `patients ${a.id} could not be written: the target refused it with SQLSTATE 23514 (check_violation), ` +
        "constraint patients_no_zz, table public.patients",
      released_at: null,
    }]);
    ok(!quarantine[0].message.includes("ZZRefused"), "no row value in the message");
    // Only the refused row differs from the mapping of the source (its old last name, quarantined).
    const diff = (await oracleDiff(p.target)).map((d) => [d.entity, String(d.legacy_id), d.problem, d.column_name]);
    deepStrictEqual(diff.sort(), [
      ["patients", String(a.id), "differs", "last_name"],
      ["patients", String(a.id), "wrongly_quarantined", "apply_error"],
    ]);

    // The error does not recur: later ticks leave it alone.
    const again = await tick(p.target);
    deepStrictEqual([again.status, again.counts], ["succeeded", {}]);
    const [{ n }] = await p.target`select count(*)::int as n from sync.quarantine where reason = 'apply_error'`;
    deepStrictEqual(n, 1);

    // Retry after the constraint is dropped: the current legacy row applies.
    await p.target`alter table public.patients drop constraint patients_no_zz`;
    const [{ r }] = await p.target`select sync.retry_quarantined(${quarantine[0].id}, null, 'tester') as r`;
    deepStrictEqual([r.resolution, r.released_by, r.outcome, r.quarantine], ["retried", "tester", "applied", null]);
    deepStrictEqual(await oracleDiff(p.target), []);
    const [{ e }] = await p.target`select sync.retry_quarantined(${quarantine[0].id}) as e`.catch((
      x,
    ) => [{ e: x.code }]);
    deepStrictEqual(e, "SY409");

    // Discard: a refused change closed by an operator is never applied; a newer change is.
    await p
      .target`alter table public.patients add constraint patients_no_zz check (last_name not like 'ZZ%') not valid`;
    await p.legacy`update dispatch_patient set last_name = 'ZZAgain' where id = ${b.id}`;
    deepStrictEqual((await tick(p.target)).counts, { patients: { quarantined: 1 } });
    const [{ id }] = await p
      .target`select id from sync.quarantine where released_at is null and reason = 'apply_error'`;
    const [{ d }] = await p.target`select sync.discard_quarantined(${id}, 'tester') as d`;
    deepStrictEqual([d.resolution, d.released_by], ["discarded", "tester"]);
    const [{ status }] = await p.target`select i.status from sync.inbox i join sync.quarantine q on q.inbox_id = i.id
                                        where q.id = ${id}`;
    deepStrictEqual(status, "discarded");
    const audit = await p.target`select kind, subject, caller from sync.audit order by id`;
    deepStrictEqual(audit.map((x) => [x.kind, x.caller]), [["quarantine.retry", "tester"], [
      "quarantine.discard",
      "tester",
    ]]);
    await p.target`alter table public.patients drop constraint patients_no_zz`;
    await p.legacy`update dispatch_patient set last_name = 'Fixed' where id = ${b.id}`;
    deepStrictEqual((await tick(p.target)).counts, { patients: { updated: 1 } });
    deepStrictEqual(await oracleDiff(p.target), []);
  } finally {
    await p.close();
  }
});

Deno.test("retry_quarantined with an operator's row writes it; a bad row is refused, named", async () => {
  const p = await freshPair("isolate_row");
  try {
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    await p.target`call sync.backfill(null, null)`;
    const [a] = await p.legacy`select id from dispatch_patient order by id limit 1`;
    await p.target`alter table public.patients add constraint patients_no_zz check (last_name not like 'ZZ%')`;
    await p.legacy`update dispatch_patient set last_name = 'ZZRefused' where id = ${a.id}`;
    await tick(p.target);
    const [{ id }] = await p
      .target`select id from sync.quarantine where released_at is null and reason = 'apply_error'`;
    const bad = await p.target`select sync.retry_quarantined(${id}, '{"nope": 1}') as r`.catch((x) => x);
    deepStrictEqual([bad.code, bad.message], ["SY400", 'column "nope" is not one the sync writes for patients']);
    const refused = await p.target`select sync.retry_quarantined(${id}, '{"last_name": "ZZStill"}') as r`.catch((x) =>
      x
    );
    deepStrictEqual(refused.code, "SY400");
    ok(refused.message.includes("23514") && !refused.message.includes("ZZStill"), refused.message);
    const [{ r }] = await p.target`select sync.retry_quarantined(${id}, '{"last_name": "Operator"}', 'tester') as r`;
    deepStrictEqual([r.resolution, r.outcome], ["custom", "applied"]);
    const [{ last_name }] = await p.target`select last_name from public.patients where legacy_patient_id = ${a.id}`;
    deepStrictEqual(last_name, "Operator");
  } finally {
    await p.close();
  }
});

Deno.test("apply_error quarantines are retried on the widening schedule; a mapping quarantine waits for a newer change", async () => {
  const p = await freshPair("isolate_retry");
  try {
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    await p.target`call sync.backfill(null, null)`;
    const [a] = await p.legacy`select id from dispatch_patient order by id limit 1`;
    await p.target`alter table public.patients add constraint patients_no_zz check (last_name not like 'ZZ%')`;
    await p.legacy`update dispatch_patient set last_name = 'ZZRefused' where id = ${a.id}`;
    deepStrictEqual((await tick(p.target)).counts, { patients: { quarantined: 1 } });
    // The schedule (5, 15, 60, 240 minutes) runs from the quarantine: it is moved back instead of waiting.
    const age = (t: string) =>
      p.target`update sync.quarantine set created_at = now() - ${t}::interval where released_at is null`;
    const open = async (entity = "patients", id: number = a.id) =>
      (await p.target`select q.reason, i.attempts from sync.quarantine q join sync.inbox i on i.id = q.inbox_id
                      where q.released_at is null and q.entity = ${entity} and q.legacy_id = ${id}
                      order by q.id`).map((r) => [r.reason, r.attempts]);
    await age("4 minutes");
    deepStrictEqual((await tick(p.target)).counts, {}, "not due before 5 minutes");
    await age("5 minutes 1 second");
    deepStrictEqual((await tick(p.target)).counts, { patients: { quarantined: 1 } }, "retried at 5 minutes, refused");
    deepStrictEqual(await open(), [["apply_error", 2]]);
    await age("14 minutes");
    deepStrictEqual((await tick(p.target)).counts, {}, "the second wait is 15 minutes");
    await age("15 minutes 1 second");
    deepStrictEqual((await tick(p.target)).counts, { patients: { quarantined: 1 } });
    deepStrictEqual(await open(), [["apply_error", 3]]);
    // The third wait is 60 minutes, the last 240; then no more retries.
    await age("59 minutes");
    deepStrictEqual((await tick(p.target)).counts, {});
    await age("60 minutes 1 second");
    deepStrictEqual((await tick(p.target)).counts, { patients: { quarantined: 1 } });
    await age("240 minutes 1 second");
    deepStrictEqual((await tick(p.target)).counts, { patients: { quarantined: 1 } });
    deepStrictEqual(await open(), [["apply_error", 5]]);
    await age("30 days");
    deepStrictEqual((await tick(p.target)).counts, {}, "the schedule is spent: the change waits for a newer one");
    // The constraint lifted and a newer change: it applies.
    await p.target`alter table public.patients drop constraint patients_no_zz`;
    await p.legacy`update dispatch_patient set last_name = 'ZZLifted' where id = ${a.id}`;
    deepStrictEqual((await tick(p.target)).counts, { patients: { updated: 1 } });
    deepStrictEqual(await open(), []);
    const released = await p.target`select released_by, resolution from sync.quarantine
                                     where entity = 'patients' and legacy_id = ${a.id} order by id`;
    deepStrictEqual(released.map((r) => [r.released_by, r.resolution]), [
      ["sync", "auto retry"],
      ["sync", "auto retry"],
      ["sync", "auto retry"],
      ["sync", "auto retry"],
      ["sync", "newer change"],
    ]);
    deepStrictEqual(await oracleDiff(p.target), []);

    // A mapping quarantine is the source row's own fault: no schedule retries it, a newer change does.
    const [t] = await p.legacy`select id from dispatch_transaction order by id limit 1`;
    await p.legacy`update dispatch_transaction set price = '12,50' where id = ${t.id}`;
    deepStrictEqual((await tick(p.target)).counts, { operations: { quarantined: 1 } });
    await age("1 day");
    deepStrictEqual((await tick(p.target)).counts, {});
    deepStrictEqual(await open("operations", t.id), [["invalid_amount", 0]]);
  } finally {
    await p.close();
  }
});

Deno.test("retry_quarantined while a scheduled tick holds the applier leaves the change pending for it", async () => {
  const p = await freshPair("isolate_busy");
  try {
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    await p.target`call sync.backfill(null, null)`;
    const [a] = await p.legacy`select id from dispatch_patient order by id limit 1`;
    await p.target`alter table public.patients add constraint patients_no_zz check (last_name not like 'ZZ%')`;
    await p.legacy`update dispatch_patient set last_name = 'ZZRefused' where id = ${a.id}`;
    await tick(p.target);
    const [{ id }] = await p
      .target`select id from sync.quarantine where released_at is null and reason = 'apply_error'`;
    await p.target`alter table public.patients drop constraint patients_no_zz`;
    // A scheduled tick: it holds the applier and polls while idle.
    const scheduled = p.target`call sync.tick(6, null, 'schedule', null, 6)`.execute();
    for (let i = 0; i < 100; i++) {
      const [{ live }] = await p
        .target`select exists (select 1 from sync.applier l where sync._lease_alive(l)) as live`;
      if (live) break;
      await sleep(50);
    }
    const [{ r }] = await p.target`select sync.retry_quarantined(${id}, null, 'tester') as r`;
    deepStrictEqual([r.resolution, r.outcome], ["retried", "pending"]);
    let name = "";
    for (let i = 0; i < 100 && name !== "ZZRefused"; i++) {
      await sleep(100);
      [{ name }] = await p.target`select last_name as name from public.patients where legacy_patient_id = ${a.id}`;
    }
    deepStrictEqual(name, "ZZRefused", "the running tick applied the retried change");
    await scheduled;
    deepStrictEqual(await oracleDiff(p.target), []);
  } finally {
    await p.close();
  }
});
