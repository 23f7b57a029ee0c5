/**
 * Logical-decoding capture (capture = 'logical', engine.md §1) end to end, through postgres_fdw as the engine's
 * reader with REPLICATION: a live stream with interleaved commits and a long-open transaction drained exactly; the
 * applier killed between the inbox write and the slot's confirmation (nothing lost, nothing doubled); a slot that
 * never advances (every commit decoded again is skipped by the cursor); batch_size; truncate; the retained-WAL and
 * lost-slot alerts; the REPLICATION check; no capture trigger on the application's tables.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { psql } from "../../scripts/lib/psql.ts";
import { conninfoAs, LEGACY_ROLES } from "../../scripts/lib/testenv.ts";
import { adminUrlOf, freshPair, oracleDiff, type Pair, sleep, tick } from "./_helpers.ts";
import { driver, installLogical } from "./_transport.ts";

/** A fresh empty pair with logical capture connected (the slot created before any write). */
async function logicalPair(name: string): Promise<Pair> {
  const p = await freshPair(name, { empty: true });
  try {
    const conninfo = await installLogical(p);
    const [{ r }] = await p.target`select sync.connect_source(${conninfo}) as r`;
    deepStrictEqual([r.connected, r.capture], [true, "logical"], JSON.stringify(r));
    await p.legacy`insert into django_content_type (app_label, model) values ('dispatch', 'patient'), ('auth', 'user')`;
    await p
      .legacy`insert into dispatch_office (name, phone, address, city, state, zip_code, is_active, created_at, updated_at)
                   select 'Office ' || g, '', '', 'Humble', 'TX', '', true, now(), now() from generate_series(1, 5) g`;
    return p;
  } catch (e) {
    await p.close();
    throw e;
  }
}

/** `n` one-row transactions on auth_user (changes: n inserts, then every third one updated in its own transaction). */
async function users(p: Pair, prefix: string, n: number): Promise<number> {
  let changes = 0;
  for (let i = 0; i < n; i++) {
    const [u] = await p.legacyApp`insert into auth_user (password, is_superuser, username, first_name, last_name, email,
                                   is_staff, is_active, date_joined)
                                 values ('x', false, ${`${prefix}${i}`}, 'A', 'B', '', false, true, now()) returning id`;
    changes++;
    if (i % 3 === 0) {
      await p.legacyApp`update auth_user set last_name = 'C' where id = ${u.id}`;
      changes++;
    }
  }
  return changes;
}

async function drain(p: Pair, seconds = 20): Promise<void> {
  for (let i = 0; i < 10; i++) {
    const s = await tick(p.target, seconds);
    if (s.rows === 0) return;
  }
  throw new Error("the sync did not drain in 10 ticks");
}

async function changesPulled(p: Pair): Promise<number> {
  const [{ n }] = await p.target`select coalesce(sum(changes), 0)::int as n from sync.batches`;
  return n;
}

