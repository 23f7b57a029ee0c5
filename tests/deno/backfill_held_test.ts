/**
 * A backfill's rows that cannot apply enter the inbox as they are held: quarantined with their
 * reason, message and quarantine row, or parked on their missing parent; each open once. A second
 * backfill supersedes them (and releases their quarantine) with its own, chunk by chunk, in chunks
 * that come after chunks of the same entity that already quarantined rows.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { freshPair, oracleDiff, tick } from "./_helpers.ts";

type Held = [string, string, string, string | null, boolean, number];

Deno.test("a backfill's quarantined and parked rows enter the inbox as such, once; the next backfill supersedes them", async () => {
  const p = await freshPair("held");
  try {
    await p.legacy`select count(*) from demo_gen.generate(0.02, 13)`;
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    await p.target`select sync.set_config('{"backfill_batch_size": 250}')`;

    // What the mapping holds back: quarantined with a reason, or parked on a missing recipient.
    const expected: Held[] = [
      ...(await p.target`select entity, legacy_id::text as id, reason from oracle.expected_quarantine()`)
        .map((r): Held => [r.entity, r.id, "quarantined", r.reason, false, 0]),
      ...(await p.target`select entity, legacy_id::text as id from oracle.expected_parked()`)
        .map((r): Held => [r.entity, r.id, "parked", null, true, 1]),
    ].sort();
    const statuses = new Set(expected.map((h) => h[2]));
    ok(statuses.has("quarantined") && statuses.has("parked"), `the data holds rows back both ways: ${[...statuses]}`);
    const held = async (run: number) =>
      (await p.target`
        select i.entity, i.legacy_id::text as id, i.status, i.reason, q.reason as q_reason, i.message, q.message as q_message,
               i.parent_legacy_id is not null as has_parent, i.attempts, i.run_id, i.image is not null as has_image,
               q.inbox_id = i.id as q_points
          from sync.inbox i
          left join sync.quarantine q on q.entity = i.entity and q.legacy_id = i.legacy_id and q.released_at is null
         where i.status in ('pending', 'parked', 'quarantined', 'conflict')`).map((r) => {
        deepStrictEqual(
          [r.run_id, r.has_image],
          [String(run), true],
          `${r.entity} ${r.id}: from run ${run}, with its image`,
        );
        if (r.status === "quarantined") {
          deepStrictEqual([r.q_reason, r.q_message, r.q_points], [r.reason, r.message, true], `${r.entity} ${r.id}`);
          ok(r.message, `${r.entity} ${r.id} has a message`);
        }
        return [r.entity, r.id, r.status, r.reason, r.has_parent, r.attempts] as Held;
      }).sort();

    const [{ summary: first }] = await p.target`call sync.backfill(null, null)`;
    deepStrictEqual(first.status, "succeeded");
    deepStrictEqual(await held(first.run_id), expected);
    // Several chunks of an entity hold rows back: the later ones find the run's own open rows.
    const [{ chunks }] = await p.target`
      select max(n)::int as chunks from (
        select q.entity, count(distinct c.after) as n from oracle.expected_quarantine() q
          join sync.backfill_chunks c on c.run_id = ${first.run_id} and c.entity = q.entity
                                     and q.legacy_id > c.after and q.legacy_id <= c.upto
         group by 1) x`;
    ok(chunks > 3, `an entity quarantines rows in ${chunks} chunks`);
    const [{ open }] = await p.target`select count(*)::int as open from sync.quarantine where released_at is null`;
    deepStrictEqual(open, expected.filter((h) => h[2] === "quarantined").length);

    // A second full backfill: each held row is superseded by the new run's, its quarantine released.
    const [{ summary: second }] = await p.target`call sync.backfill(null, null)`;
    deepStrictEqual(second.status, "succeeded");
    deepStrictEqual(await held(second.run_id), expected);
    const superseded = await p
      .target`select run_id, count(*)::int as n from sync.inbox where status = 'superseded' group by 1`;
    deepStrictEqual([...superseded], [{ run_id: String(second.run_id), n: expected.length }]);
    const released = await p.target`
      select resolution, count(*)::int as n from sync.quarantine where released_at is not null group by 1`;
    deepStrictEqual([...released], [{
      resolution: "backfill",
      n: expected.filter((h) => h[2] === "quarantined").length,
    }]);

    await tick(p.target);
    deepStrictEqual(await oracleDiff(p.target), []);
  } finally {
    await p.close();
  }
});
