/**
 * The read-only pgTAP suite for live deployments (supabase/tests/sync_live.test.sql) through pg_prove, as an operator
 * runs it against the hosted target: it passes on a synced target, and on a deliberately broken one it fails naming
 * the broken invariant, the entity and the legacy id.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { run } from "../../scripts/lib/run.ts";
import { ROOT } from "../../scripts/lib/stack.ts";
import { freshPair } from "./_helpers.ts";

async function prove(url: string): Promise<{ code: number; out: string }> {
  const r = await run(["pg_prove", "--verbose", "-d", url, "supabase/tests/sync_live.test.sql"], {
    cwd: ROOT,
    allowFail: true,
  });
  return { code: r.code, out: r.stdout + r.stderr };
}

Deno.test("live pgTAP suite: passes on a synced target, fails naming the invariant on a broken one", async () => {
  const p = await freshPair("live_suite");
  try {
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    await p.target`call sync.backfill(null, null)`;
    const good = await prove(p.targetUrl);
    deepStrictEqual([good.code, good.out.match(/^ok \d+/gm)?.length], [0, 6], good.out);

    // Break it: a target row lost (the id map still names it), a live patient under a soft-deleted office.
    const [{ lost }] = await p.target`select min(legacy_transaction_id) as lost from public.operations`;
    await p.target`delete from public.operations where legacy_transaction_id = ${lost}`;
    const [{ office }] = await p.target`select o.legacy_office_id as office from public.offices o
                                         where exists (select 1 from public.patients x where x.office_id = o.id)
                                         order by 1 limit 1`;
    await p.target`update public.offices set deleted_at = now() where legacy_office_id = ${office}`;
    const bad = await prove(p.targetUrl);
    ok(bad.code !== 0, bad.out);
    const failed = bad.out.match(/^not ok \d+ - .*$/gm) ?? [];
    deepStrictEqual(failed, [
      "not ok 2 - id_map_consistent: every mapped legacy id has its target row",
      "not ok 4 - no_orphaned_children: no live row references a deleted parent",
    ]);
    ok(bad.out.includes(`operations: 1 mapped legacy ids without their target row, e.g. [${lost}]`), bad.out);
    ok(/patients: \d+ live rows under a soft-deleted parent/.test(bad.out), bad.out);
  } finally {
    await p.close();
  }
});