Deno.test("logical capture drains a live stream with interleaved commits and a long-open transaction exactly", async () => {
  const p = await freshPair("logical_live", { empty: true });
  const t = await driver(p, "fdw", "logical");
  try {
    await t.connect();
    const [{ n: triggers }] = await p
      .legacy`select count(*)::int as n from pg_trigger where tgname like 'sync_capture%'`;
    deepStrictEqual(triggers, 0, "logical capture installs no trigger on the application's tables");
    await p.legacy`insert into django_content_type (app_label, model) values ('dispatch', 'patient'), ('auth', 'user')`;
    await p
      .legacy`insert into dispatch_office (name, phone, address, city, state, zip_code, is_active, created_at, updated_at)
                   select 'Office ' || g, '', '', 'Humble', 'TX', '', true, now(), now() from generate_series(1, 5) g`;
    let stop = false;
    let ticks = 0;
    // Every 20 transactions a writer waits for a tick to finish, so ticks land between the writes
    // however fast or slow this machine runs them.
    const tickPassed = async () => {
      const seen = ticks;
      while (ticks <= seen && !stop) await sleep(20);
    };
    const writer = async (w: number) => {
      for (let i = 0; !stop && i < 80; i++) {
        if (i > 0 && i % 20 === 0) await tickPassed();
        await p.legacyApp.begin(async (tx) => {
          const [u] = await tx`insert into auth_user (password, is_superuser, username, first_name, last_name, email,
                               is_staff, is_active, date_joined)
                             values ('x', false, ${`w${w}_${i}`}, ${"Zoë " + i}, '', '', ${i % 3 === 0}, true, now())
                             returning id`;
          await sleep(Math.random() * 15); // commits interleave with the other writers'
          const [pt] = await tx`insert into dispatch_patient (office_id, user_id, doctor_id, patient_number, first_name,
                                last_name, birthdate, email, status_id, medical_notes, created_at, updated_at)
                              values (1 + ${i % 5}, ${u.id}, null, ${`P${w}-${i}`}, 'Ana', 'Núñez', null, '',
                                      ${1 + (i % 7)}, null, now(), now()) returning id`;
          if (i % 4 === 1) await tx`update dispatch_patient set email = ${`p${pt.id}@x.io`} where id = ${pt.id}`;
          if (i % 9 === 2) await tx`delete from dispatch_patient where id = ${pt.id}`;
          if (i % 5 === 3) await tx`update dispatch_office set phone = ${`555-${w}${i}`} where id = ${1 + (i % 5)}`;
        });
      }
    };
    // One transaction takes its xid first and stays open across several ticks.
    const longTx = p.legacyApp.begin(async (tx) => {
      await tx`insert into auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active,
               date_joined) values ('x', true, 'long_open', 'Long', 'Open', 'l@x.io', true, true, now())`;
      await tx`update dispatch_office set name = 'Held open' where id = 2`;
      await sleep(2500);
    });
    const ticker = (async () => {
      try {
        while (!stop) {
          await t.tick(1);
          ticks++;
          await sleep(50);
        }
      } finally {
        stop = true; // a failed tick releases the writers waiting for it
      }
    })();
    await Promise.all([writer(1), writer(2), writer(3), longTx]);
    stop = true;
    await ticker;
    ok(ticks >= 3, "several ticks ran during the writes");
    await drain(p);
    deepStrictEqual(await oracleDiff(p.target), []);
    const [{ n }] = await p.target`select count(*)::int as n from public.profiles where username = 'long_open'`;
    deepStrictEqual(n, 1);
    const open = await p.target`select entity, status, count(*)::int as n from sync.inbox
                                where status not in ('applied', 'superseded') group by 1, 2`;
    deepStrictEqual([...open], []);
    // The slot is confirmed up to the committed cursor at the next pull, never beyond it.
    await tick(p.target, 5);
    const [{ lsn }] = await p.target`select logical_lsn::text as lsn from sync.source`;
    const [{ ahead }] = await p.legacy`select confirmed_flush_lsn > ${lsn}::pg_lsn as ahead from pg_replication_slots
                                       where slot_name = (select slot from sync_capture.logical)`;
    deepStrictEqual(ahead, false);
  } finally {
    await t.close();
    await p.close();
  }
});

Deno.test("logical capture: the applier killed between the inbox write and the slot confirmation loses and doubles nothing", async () => {
  const p = await logicalPair("logical_kill");
  try {
    await drain(p);
    const before = await changesPulled(p);
    const written = await users(p, "k", 30);
    // Hold the pull after its inbox write, before the cursor moves (the slot is confirmed only by the next pull).
    await p.target.unsafe(`create function public.hold_pull() returns trigger language plpgsql as $$
                             begin perform pg_sleep(60); return new; end $$;
                           create trigger hold_pull before update of logical_lsn on sync.source
                             for each row execute function public.hold_pull()`);
    const killed = psql(p.targetUrl, { command: "call sync.tick(20, null)" }).then(
      () => "finished",
      (e) => `failed: ${e.message}`,
    );
    let pid: number | undefined;
    for (let i = 0; i < 200 && pid === undefined; i++) {
      const rows = await p.target`select pid from pg_stat_activity
                                  where wait_event = 'PgSleep' and query like '%sync.tick%'`;
      pid = rows[0]?.pid;
      if (pid === undefined) await sleep(50);
    }
    ok(pid !== undefined, "the pull reached the held cursor update");
    const [{ pending }] = await p.target`select count(*)::int as pending from sync.inbox`;
    await p.target`select pg_terminate_backend(${pid!}::int, 10000)`;
    ok((await killed).startsWith("failed"), "the applier was killed");
    await p.target`drop trigger hold_pull on sync.source`;
    deepStrictEqual(await changesPulled(p), before, "the killed pull left no batch");
    deepStrictEqual((await p.target`select count(*)::int as n from sync.inbox`)[0].n, pending);
    await drain(p);
    deepStrictEqual(await changesPulled(p) - before, written, "every change pulled exactly once");
    deepStrictEqual(await oracleDiff(p.target), []);
  } finally {
    await p.close();
  }
});

Deno.test("logical capture: a slot that never advances re-decodes every commit, and the cursor skips each one", async () => {
  const p = await logicalPair("logical_noconfirm");
  try {
    await drain(p);
    const before = await changesPulled(p);
    // The confirmation is lost every time (as if each pull crashed right after its commit).
    await p.legacy`alter table sync_capture.logical disable trigger logical_confirm`;
    let written = await users(p, "a", 10);
    await drain(p, 3);
    written += await users(p, "b", 10);
    await drain(p, 3);
    await drain(p, 3);
    deepStrictEqual(await changesPulled(p) - before, written, "no commit decoded again is ingested twice");
    deepStrictEqual(await oracleDiff(p.target), []);
  } finally {
    await p.close();
  }
});

