/**
 * The soak's machinery in the suite (scripts/lib/soak.ts; `deno task soak` runs it for minutes): a fixed seed, the
 * stream through the deployed path (pg_cron → pg_net worker → gateway → `sync` function → `sync.tick`), every fault
 * kind once (the tick's backend killed mid-pull, mid-apply and mid-verify, the source refusing the reader, a target
 * constraint rejecting some rows, a manual trigger during a scheduled tick), then the drain and the exact
 * comparison. pg_cron 1.4 (Debian's) runs minute schedules, and a kill or an outage ends the tick it hits, so the
 * four tick faults take four ticks at least: six to seven minutes here.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { paths, TEST } from "../../scripts/lib/stack.ts";
import { LEGACY_ROLES } from "../../scripts/lib/testenv.ts";
import { FAULT_KINDS, formatSoak, planFaults, runSoak, TICK_FAULTS } from "../../scripts/lib/soak.ts";
import { freshPair } from "./_helpers.ts";

const SEED = 20261214;

Deno.test("soak planFaults gives every tick fault a tick of its own and every kind a moment, from the seed alone", () => {
  const plan = planFaults(SEED, 60, 60);
  deepStrictEqual(plan, planFaults(SEED, 60, 60));
  deepStrictEqual(plan.span, 240);
  deepStrictEqual(plan.ticks.map((f) => f?.kind).sort(), [...TICK_FAULTS].sort());
  deepStrictEqual(plan.timed.map((f) => f.kind).sort(), ["constraint", "manual_trigger"]);
  for (const f of plan.timed) ok(f.at >= 0 && f.at + (f.seconds ?? 0) <= plan.span, JSON.stringify(f));
  const long = planFaults(SEED, 1800, 60);
  deepStrictEqual(long.ticks.length, 30);
  for (const k of FAULT_KINDS) ok([...long.ticks.map((f) => f?.kind), ...long.timed.map((f) => f.kind)].includes(k));
});

Deno.test("soak: every fault kind through the deployed path, then the target equals the oracle exactly", async () => {
  const p = await freshPair("soak");
  try {
    const [{ c }] = await p.target`select sync.connect_source(${p.legacyConninfo}) as c`;
    ok(c.connected, JSON.stringify(c.error));
    const [{ summary }] = await p.target`call sync.backfill(null, null)`;
    deepStrictEqual(summary.status, "succeeded");
    const r = await runSoak({
      cronAdminUrl: paths(TEST).adminUrl,
      targetUrl: p.targetUrl,
      legacyUrl: p.legacyUrl,
      reader: LEGACY_ROLES.reader.user,
    }, { seconds: 60, rate: 100, seed: SEED });
    console.log(formatSoak(r));
    deepStrictEqual([...new Set(r.faults.map((f) => f.kind))].sort(), [...FAULT_KINDS].sort());
    deepStrictEqual(r.faults.filter((f) => !f.ok), []);
    deepStrictEqual(r.problems, []);
    deepStrictEqual(r.unexplained, []);
    deepStrictEqual(r.differences, []);
    ok(r.quarantine.constraint > 0, "the constraint quarantined nothing");
  } finally {
    await p.close();
  }
});
