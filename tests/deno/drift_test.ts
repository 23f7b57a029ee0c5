/**
 * Source schema drift under a live stream (engine.md §1, issue 12 item 4): the legacy database's owner alters the
 * captured tables with ALTER TABLE while the application (legacy_app) keeps writing and ticks keep running. A column
 * added and then dropped (used by no mapping) is absorbed; a used column renamed, a used column retyped, a table
 * renamed and a key column renamed each pause only their entity. The drift rows and alerts are asserted exactly;
 * the entities that do not depend on a paused one match the mapping of the source while the others are paused; the
 * application's writes never fail (a renamed key column included). Then the mapping updates are "shipped" (the
 * transforms and the registry changed as a migration would) and under the same stream every paused entity catches
 * up exactly: the oracle, pointed at the new source names, reports no difference.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import type postgres from "postgres";
import { freshPair, oracleDiff, type Pair, sleep, tick } from "./_helpers.ts";

/** The entities that depend on none of the four paused ones (cases_messages, treatment_plans, case_files, system_messages). */
const UNAFFECTED = [
  "content_types",
  "profiles",
  "offices",
  "patients",
  "cases",
  "orders",
  "operations",
  "messages",
  "files",
];

/** Names the application uses now; a gate holds its writes to a table while the owner alters it (its deploy). */
class App {
  commentText = "text";
  fileTable = "dispatch_file_instruction";
  notificationKey = "id";
  gates = new Map<string, Promise<void>>();
  /** Gated writes under way per table: an ALTER waits for them (a writer between two statements holds the old name). */
  inflight = new Map<string, Set<Promise<unknown>>>();
  errors: string[] = [];
  writes = 0;
  stop = false;

  constructor(readonly sql: postgres.Sql) {}

  async gated<T>(table: string, f: () => Promise<T>): Promise<T | undefined> {
    while (this.gates.has(table)) await this.gates.get(table);
    const running = f();
    const set = this.inflight.get(table) ?? new Set<Promise<unknown>>();
    this.inflight.set(table, set.add(running));
    try {
      return await running;
    } finally {
      set.delete(running);
    }
  }

  /** One writer: a Django-like mix of updates and inserts over seven captured tables. */
  async writer(w: number): Promise<void> {
    const sql = this.sql;
    for (let i = 0; !this.stop; i++) {
      const k = 1 + ((w * 37 + i * 11) % 40);
      try {
        switch (i % 7) {
          case 0:
            await sql`update auth_user set first_name = ${`W${w}-${i}`} where id = ${k}`;
            break;
          case 1:
            await sql`update dispatch_office set phone = ${`555-${w}${i}`}, updated_at = now() where id = ${
              1 + (i % 2)
            }`;
            break;
          case 2:
            await sql`update dispatch_patient set email = ${`p${w}-${i}@x.io`}, updated_at = now() where id = ${k}`;
            break;
          case 3:
            await this.gated("dispatch_comment", async () => {
              const col = this.commentText;
              await sql`update dispatch_comment set ${sql(col)} = ${`comment ${w}-${i}?`} where id = ${k}`;
              if (i % 3 === 0) {
                await sql`insert into dispatch_comment (plan_id, author_id, ${sql(col)}, created_at)
                          values (${k}, null, ${`new comment ${w}-${i}`}, now())`;
              }
            });
            break;
          case 4:
            await sql`update dispatch_plan set status = ${1 + (i % 5)}, updated_at = now() where id = ${k}`;
            break;
          case 5:
            await this.gated("file", async () => {
              await sql`update ${sql(this.fileTable)} set created_at = now() where id = ${k}`;
            });
            break;
          case 6:
            await this.gated("dispatch_notification", async () => {
              const key = this.notificationKey;
              await sql`update dispatch_notification set subject = ${`s ${w}-${i}`}, sent = true, send = true
                        where ${sql(key)} = ${k}`;
              if (i % 3 === 0) {
                await sql`insert into dispatch_notification (recipient_id, sender, template_name, template_context, subject,
                                                             content, send, sent, send_at, sent_at, created_at)
                          values (null, 'system', 'welcome_message', '{}', 'hi', 'Hello', true, true, now(), now(), now())`;
              }
            });
            break;
        }
        this.writes++;
      } catch (e) {
        this.errors.push(`writer ${w} step ${i}: ${(e as Error).message}`);
      }
      await sleep(5 + Math.random() * 10);
    }
  }

