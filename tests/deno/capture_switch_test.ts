/**
 * The capture mode changed after pulls began (engine.md §1; connect_source and the pull follow `capture`): the pull
 * refuses until connect_source runs again, which re-baselines: the new mode starts at its own "now", and a full
 * backfill (trigger `rebaseline`) that ticks advance re-reads every row and deletes what the source no longer has. Before
 * each switch the application changes rows that the old mode never pulls (an update of a table without a timestamp,
 * a delete, an insert); after the switch the target equals the oracle's expectation exactly.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { freshPair, oracleDiff, tick } from "./_helpers.ts";
import { installLogical } from "./_transport.ts";

Deno.test("capture mode switches re-baseline and lose nothing: trigger → logical → polling → trigger", async () => {
  const p = await freshPair("capture_switch");
  try {
    let conninfo = p.legacyConninfo;
    const connect = async (mode: string) => {
      await p.target.unsafe(`select sync.set_config('{"capture": "${mode}"}')`);
      const [{ c }] = await p.target`select sync.connect_source(${conninfo}) as c`;
      deepStrictEqual([c.connected, c.capture], [true, mode], JSON.stringify(c));
      return c;
    };
    const drain = async () => {
      for (let i = 0; i < 40; i++) {
        const s = await tick(p.target, 10);
        ok(s.status === "succeeded", JSON.stringify(s.error));
        const [{ open }] = await p.target`select count(*)::int as open from sync.runs
                                           where mode = 'backfill' and status not in ('succeeded', 'cancelled')`;
        if (s.rows === 0 && open === 0) return;
      }
      throw new Error("not drained after 40 ticks");
    };
    /** What no mode pulls once it has been switched away from: the next mode's re-baseline must find it. */
    const change = async (tag: string) => {
      await p.legacyApp`update auth_user set first_name = ${tag} where id = (select min(id) from auth_user)`;
      await p.legacyApp`delete from dispatch_comment where id = (select max(id) from dispatch_comment)`;
      await p.legacyApp`insert into dispatch_office (name, phone, address, city, state, zip_code, is_active, created_at,
                                                     updated_at)
                        values (${tag}, '', '', '', '', '', true, now() - interval '1 day', now() - interval '1 day')`;
    };

    await connect("trigger");
    await p.target`call sync.backfill(null, null)`;
    await drain();
    deepStrictEqual(await oracleDiff(p.target), []);

    // Configured but not reconnected: refused, saying what to do.
    await p.target`select sync.set_config('{"capture": "polling"}')`;
    const refused = await tick(p.target, 2);
    ok(
      String((refused.error as Record<string, string>).message).includes(
        "the source was connected with capture trigger and capture is now polling",
      ),
      JSON.stringify(refused.error),
    );

    for (const mode of ["logical", "polling", "trigger"]) {
      await change(`Before ${mode}`);
      if (mode === "logical") conninfo = await installLogical(p);
      const c = await connect(mode);
      ok(typeof c.rebaseline_run === "number", JSON.stringify(c));
      await change(`After ${mode}`);
      await drain();
      const [run] = await p.target`select status, trigger from sync.runs where id = ${c.rebaseline_run}`;
      deepStrictEqual({ ...run }, { status: "succeeded", trigger: "rebaseline" });
      if (mode === "polling") {
        // Polling sees deletes and untimestamped tables only by reconciliation: one round now.
        await p.target`update sync.poll_state set reconciled_at = null`;
        await drain();
      }
      deepStrictEqual(await oracleDiff(p.target), [], `after switching to ${mode}`);
    }
    // Trigger capture was switched off while another mode captured, and is on again.
    const [{ on }] = await p.legacy`select count(*)::int as on from sync_capture.tables where enabled`;
    const [{ tables }] = await p.target`select count(*)::int as tables from sync.entities where available`;
    deepStrictEqual(on, tables);
  } finally {
    await p.close();
  }
});
