/**
 * One applier at a time (engine.md §7), by behaviour: two ticks started at the same moment over a
 * pending backlog give one `succeeded` run and one `already_running` answer, and every captured
 * change is pulled once, in one chain of batches, and applied once by the one run. A tick or a
 * backfill that arrives while a tick is applying gets `already_running` with the running run.
 * Nothing here takes the engine's lock by hand.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import postgres from "postgres";
import { freshPair, oracleDiff, type Pair, sleep } from "./_helpers.ts";

type Summary = Record<string, unknown> & { status: string; run_id?: number; run?: { id: number } | null };

const TIMEOUT = Symbol("timeout");

/** The promise's value, or TIMEOUT when it takes longer than `ms`. */
function within<T>(ms: number, promise: Promise<T>): Promise<T | typeof TIMEOUT> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<typeof TIMEOUT>((r) => timer = setTimeout(() => r(TIMEOUT), ms));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** A dedicated one-connection client on the target (each tick needs a session of its own). */
function session(p: Pair): postgres.Sql {
  return postgres(p.targetUrl, { max: 1, onnotice: () => {} });
}

/** Writes a backlog on the legacy side: every row inserted once, so every key is captured once. */
async function backlog(p: Pair, n: number): Promise<Record<string, number>> {
  await p.legacy`insert into django_content_type (app_label, model) values ('dispatch', 'patient'), ('auth', 'user')`;
  await p
    .legacy`insert into dispatch_office (name, phone, address, city, state, zip_code, is_active, created_at, updated_at)
                 select 'Office ' || g, '', '', 'Humble', 'TX', '', true, now(), now() from generate_series(1, 20) g`;
  await p
    .legacy`insert into auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active,
                                        date_joined)
                 select 'x', false, 'u' || g, 'U', '', '', false, true, now() from generate_series(1, ${n}) g`;
  await p
    .legacy`insert into dispatch_patient (office_id, user_id, doctor_id, patient_number, first_name, last_name, birthdate,
                                               email, status_id, medical_notes, created_at, updated_at)
                 select 1 + g % 20, g, null, 'P' || g, 'Ana', 'B', null, '', 1, null, now(), now()
                   from generate_series(1, ${n}) g`;
  return { content_types: 2, offices: 20, patients: n, profiles: n };
}

/** Inbox rows per entity (each change once), and the keys that occur more than once. */
async function inboxShape(p: Pair) {
  const perEntity = Object.fromEntries(
    (await p.target`select entity, count(*)::int as n from sync.inbox group by 1 order by 1`).map((
      r,
    ) => [r.entity, r.n]),
  );
  const twice = [
    ...await p.target`select entity, legacy_id, count(*)::int as n from sync.inbox
                                   group by 1, 2 having count(*) > 1 order by 1, 2 limit 5`,
  ];
  return { perEntity, twice };
}

Deno.test("sync.tick started twice at the same moment: one run applies, the other gets already_running, nothing twice", async () => {
  const p = await freshPair("lock", { empty: true });
  const a = session(p);
  const b = session(p);
  try {
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    const captured = await backlog(p, 3000);
    const [{ cursor }] = await p.target`select cursor_snapshot as cursor from sync.source`;
    await Promise.all([a`select 1`, b`select 1`]); // both sessions open before the race starts

    const [[ra], [rb]] = await Promise.all([a`call sync.tick(30, null)`, b`call sync.tick(30, null)`]);
    const summaries = [ra.summary as Summary, rb.summary as Summary];
    deepStrictEqual(summaries.map((s) => s.status).sort(), ["already_running", "succeeded"], JSON.stringify(summaries));
    const winner = summaries.find((s) => s.status === "succeeded")!;
    const loser = summaries.find((s) => s.status === "already_running")!;
    // A claim being made at that instant is waited for, so the answer always names the running run.
    ok(
      loser.run?.id === winner.run_id,
      `already_running names another run: ${JSON.stringify(loser)}`,
    );

    // Exactly one run, the winner's, holds counts; the other caller started no run.
    const runs = await p.target`select id, status, counts <> '{}' as has_counts from sync.runs order by id`;
    deepStrictEqual([...runs], [{ id: String(winner.run_id), status: "succeeded", has_counts: true }]);
    // Pulled once: one chain of batches from the cursor (each starts where the previous ended; the pages of a
    // backlog larger than batch_size share their bounds), all by the one run.
    const batches = await p.target`select run_id, snapshot_from, snapshot_to, rows from sync.batches order by id`;
    ok(batches.length >= 1, "no batch was pulled");
    batches.forEach((bt, i) => {
      deepStrictEqual(bt.run_id, String(winner.run_id), `batch ${i} was pulled by another run`);
      const page = i > 0 && bt.snapshot_from === batches[i - 1].snapshot_from &&
        bt.snapshot_to === batches[i - 1].snapshot_to;
      deepStrictEqual(
        bt.snapshot_from,
        i === 0 ? cursor : page ? batches[i - 1].snapshot_from : batches[i - 1].snapshot_to,
        `batch ${i} overlaps the one before`,
      );
    });
    // Every captured change is in the inbox exactly once, applied by the winner.
    deepStrictEqual(await inboxShape(p), { perEntity: captured, twice: [] });
    const statuses = await p.target`select status, run_id, count(*)::int as n from sync.inbox group by 1, 2`;
    const total = Object.values(captured).reduce((x, y) => x + y, 0);
    deepStrictEqual([...statuses], [{ status: "applied", run_id: String(winner.run_id), n: total }]);
    // Applied once: the run's counts add up to the changes, every one of them an insert.
    deepStrictEqual(winner.counts, Object.fromEntries(Object.entries(captured).map(([e, n]) => [e, { inserted: n }])));
    deepStrictEqual(await oracleDiff(p.target), []);
  } finally {
    await a.end();
    await b.end();
    await p.close();
  }
});

