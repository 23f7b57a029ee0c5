/**
 * Several legacy writers with interleaved commits and one transaction held open across several
 * ticks, while ticks run: at the end the exact check reports no difference. Once per way of driving
 * the engine: trigger capture over the FDW pull and over the HTTP bridge (the sync Edge Function
 * through the local gateway), logical capture, and polling capture. Polling, as its stated limits
 * say, finds deletes and the tables without a poll column only by reconciliation: before it, the
 * only differences are exactly those; after one round, none.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { freshPair, oracleDiff, sleep } from "./_helpers.ts";
import { driver, MODES } from "./_transport.ts";

for (const { transport, capture } of MODES) {
  const mode = `${capture}, ${transport}`;
  Deno.test(`tick loses nothing under concurrent writers and a long-open transaction (${mode})`, async () => {
    const p = await freshPair(`writers_${capture}_${transport}`, { empty: true });
    const t = await driver(p, transport, capture);
    try {
      await t.connect();
      await p
        .legacy`insert into django_content_type (app_label, model) values ('dispatch', 'patient'), ('auth', 'user')`;
      await p
        .legacy`insert into dispatch_office (name, phone, address, city, state, zip_code, is_active, created_at, updated_at)
                   select 'Office ' || g, '', '', 'Humble', 'TX', '', true, now(), now() from generate_series(1, 5) g`;

      let stop = false;
      let ticks = 0;
      const writer = async (w: number) => {
        for (let i = 0; !stop && i < 60; i++) {
          await p.legacy.begin(async (tx) => {
            const [u] = await tx`insert into auth_user (password, is_superuser, username, first_name, last_name, email,
                                 is_staff, is_active, date_joined)
                               values ('x', false, ${`w${w}_${i}`}, ${"Zoë " + i}, '', '', ${i % 3 === 0}, true, now())
                               returning id`;
            await sleep(Math.random() * 15); // commits interleave with the other writers'
            const [pt] =
              await tx`insert into dispatch_patient (office_id, user_id, doctor_id, patient_number, first_name,
                                  last_name, birthdate, email, status_id, medical_notes, created_at, updated_at)
                                values (1 + ${i % 5}, ${u.id}, null, ${`P${w}-${i}`}, 'Ana', 'Núñez', null, '',
                                        ${1 + (i % 7)}, null, now(), now()) returning id`;
            if (i % 4 === 1) await tx`update dispatch_patient set email = ${`p${pt.id}@x.io`} where id = ${pt.id}`;
            if (i % 9 === 2) await tx`delete from dispatch_patient where id = ${pt.id}`;
            if (i % 5 === 3) {
              await tx`update dispatch_office set phone = ${`555-${w}${i}`}, updated_at = now() where id = ${
                1 + (i % 5)
              }`;
            }
          });
        }
      };
      // One transaction takes its xid first and stays open across several ticks.
      const longTx = p.legacy.begin(async (tx) => {
        await tx`insert into auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined)
               values ('x', true, 'long_open', 'Long', 'Open', 'l@x.io', true, true, now())`;
        await tx`update dispatch_office set name = 'Held open' where id = 2`;
        // Open across several ticks whatever the machine's speed (a fixed sleep let a slow run tick only twice).
        await sleep(2500);
        while (ticks < 3) await sleep(50);
      });
      const ticker = (async () => {
        while (!stop) {
          await t.tick(5);
          ticks++;
          await sleep(50);
        }
        return ticks;
      })();
      await Promise.all([writer(1), writer(2), writer(3), writer(4), longTx]);
      stop = true;
      await ticker;
      ok(ticks >= 3, `expected several ticks during the writes, got ${ticks}`);
      for (let i = 0; i < 5; i++) {
        const s = await t.tick(5);
        if (s.rows === 0) break;
      }
      await t.beforeOracle();
      if (capture === "polling") {
        // Before reconciliation, only the limits' differences: profiles (no poll column), and so the patients
        // parked on them, and patients deleted at the source. The offices are exact; every patient whose row
        // is there and whose user is mapped is exact.
        deepStrictEqual(await oracleDiff(p.target, "offices"), []);
        const unexplained = await p.target`
          select d.legacy_id from oracle.diff('patients') d
           where exists (select 1 from sync_src.dispatch_patient s
                          where s.id = d.legacy_id
                            and exists (select 1 from sync.id_map m where m.entity = 'profiles' and m.legacy_id = s.user_id))`;
        deepStrictEqual([...unexplained], []);
        await t.reconcile();
      }
      deepStrictEqual(await oracleDiff(p.target), []);
      const [{ n }] = await p.target`select count(*)::int as n from public.profiles where username = 'long_open'`;
      deepStrictEqual(n, 1);
      const open = await p.target`select entity, status, count(*)::int as n from sync.inbox
                                where status not in ('applied', 'superseded') group by 1, 2`;
      deepStrictEqual([...open], []);
    } finally {
      await t.close();
      await p.close();
    }
  });
}