  /** Runs an ALTER as the owner while the writers of `gate` (if any) wait, then switches the app's names. */
  async alter(owner: postgres.Sql, ddl: string, gate: string | null, after: () => void = () => {}): Promise<void> {
    let open!: () => void;
    if (gate) this.gates.set(gate, new Promise<void>((r) => (open = r)));
    try {
      if (gate) await Promise.allSettled([...(this.inflight.get(gate) ?? [])]);
      await owner.unsafe(ddl);
      after();
    } finally {
      if (gate) {
        this.gates.delete(gate);
        open();
      }
    }
  }
}

async function waitFor(what: string, f: () => Promise<boolean>, seconds = 60): Promise<void> {
  for (let i = 0; i < seconds * 10; i++) {
    if (await f()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function drift(p: Pair) {
  return [
    ...await p.target`
    select entity, source_table, kind, column_name, new_name, old_type, new_type, action, resolved_at is not null as resolved
      from sync.source_drift order by action, entity, kind`,
  ];
}

async function drain(p: Pair): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const s = await tick(p.target, 10);
    if (s.rows === 0 && (s.steps as Record<string, number>).max_apply_changes === 0) return;
  }
  throw new Error("the sync did not drain");
}

Deno.test("source drift under a live stream: absorbed, paused per entity, caught up exactly after the mapping update", async () => {
  const p = await freshPair("drift");
  const app = new App(p.legacyApp);
  let ticking = true;
  let ticks = 0;
  try {
    deepStrictEqual((await p.target`select sync.connect_source(${p.legacyConninfo}) as r`)[0].r.connected, true);
    await p.target`call sync.backfill(null, null)`;
    await drain(p);
    deepStrictEqual(await oracleDiff(p.target), []);

    // The per-pull cost of the check when nothing changed: one session (a tick's), one transaction per pull whose
    // remote transaction the pull's first statement (the snapshot) has opened.
    const session = await p.target.reserve();
    const costs: number[] = [];
    for (let i = 0; i < 21; i++) {
      await session`begin`;
      await session`select snap from sync_src_capture.current_snapshot`;
      const [{ ms }] = await session`select extract(epoch from t1 - t0) * 1000 as ms
                                       from (select clock_timestamp() as t0) a,
                                            lateral (select sync._source_drift() as d offset 0) d,
                                            lateral (select clock_timestamp() as t1 where d.d is not null) b`;
      await session`commit`;
      costs.push(Number(ms));
    }
    session.release();
    const first = costs[0];
    costs.sort((a, b) => a - b);
    console.log(
      `drift check per pull: first in a session ${first.toFixed(2)} ms, then median ${costs[10].toFixed(2)} ms`,
    );
    deepStrictEqual(await drift(p), []);

    const writers = [1, 2, 3, 4].map((w) => app.writer(w));
    const ticker = (async () => {
      while (ticking) {
        await tick(p.target, 2);
        ticks++;
        await sleep(50);
      }
    })();
    const pulledAfter = async (n: number) => {
      const [{ c }] = await p.target`select count(*)::int as c from sync.batches`;
      return c >= n;
    };
    const batches = async () => (await p.target`select count(*)::int as c from sync.batches`)[0].c as number;

    // Absorbed: a column added (seen by a pull), then dropped; no mapping uses it.
    await sleep(500);
    await app.alter(p.legacy, "alter table dispatch_office add column fax text", null);
    await waitFor("the added column", async () => (await drift(p)).length === 1);
    await app.alter(p.legacy, "alter table dispatch_office drop column fax", null);
    await waitFor("the dropped column", async () => (await drift(p)).length === 2);

    // Breaking: a used column renamed, a used column retyped, a table renamed, a key column renamed.
    await app.alter(p.legacy, "alter table dispatch_comment rename column text to body", "dispatch_comment", () => {
      app.commentText = "body";
    });
    await app.alter(p.legacy, "alter table dispatch_plan alter column version type text", null);
    await app.alter(p.legacy, "alter table dispatch_file_instruction rename to dispatch_file_link", "file", () => {
      app.fileTable = "dispatch_file_link";
    });
    await app.alter(
      p.legacy,
      "alter table dispatch_notification rename column id to notification_id",
      "dispatch_notification",
      () => {
        app.notificationKey = "notification_id";
      },
    );
    await waitFor("four paused entities", async () => {
      const [{ n }] = await p.target`select cardinality(sync._drift_paused()) as n`;
      return n === 4;
    });
    // The paused entities' keys keep being pulled (the cursor moves for everyone) and wait.
    const b0 = await batches();
    await sleep(1500);
    await waitFor("more pulls while paused", () => pulledAfter(b0 + 3));

    deepStrictEqual(await drift(p), [
      {
        entity: "offices",
        source_table: "public.dispatch_office",
        kind: "column_added",
        column_name: "fax",
        new_name: null,
        old_type: null,
        new_type: "text",
        action: "absorbed",
        resolved: true,
      },
      {
        entity: "offices",
        source_table: "public.dispatch_office",
        kind: "column_dropped",
        column_name: "fax",
        new_name: null,
        old_type: "text",
        new_type: null,
        action: "absorbed",
        resolved: true,
      },
      {
        entity: "case_files",
        source_table: "public.dispatch_file_instruction",
        kind: "table_renamed",
        column_name: null,
        new_name: "public.dispatch_file_link",
        old_type: null,
        new_type: null,
        action: "paused",
        resolved: false,
      },
      {
        entity: "case_messages",
        source_table: "public.dispatch_comment",
        kind: "column_renamed",
        column_name: "text",
        new_name: "body",
        old_type: "text",
        new_type: "text",
        action: "paused",
        resolved: false,
      },
      {
        entity: "system_messages",
        source_table: "public.dispatch_notification",
        kind: "column_renamed",
        column_name: "id",
        new_name: "notification_id",
        old_type: "integer",
        new_type: "integer",
        action: "paused",
        resolved: false,
      },
      {
        entity: "treatment_plans",
        source_table: "public.dispatch_plan",
        kind: "column_retyped",
        column_name: "version",
        new_name: null,
        old_type: "integer",
        new_type: "text",
        action: "paused",
        resolved: false,
      },
    ]);
    const alerts = [
      ...await p.target`select kind, severity, dedup_key, message, occurrences from sync.alerts
                                       where kind = 'source_drift' and resolved_at is null order by dedup_key`,
    ];
    deepStrictEqual(alerts, [
      {
        kind: "source_drift",
        severity: "warning",
        dedup_key: "source_drift:case_files",
        message: "entity case_files is paused: a source change breaks its mapping (table_renamed -> " +
          "public.dispatch_file_link); its changes wait until the mapping is updated",
        occurrences: 1,
      },
      {
        kind: "source_drift",
        severity: "warning",
        dedup_key: "source_drift:case_messages",
        message: "entity case_messages is paused: a source change breaks its mapping (column_renamed text -> body); " +
          "its changes wait until the mapping is updated",
        occurrences: 1,
      },
      {
        kind: "source_drift",
        severity: "info",
        dedup_key: "source_drift:offices:absorbed",
        message: "source table public.dispatch_office of entity offices changed in columns its mapping does not use " +
          "(column_dropped fax); its foreign table was re-imported",
        occurrences: 2,
      },
      {
        kind: "source_drift",
        severity: "warning",
        dedup_key: "source_drift:system_messages",
        message: "entity system_messages is paused: a source change breaks its mapping (column_renamed id -> " +
          "notification_id); its changes wait until the mapping is updated",
        occurrences: 1,
      },
      {
        kind: "source_drift",
        severity: "warning",
        dedup_key: "source_drift:treatment_plans",
        message: "entity treatment_plans is paused: a source change breaks its mapping (column_retyped version -> " +
          "text); its changes wait until the mapping is updated",
        occurrences: 1,
      },
    ]);
    const [{ h }] = await p.target`select sync.health() as h`;
    deepStrictEqual(h.status, "degraded");
    deepStrictEqual(h.source_drift.paused, ["case_files", "case_messages", "system_messages", "treatment_plans"]);
    deepStrictEqual(h.source_drift.open.length, 4);

    // Stop the stream, drain: the entities that depend on no paused one are exact; the paused ones wait, pending.
    app.stop = true;
    await Promise.all(writers);
    ticking = false;
    await ticker;
    await drain(p);
    for (const e of UNAFFECTED) deepStrictEqual(await oracleDiff(p.target, e), [], e);
    const waiting = [
      ...await p.target`
      select entity, count(*) filter (where image = '{"unread": "paused by source drift"}')::int > 0 as marked
        from sync.inbox where status = 'pending' group by entity order by entity`,
    ];
    deepStrictEqual(waiting, [
      { entity: "case_files", marked: true },
      { entity: "case_messages", marked: true },
      { entity: "system_messages", marked: true },
      { entity: "treatment_plans", marked: true },
    ]);
    // Nothing of a paused entity was applied: every marked change waits, pending.
    deepStrictEqual(
      [...await p.target`select distinct status from sync.inbox where image = '{"unread": "paused by source drift"}'`],
      [{ status: "pending" }],
    );
    const writesDuringPause = app.writes;

    // Ship the mapping updates (what the pack's migration would do), under the stream again.
    await p.target.unsafe(`
      do $$ begin
        execute replace(replace(pg_get_functiondef('sync.transform_case_messages'::regproc),
                                $x$image ->> 'text'$x$, $x$image ->> 'body'$x$), $x$image -> 'text'$x$, $x$image -> 'body'$x$);
        execute replace(pg_get_functiondef('sync.transform_treatment_plans'::regproc),
                        $x$i.image -> 'version'$x$, $x$(i.image ->> 'version')::integer$x$);
      end $$;
      update sync.entities set source_columns = array_replace(source_columns, 'text', 'body') where name = 'case_messages';
      update sync.entities set source_table = 'public.dispatch_file_link' where name = 'case_files';
      update sync.entities set source_pk = 'notification_id' where name = 'system_messages';`);
    app.stop = false;
    ticking = true;
    const writers2 = [1, 2, 3, 4].map((w) => app.writer(w));
    const ticker2 = (async () => {
      while (ticking) {
        await tick(p.target, 2);
        ticks++;
        await sleep(50);
      }
    })();
    await waitFor("every entity resumed", async () => {
      const [{ n }] = await p.target`select cardinality(sync._drift_paused()) as n`;
      return n === 0;
    });
    await sleep(1500);
    app.stop = true;
    await Promise.all(writers2);
    ticking = false;
    await ticker2;
    await drain(p);

    deepStrictEqual(app.errors, []);
    ok(app.writes > writesDuringPause + 20 && writesDuringPause > 50, `writes: ${writesDuringPause}, ${app.writes}`);
    ok(ticks >= 3, `ticks: ${ticks}`);
    deepStrictEqual((await drift(p)).map((d) => d.resolved), [true, true, true, true, true, true]);
    deepStrictEqual(
      [
        ...await p.target`select dedup_key, details ->> 'resolved' as why from sync.alerts
                          where kind = 'source_drift' and severity = 'warning' and resolved_at is not null order by 1`,
      ]
        .map((a) => a.dedup_key),
      [
        "source_drift:case_files",
        "source_drift:case_messages",
        "source_drift:system_messages",
        "source_drift:treatment_plans",
      ],
    );
    const [{ h: after }] = await p.target`select sync.health() as h`;
    deepStrictEqual(after.source_drift, { paused: [], open: [] });
    deepStrictEqual([...await p.target`select entity, status from sync.inbox where status = 'pending'`], []);

    // The oracle reads the source through the foreign tables by the old names: point them at the new ones.
    await p.target.unsafe(`
      alter foreign table sync_src.dispatch_comment rename column body to text;
      alter foreign table sync_src.dispatch_plan alter column version type integer;
      alter foreign table sync_src.dispatch_file_link rename to dispatch_file_instruction;
      alter foreign table sync_src.dispatch_notification rename column notification_id to id;`);
    deepStrictEqual(await oracleDiff(p.target), []);
  } finally {
    app.stop = true;
    ticking = false;
    await p.close();
  }
});