Deno.test("sync.tick and sync.backfill get already_running, with the running run, while a tick applies", async () => {
  const p = await freshPair("lock_held", { empty: true });
  const a = session(p);
  const b = session(p);
  const holder = session(p);
  let release: () => void = () => {};
  const released = new Promise<void>((r) => release = r);
  try {
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    const captured = await backlog(p, 200);
    // A session holds the source cursor row (as a pull in progress would): the tick that gets to
    // pull waits there, inside its run, until the hold is released.
    let held: () => void = () => {};
    const holding = new Promise<void>((r) => held = r);
    const hold = holder.begin(async (tx) => {
      await tx`select 1 from sync.source for update`;
      held();
      await released;
    });
    await holding;
    const first = a`call sync.tick(30, null)`.execute(); // sent now, awaited later
    let running: { id: string } | undefined;
    for (let i = 0; i < 100 && !running; i++) {
      [running] = await p.target`select id from sync.runs where status = 'running'`;
      if (!running) await sleep(50);
    }
    ok(running, "the first tick never showed a running run");

    // Each must answer at once; one that waits for the running tick instead fails here.
    const second = await within(5000, b`call sync.tick(30, null)`.execute());
    const bf = second === TIMEOUT ? TIMEOUT : await within(5000, b`call sync.backfill(null, null)`.execute());
    release();
    await hold;
    const [done] = await first;
    for (const [what, r] of [["a second tick", second], ["a backfill", bf]] as const) {
      ok(r !== TIMEOUT, `${what} waited for the running tick instead of answering already_running`);
      const s = r[0].summary;
      deepStrictEqual(s.status, "already_running", `${what}: ${JSON.stringify(s)}`);
      deepStrictEqual(String(s.run?.id), running.id, `${what} names another run: ${JSON.stringify(s)}`);
    }
    deepStrictEqual(done.summary.status, "succeeded", JSON.stringify(done.summary));
    deepStrictEqual(String(done.summary.run_id), running.id);
    const runs = await p.target`select id, mode, status from sync.runs order by id`;
    deepStrictEqual([...runs], [{ id: running.id, mode: "incremental", status: "succeeded" }]);
    deepStrictEqual(await inboxShape(p), { perEntity: captured, twice: [] });
    deepStrictEqual(await oracleDiff(p.target), []);
  } finally {
    release();
    await a.end();
    await b.end();
    await holder.end();
    await p.close();
  }
});

// The scheduled path (pg_cron → function): a one-minute tick ends a moment after the next call arrives (its last
// step, the verification after it). The next call waits for it, briefly, instead of leaving its minute unserved, and
// its waiting must not stall the running tick (a claim locks the applier row the running tick renews its lease by).
Deno.test("a scheduled tick that finds the previous one finishing waits for it, and does not stall it", async () => {
  const p = await freshPair("tick_wait");
  const a = session(p);
  const b = session(p);
  try {
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    // A: a scheduled tick polling while idle for 3 s.
    const first = a<{ summary: Summary }[]>`call sync.tick(3, null, 'schedule', null, 3)`.execute();
    await sleep(500);
    // B arrives while A runs, as the next scheduled call does: it waits up to 4 s here (its own max_seconds).
    const t0 = performance.now();
    const [{ summary: second }] = await b<{ summary: Summary }[]>`call sync.tick(4, null, 'schedule', null, 4)`;
    const waitedAndRan = performance.now() - t0;
    const [{ summary: firstSummary }] = await first;
    deepStrictEqual([firstSummary.status, second.status], ["succeeded", "succeeded"]);
    const total = (firstSummary.timings as Record<string, number>).total_ms;
    ok(total < 3800, `the running tick kept its deadline (3 s): ${total} ms`);
    // B took the applier only once A had ended, then ran its own interval.
    const [{ order }] = await p.target`select b.started_at >= a.ended_at as order from sync.runs a, sync.runs b
                                         where a.id = ${firstSummary.run_id!} and b.id = ${second.run_id!}`;
    ok(order && waitedAndRan < 6000, `B ran after A (${Math.round(waitedAndRan)} ms in all)`);
    // Not scheduled (no idle polling): the answer is immediate, as before.
    const third = a<{ summary: Summary }[]>`call sync.tick(2, null, 'schedule', null, 2)`.execute();
    await sleep(300);
    const [{ summary: manual }] = await b<{ summary: Summary }[]>`call sync.tick(2, null)`;
    deepStrictEqual(manual.status, "already_running");
    await third;
  } finally {
    await a.end();
    await b.end();
    await p.close();
  }
});
