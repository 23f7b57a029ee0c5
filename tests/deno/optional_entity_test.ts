/**
 * An optional entity (sync.entities.optional): a legacy database that fits the schema but lacks the
 * table of one (audit_events ← dispatch_auditlog) connects, captures, backfills, streams and
 * verifies every other entity exactly; the missing one is reported (connect_source's `unavailable`,
 * a warning alert, the registry's `available`) and left out, until a connect finds the table.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { freshPair, oracleDiff, tick } from "./_helpers.ts";

Deno.test("optional entity: a source without dispatch_auditlog connects and syncs every other entity exactly", async () => {
  const p = await freshPair("optional_entity");
  try {
    await p.legacy`drop table dispatch_auditlog`;
    const others = await p.target`select name, source_table from sync.entities where name <> 'audit_events' order by 1`;

    const [{ r }] = await p.target`select sync.connect_source(${p.legacyConninfo}) as r`;
    deepStrictEqual([r.connected, r.tables, r.unavailable], [true, others.length, ["audit_events"]]);
    deepStrictEqual(
      [...await p.target`select name from sync.entities where not available`].map((x) => x.name),
      ["audit_events"],
    );
    deepStrictEqual([
      ...await p.target`select kind, severity, dedup_key, message from sync.alerts where resolved_at is null
                         and kind = 'entity_unavailable'`,
    ], [{
      kind: "entity_unavailable",
      severity: "warning",
      dedup_key: "entity_unavailable:audit_events",
      message: "the source has no table public.dispatch_auditlog: optional entity audit_events is not synced",
    }]);
    deepStrictEqual(
      [...await p.legacy`select tbl from sync_capture.tables where enabled order by 1`].map((x) => x.tbl),
      others.map((x) => x.source_table).sort(),
      "capture is on for exactly the tables the source has",
    );

    const [{ summary: bf }] = await p.target`call sync.backfill(null, null)`;
    deepStrictEqual(
      [bf.status, Object.keys(bf.progress.entities).sort()],
      ["succeeded", others.map((x) => x.name).sort()],
    );
    deepStrictEqual(await oracleDiff(p.target), []);

    // The live stream (its logins write no audit row here) and a few ticks.
    await p.legacy`select demo_gen.stream_step() from generate_series(1, 300)`;
    for (let i = 0; i < 5; i++) {
      const s = await tick(p.target);
      deepStrictEqual(s.status, "succeeded", JSON.stringify(s));
      if (s.rows === 0) break;
    }
    deepStrictEqual(await oracleDiff(p.target), []);
    const [{ v }] = await p.target`select sync.verify(true) as v`;
    deepStrictEqual([v.ok, Object.keys(v.entities).sort()], [true, others.map((x) => x.name).sort()]);
    deepStrictEqual((await p.target`select count(*)::int as n from public.audit_events`)[0].n, 0);

    // The application ships the table: the next connect finds it, the alert resolves, a backfill copies it.
    await p.legacy`create table public.dispatch_auditlog (
                     id serial primary key, user_id integer references public.auth_user (id) deferrable initially deferred,
                     action varchar(50) not null, object_repr varchar(200) not null, created_at timestamptz not null)`;
    await p.legacy`insert into dispatch_auditlog (user_id, action, object_repr, created_at)
                   values (1, 'login', 'user1', now()), (null, 'export', '', now()), (2, 'view_patient', 'Zoë 🦷', now())`;
    const [{ r: again }] = await p.target`select sync.connect_source(${p.legacyConninfo}) as r`;
    deepStrictEqual([again.connected, again.tables, again.unavailable], [true, others.length + 1, []]);
    const [alert] = await p.target`select resolved_at is not null as resolved, details ->> 'resolved' as why
                                    from sync.alerts where dedup_key = 'entity_unavailable:audit_events'`;
    deepStrictEqual(alert, { resolved: true, why: "the source has the table again" });
    const [{ summary: bf2 }] = await p.target`call sync.backfill('audit_events', null)`;
    deepStrictEqual([bf2.status, bf2.counts], ["succeeded", { audit_events: { inserted: 3 } }]);
    await p.legacy`update dispatch_auditlog set action = 'logout' where id = 1`;
    ok((await tick(p.target)).rows as number >= 1);
    deepStrictEqual(await oracleDiff(p.target), []);
    deepStrictEqual(
      [...await p.target`select action, object_repr from public.audit_events order by legacy_auditlog_id`],
      [{ action: "logout", object_repr: "user1" }, { action: "export", object_repr: null }, {
        action: "view_patient",
        object_repr: "Zoë 🦷",
      }],
    );
  } finally {
    await p.close();
  }
});