Deno.test("logical capture respects batch_size: whole transactions, one larger transaction alone", async () => {
  const p = await logicalPair("logical_batch");
  try {
    await drain(p);
    const [{ last }] = await p.target`select max(id) as last from sync.batches`;
    await p.target`select sync.set_config('{"batch_size": 10}')`;
    for (let i = 0; i < 35; i++) {
      await p.legacyApp`insert into auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                        is_active, date_joined) values ('x', false, ${`s${i}`}, 'A', 'B', '', false, true, now())`;
    }
    await p.legacyApp`insert into auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                      is_active, date_joined)
                      select 'x', false, 'big' || g, 'A', 'B', '', false, true, now() from generate_series(1, 25) g`;
    await p.legacyApp`insert into auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                      is_active, date_joined) values ('x', false, 'after', 'A', 'B', '', false, true, now())`;
    await drain(p);
    const sizes = (await p.target`select changes from sync.batches where id > ${last} and changes > 0 order by id`)
      .map((r) => r.changes);
    deepStrictEqual(sizes, [10, 10, 10, 5, 25, 1]);
    deepStrictEqual(await oracleDiff(p.target), []);
  } finally {
    await p.close();
  }
});

Deno.test("logical capture turns a truncate into deletes of the rows not inserted again", async () => {
  const p = await logicalPair("logical_truncate");
  try {
    await users(p, "t", 6);
    await drain(p);
    const live = async () =>
      (await p.target`select count(*)::int as n from public.profiles where deleted_at is null`)[0].n;
    deepStrictEqual(await live(), 6);
    await p.legacy.begin(async (tx) => {
      const [{ id }] = await tx`select min(id) as id from auth_user`;
      await tx`create temp table keep on commit drop as select * from auth_user where id = ${id}`;
      await tx`truncate auth_user cascade`;
      await tx`insert into auth_user select * from keep`;
    });
    await drain(p);
    deepStrictEqual(await live(), 1, "the rows not inserted again are deleted (soft, as every delete)");
    deepStrictEqual(await oracleDiff(p.target), []);
  } finally {
    await p.close();
  }
});

Deno.test("logical capture alerts on the slot's retained WAL and on a lost slot", async () => {
  const p = await logicalPair("logical_alerts");
  try {
    await drain(p);
    await p.target`select sync.set_config('{"alerts": {"thresholds": {"slot_retained_mb": 0}}}')`;
    const [{ r: fired }] = await p.target`select sync.evaluate_alerts() as r`;
    deepStrictEqual(fired.slot_retained, "firing");
    const [a] = await p
      .target`select severity, message from sync.alerts where kind = 'slot_retained' and resolved_at is null`;
    deepStrictEqual(a.severity, "warning");
    ok(/retains [0-9.]+ MB of WAL on the source \(threshold 0 MB\)/.test(a.message), a.message);
    await p.target`select sync.set_config('{"alerts": {"thresholds": {"slot_retained_mb": 1024}}}')`;
    deepStrictEqual((await p.target`select sync.evaluate_alerts() as r`)[0].r.slot_retained, "resolved");

    const [{ slot }] = await p.legacy`select slot from sync_capture.logical`;
    await psql(adminUrlOf(p.legacyUrl), { command: `select pg_drop_replication_slot('${slot}')` });
    const [{ r: lost }] = await p.target`select sync.evaluate_alerts() as r`;
    deepStrictEqual(lost.slot_lost, "firing");
    const [l] = await p
      .target`select severity, message from sync.alerts where kind = 'slot_lost' and resolved_at is null`;
    deepStrictEqual(l.severity, "critical");
    ok(l.message.includes(`the decoding slot ${slot} on the source is missing`), l.message);
    const s = await tick(p.target, 5);
    ok(JSON.stringify(s).includes("is missing: logical capture cannot continue"), JSON.stringify(s));
  } finally {
    await p.close();
  }
});

Deno.test("logical capture: connect_source names the missing REPLICATION attribute; the bridge refuses logical", async () => {
  const p = await freshPair("logical_checks", { empty: true });
  try {
    await installLogical(p);
    // sync_reader has every grant of a reader (template) but not REPLICATION.
    await psql(p.legacyUrl, {
      command: `grant select, update on sync_capture.logical to ${LEGACY_ROLES.reader.user};
                grant select on sync_capture.logical_changes, sync_capture.logical_status to ${LEGACY_ROLES.reader.user}`,
    });
    const [{ r }] = await p.target`select sync.connect_source(${conninfoAs(p.legacyUrl, LEGACY_ROLES.reader)}) as r`;
    deepStrictEqual(r.connected, false);
    ok(
      r.error.message.includes(
        "the reader role sync_reader lacks the REPLICATION attribute that logical decoding needs; " +
          "as a superuser on the source: alter role sync_reader replication",
      ),
      r.error.message,
    );
    await p.target`select sync.set_config('{"transport": "http"}')`;
    const err = await p.target`select sync.get_bridge_request()`.then(() => null, (e) => e);
    deepStrictEqual([err?.code, err?.message], ["SY400", "the HTTP bridge does not support capture logical"]);
  } finally {
    await p.close();
  }
});
