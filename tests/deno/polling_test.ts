/**
 * Polling capture under a live stream, against the same stream in trigger mode: writers as the application's role
 * (interleaved commits, a transaction held open across ticks that commits late with an older updated_at, deletes)
 * while ticks run. Polling: on a source whose capture schema was dropped (nothing installed, the reader has SELECT on
 * the tables only), the timestamped entities are exact after the ticks and the deletes are missing exactly until a
 * reconciliation, after which everything is exact; an idle tick writes nothing and its source reads are measured.
 * Prints throughput and lag of each mode.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { freshPair, oracleDiff, sleep, tick } from "./_helpers.ts";

const MODES = ["trigger", "polling"] as const;

for (const mode of MODES) {
  Deno.test(`live stream drained exactly with capture ${mode}`, async () => {
    const p = await freshPair(`poll_${mode}`, { empty: true });
    try {
      if (mode === "polling") {
        await p.legacy.unsafe(`drop schema sync_capture cascade;
          grant usage on schema public to sync_reader;
          grant select on ${
          (await p.target`select string_agg(source_table, ', ') as t from sync.entities`)[0].t
        } to sync_reader`);
        // The reader holds SELECT on those tables and nothing else on the source.
        const grants = await p
          .legacy`select privilege_type, count(*)::int as n from information_schema.role_table_grants
                                      where grantee = 'sync_reader' group by 1`;
        const [{ tables }] = await p.target`select count(*)::int as tables from sync.entities`;
        deepStrictEqual([...grants], [{ privilege_type: "SELECT", n: tables }]);
      }
      const config = {
        capture: mode,
        batch_size: 50,
        verify_after_run: false,
        polling: { overlap_seconds: 300, reconcile_minutes: 1440 },
      };
      await p.target`select sync.set_config((${JSON.stringify(config)}::text)::jsonb)`;
      const [{ c }] = await p.target`select sync.connect_source(${p.legacyConninfo}) as c`;
      deepStrictEqual([c.connected, c.capture], [true, mode], JSON.stringify(c));
      const app = p.legacyApp;
      await app`insert into django_content_type (app_label, model) values ('dispatch', 'patient'), ('auth', 'user')`;
      await app`insert into dispatch_office (name, phone, address, city, state, zip_code, is_active, created_at, updated_at)
                select 'Office ' || g, '', '', 'Humble', 'TX', '', true, now(), now() from generate_series(1, 5) g`;
      await tick(p.target, 10); // polling: the reconciliation round due at connect

      let stop = false;
      const deleted: number[] = [];
      const writer = async (w: number) => {
        let prev: number | null = null;
        for (let i = 0; !stop && i < 60; i++) {
          await app.begin(async (tx) => {
            await tx`insert into auth_user (password, is_superuser, username, first_name, last_name, email,
                       is_staff, is_active, date_joined)
                     values ('x', false, ${`w${w}_${i}`}, ${"Zoë " + i}, '', '', false, true, now())`;
            await sleep(Math.random() * 15); // commits interleave with the other writers'
            const [pt] = await tx`insert into dispatch_patient (office_id, user_id, doctor_id, patient_number,
                                    first_name, last_name, birthdate, email, status_id, medical_notes, created_at, updated_at)
                                  values (1 + ${i % 5}, null, null, ${`P${w}-${i}`}, 'Ana', 'Núñez', null, '',
                                          ${1 + (i % 6)}, null, now(), now()) returning id`;
            if (i % 4 === 1) {
              await tx`update dispatch_patient set email = ${`p${pt.id}@x.io`}, updated_at = now() where id = ${pt.id}`;
            }
            if (i % 9 === 2) await tx`delete from dispatch_patient where id = ${pt.id}`; // never visible
            if (i % 9 === 5 && prev !== null) {
              deleted.push(prev); // committed earlier: pulled or not yet
              await tx`delete from dispatch_patient where id = ${prev}`;
            }
            prev = i % 9 === 2 ? null : Number(pt.id);
            if (i % 5 === 3) {
              await tx`update dispatch_office set phone = ${`555-${w}${i}`}, updated_at = now() where id = ${
                1 + (i % 5)
              }`;
            }
          });
        }
      };
      // Takes its timestamp first, commits after later writes were pulled (within the overlap).
      const longTx = app.begin(async (tx) => {
        await tx`update dispatch_office set name = 'Held open', updated_at = now() where id = 2`;
        await sleep(2500);
      });
      const summaries: Record<string, unknown>[] = [];
      const t0 = Date.now();
      const ticker = (async () => {
        while (!stop) {
          summaries.push(await tick(p.target, 5));
          await sleep(50);
        }
      })();
      await Promise.all([writer(1), writer(2), writer(3), writer(4), longTx]);
      const writeMs = Date.now() - t0;
      stop = true;
      await ticker;
      for (let i = 0; i < 5; i++) {
        const s = await tick(p.target, 5);
        summaries.push(s);
        if (s.rows === 0) break;
      }
      const drainMs = Date.now() - t0;
      const rows = summaries.reduce((a, s) => a + Number(s.rows), 0);
      const p99 = Math.max(...summaries.map((s) => Number((s.lag_ms as Record<string, number>).p99 ?? 0)));
      const p50s = summaries.map((s) => (s.lag_ms as Record<string, number>).p50).filter((x) => x !== null).sort((
        a,
        b,
      ) => a - b);
      console.log(
        `capture ${mode}: ${rows} rows pulled in ${summaries.length} ticks; writes ${writeMs} ms, drained at ${drainMs} ms ` +
          `(${Math.round(rows / (drainMs / 1000))} rows/s); lag p50 (median over ticks) ${
            p50s[Math.floor(p50s.length / 2)]
          } ms, worst tick p99 ${p99} ms`,
      );
      const [{ held }] = await p.target`select name as held from public.offices where legacy_office_id = 2`;
      deepStrictEqual(held, "Held open");

      if (mode === "trigger") {
        deepStrictEqual(await oracleDiff(p.target), []);
        return;
      }
      // Polling: the timestamped entities are exact but for the deletes, which only reconciliation sees.
      deepStrictEqual(await oracleDiff(p.target, "offices"), []);
      const stale = (await oracleDiff(p.target, "patients")).map((d) => [Number(d.legacy_id), d.problem]);
      ok(
        stale.every(([id, problem]) => deleted.includes(id as number) && problem === "unexpected"),
        JSON.stringify(stale),
      );
      const gone =
        (await app`delete from dispatch_patient where id in (select id from dispatch_patient order by id limit 5)
                              returning id`).map((r) => Number(r.id)).sort((a, b) => a - b);
      await tick(p.target, 5);
      deepStrictEqual(
        (await oracleDiff(p.target, "patients")).map((d) => [Number(d.legacy_id), d.problem]),
        [...stale, ...gone.map((id) => [id, "unexpected"])].sort((a, b) => (a[0] as number) - (b[0] as number)),
      );
      // The un-timestamped table (auth_user) only at reconciliation too.
      const [{ profiles }] = await p.target`select count(*)::int as profiles from public.profiles`;
      deepStrictEqual(profiles, 0);

      // An idle tick: nothing written, and what it reads on the source.
      const reads = async () =>
        Number(
          (await p
            .legacy`select pg_stat_clear_snapshot(), sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0))::bigint as n
                          from pg_stat_user_tables where schemaname = 'public'`)[0].n,
        );
      // The engine's source session ends (flushing its statistics) before each count.
      const flushed = async () => {
        await p.target`select postgres_fdw_disconnect_all()`;
        await sleep(300);
      };
      await flushed();
      const [before] = await p.target`select (select count(*) from sync.inbox)::int as inbox,
                                        (select max(updated_at) from sync.id_map) as mapped`;
      const r0 = await reads();
      const idle = await tick(p.target, 5);
      await flushed();
      const r1 = await reads();
      const [after] = await p.target`select (select count(*) from sync.inbox)::int as inbox,
                                       (select max(updated_at) from sync.id_map) as mapped`;
      deepStrictEqual([idle.rows, idle.changes], [0, 0]);
      deepStrictEqual(after, before);
      const [{ window }] = await p.target`select count(*)::int as window from sync.poll_seen`;
      console.log(
        `capture polling: an idle tick (${idle.batches} pulls) read ${r1 - r0} source rows ` +
          `(${window} keys within the overlap window)`,
      );

      // Reconciliation: the deletes and the un-timestamped inserts.
      await p.target`update sync.poll_state set reconciled_at = reconciled_at - interval '2 days'`;
      const rec = await tick(p.target, 30);
      const r = rec.reconcile as Record<string, Record<string, number>>;
      deepStrictEqual([r.patients.orphaned, r.profiles.missing], [stale.length + gone.length, 240]);
      deepStrictEqual(await oracleDiff(p.target), []);
    } finally {
      await p.close();
    }
  });
}
