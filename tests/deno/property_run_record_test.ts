/**
 * Properties 5, 6, 7, 9, 16, 23, 24 of tests/PROPERTIES.md: what a tick leaves in its run record (sync.runs), read
 * back from the table rather than from the summary the call returns: trigger, caller, start and end, counts per
 * entity and outcome, the per-phase timings, throughput and the after-run verification result; and, per legacy
 * row, the inbox rows that name the run with the operation and its outcome, so that the runs of one row are found.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { freshPair } from "./_helpers.ts";

Deno.test("sync.tick records each run with trigger, start, end, counts, phase timings, throughput and verification", async () => {
  const p = await freshPair("property_run", { empty: true });
  try {
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    await p
      .legacyApp`insert into dispatch_office (id, name, phone, address, city, state, zip_code, is_active, created_at,
                                                   updated_at)
                      select g, 'Office ' || g, '', '', 'Humble', 'TX', '', true, now(), now() from generate_series(1, 3) g`;
    const read = async (id: number) =>
      (await p.target`select mode, status, trigger, caller, started_at, ended_at, counts, timings, summary, error
                      from sync.runs where id = ${id}`)[0];
    const trace = async (id: number) =>
      (await p.target`select entity, legacy_id::int, op, status from sync.inbox where run_id = ${id}
                      order by legacy_id, id`).map((r) => [r.entity, r.legacy_id, r.op, r.status]);

    const before = Date.now();
    const [{ summary }] = await p.target`call sync.tick(20, null, 'schedule', 'property-test')`;
    const after = Date.now();
    const run = await read(summary.run_id);
    deepStrictEqual(
      [run.mode, run.status, run.trigger, run.caller, run.error],
      ["incremental", "succeeded", "schedule", "property-test", null],
    );
    const started = run.started_at.getTime();
    const ended = run.ended_at.getTime();
    ok(before - 1000 <= started && started <= ended && ended <= after + 1000, JSON.stringify([before, run, after]));
    deepStrictEqual(run.counts, { offices: { inserted: 3 } });
    deepStrictEqual(Object.keys(run.timings).sort(), ["apply_ms", "backfill_ms", "pull_ms", "total_ms", "verify_ms"]);
    ok(Math.abs(ended - started - run.timings.total_ms) < 1000, JSON.stringify(run.timings));
    deepStrictEqual(run.summary.verify, { ok: true, repaired: {}, problems: [] });
    deepStrictEqual(run.summary.rows, 3);
    const rate = 3 / (run.timings.total_ms / 1000);
    ok(Math.abs(run.summary.throughput - rate) <= 0.1 + rate * 0.05, JSON.stringify([run.summary.throughput, rate]));
    deepStrictEqual(run.summary, summary, "the stored summary is the one the call returned");
    deepStrictEqual(await trace(summary.run_id), [
      ["offices", 1, "upsert", "applied"],
      ["offices", 2, "upsert", "applied"],
      ["offices", 3, "upsert", "applied"],
    ]);

    // A second run: an update and a delete, counted apart and traced per row.
    await p.legacyApp`update dispatch_office set name = 'Renamed' where id = 2`;
    await p.legacyApp`delete from dispatch_office where id = 3`;
    const [{ summary: second }] = await p.target`call sync.tick(20, null)`;
    const run2 = await read(second.run_id);
    deepStrictEqual([run2.status, run2.trigger, run2.counts], ["succeeded", "manual", {
      offices: { updated: 1, deleted: 1 },
    }]);
    deepStrictEqual(await trace(second.run_id), [["offices", 2, "upsert", "applied"], [
      "offices",
      3,
      "delete",
      "applied",
    ]]);

    // The runs of one legacy row, newest first; of an entity; neither for a row nothing touched.
    const ids = async (entity: string, legacyId: number | null) =>
      (await p.target`select sync.list_runs(entity => ${entity}, legacy_id => ${legacyId}::bigint) as l`)[0].l.items
        .map((r: { id: number }) => r.id);
    deepStrictEqual(await ids("offices", 2), [second.run_id, summary.run_id]);
    deepStrictEqual(await ids("offices", 1), [summary.run_id]);
    deepStrictEqual(await ids("offices", 99), []);
  } finally {
    await p.close();
  }
});
