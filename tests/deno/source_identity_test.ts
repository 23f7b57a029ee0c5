/**
 * The source's identity (engine.md §1): recorded at connect; a pull from a different or restored
 * source is refused (SY409, alert source_changed) instead of silently skipping changes below the
 * cursor, until a full backfill re-baselines it.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import postgres from "postgres";
import { TEST } from "../../scripts/lib/stack.ts";
import { cloneDb, dropDb, TEMPLATES } from "../../scripts/lib/testenv.ts";
import { freshPair, oracleDiff, tick } from "./_helpers.ts";

Deno.test("a pull from another source is refused until a full backfill re-baselines it", async () => {
  const p = await freshPair("identity");
  const copyName = `d_identity_copy_${Deno.pid}`;
  const copyUrl = await cloneDb(TEST, TEMPLATES.legacy, copyName);
  const copy = postgres(copyUrl, { max: 2, onnotice: () => {} });
  try {
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    await p.target`call sync.backfill(null, null)`;
    const [pt] = await p.legacy`select id from dispatch_patient order by id limit 1`;
    await p.legacy`update dispatch_patient set first_name = 'Original' where id = ${pt.id}`;
    deepStrictEqual((await tick(p.target)).status, "succeeded");
    const [{ identity: before }] = await p.target`select identity from sync.source`;

    // Pointed at another database (as after a restore to another server): the same rows, other ids.
    await copy`update dispatch_patient set first_name = 'Copy' where id = ${pt.id}`;
    const conninfo = p.legacyConninfo.replace(/dbname=\S+/, `dbname=${copyName}`);
    const [{ c }] = await p.target`select sync.connect_source(${conninfo}) as c`;
    deepStrictEqual(c.connected, true);
    const refused = await tick(p.target);
    deepStrictEqual(refused.status, "failed");
    const err = refused.error as Record<string, string>;
    deepStrictEqual([err.sqlstate, err.category, err.phase], ["SY409", "source", "pull"]);
    const alerts = await p
      .target`select kind, severity, acknowledged_at from sync.alerts where kind = 'source_changed'`;
    deepStrictEqual([...alerts], [{ kind: "source_changed", severity: "critical", acknowledged_at: null }]);
    const [{ identity: still }] = await p.target`select identity from sync.source`;
    deepStrictEqual(still, before, "the recorded identity is kept");
    const [{ name }] = await p
      .target`select first_name as name from public.patients where legacy_patient_id = ${pt.id}`;
    deepStrictEqual(name, "Original", "nothing was pulled from the other source");

    // A partial backfill does not re-baseline; a full one does, and the sync goes on exactly.
    const partial = await p.target`call sync.backfill('patients', null)`.catch((e) => e);
    deepStrictEqual(partial.code, "SY409");
    const [{ summary }] = await p.target`call sync.backfill(null, null)`;
    deepStrictEqual(summary.status, "succeeded");
    const [{ identity: after }] = await p.target`select identity from sync.source`;
    ok(after.database === copyName && JSON.stringify(after) !== JSON.stringify(before), JSON.stringify(after));
    const [{ open }] = await p.target`select count(*)::int as open from sync.alerts
                                      where kind = 'source_changed' and acknowledged_at is null and resolved_at is null`;
    deepStrictEqual(open, 0);
    await copy`update dispatch_patient set last_name = 'After' where id = ${pt.id}`;
    deepStrictEqual((await tick(p.target)).status, "succeeded");
    const [row] = await p.target`select first_name, last_name from public.patients where legacy_patient_id = ${pt.id}`;
    deepStrictEqual([row.first_name, row.last_name], ["Copy", "After"]);
    deepStrictEqual(await oracleDiff(p.target), []);
  } finally {
    await copy.end();
    await p.close();
    await dropDb(TEST, copyName);
  }
});
