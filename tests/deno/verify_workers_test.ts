/**
 * A deep verification shared by several sessions (sync.verify and sync.verify_worker): its result is exactly the
 * one a single session finds (counts, drift, samples, the columns left unverifiable), each worker checks its share
 * of the chunks, a worker killed mid-chunk leaves its chunk to the verification, and drift in a chunk a worker
 * checked is reported. A worker with no deep verification to help (none in its own database), or under a capped
 * source load, returns at once.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import postgres from "postgres";
import { freshPair, sleep } from "./_helpers.ts";

type Summary = { status: string; run_id?: number; chunks?: number; error?: unknown };
type Verify = { ok: boolean; run_id: number; entities: Record<string, Record<string, unknown>> };

/** The result without what differs between two runs of the same check (their ids and times). */
function comparable(v: Verify): Record<string, unknown> {
  return Object.fromEntries(Object.entries(v.entities).map(([name, e]) => [name, { ...e }]));
}

Deno.test("deep verification with two workers beside it: the single session's result, drift found in their chunks", async () => {
  const p = await freshPair("vworkers");
  const other = await freshPair("vworkers_other");
  const sessions = [0, 1, 2].map(() => postgres(p.targetUrl, { max: 1, onnotice: () => {} }));
  const [lead, w1, w2] = sessions;
  try {
    await p.legacy`select count(*) from demo_gen.generate(0.05, 7)`;
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    await p.target`select sync.set_config('{"backfill_batch_size": 400, "auto_repair": false}')`;
    const [{ summary: backfill }] = await lead`call sync.backfill(null, null)`;
    deepStrictEqual(backfill.status, "succeeded");

    const [{ summary: idle }] = await w1`call sync.verify_worker(null, 0)`;
    deepStrictEqual(idle, { status: "idle" }, "nothing to help before a deep verification starts");

    // Drift on the target: one comment in every 97 (every chunk of 400 has some), and the last office.
    const [{ n: edited }] = await p.target`
      with e as (update public.case_messages set content = content || ' (edited)'
                  where legacy_comment_id % 97 = 5 returning 1) select count(*)::int as n from e`;
    ok(edited > 20, `${edited} comments edited`);
    await p.target`update public.offices set name = 'Drifted'
                    where legacy_office_id = (select max(legacy_office_id) from public.offices)`;

    const [{ v: alone }] = await lead`select sync.verify(true) as v`;
    deepStrictEqual((alone.entities.case_messages.drift as { drifted: number }).drifted, edited);
    deepStrictEqual((alone.entities.offices.drift as { drifted: number }).drifted, 1);

    // The same check with two workers; the second is killed in the middle of a chunk.
    const [{ pid: w2pid }] = await w2`select pg_backend_pid() as pid`;
    const helping = [w1, w2].map((w) =>
      w`call sync.verify_worker(null, 30)`.then(
        ([r]) => r.summary as Summary,
        (e): Summary => ({ status: "killed", error: e }),
      )
    );
    await sleep(100);
    const leading = lead`select sync.verify(true) as v`.then(([r]) => r.v as Verify);
    for (let i = 0; i < 1000; i++) {
      const [{ n }] = await p.target`select count(*)::int as n from pg_locks
                                      where pid = ${w2pid} and locktype = 'advisory' and objsubid = 2`;
      if (n > 0) break;
      await sleep(5);
    }
    // A sync in another database of the same cluster sees no deep verification to help (pg_locks lists them all).
    const [{ summary: elsewhere }] = await other.target`call sync.verify_worker(null, 0)`;
    deepStrictEqual(elsewhere, { status: "idle" }, "another database's verification is not this one's");
    await p.target`select pg_terminate_backend(${w2pid})`;
    const [first, second] = await Promise.all(helping);
    const shared = await leading;

    deepStrictEqual(second.status, "killed");
    deepStrictEqual(first.status, "done");
    deepStrictEqual(first.run_id, shared.run_id);
    ok((first.chunks ?? 0) > 3, `the worker checked ${first.chunks} chunks`);
    deepStrictEqual(comparable(shared), comparable(alone), "exactly what one session finds");
    deepStrictEqual(shared.ok, false);
    const [{ n: left }] = await p.target`select count(*)::int as n from sync.verify_chunks`;
    deepStrictEqual(left, 0, "the workers' results go with the verification");

    await p.target`select sync.set_config('{"source_load": {"max_rows_per_second": 100000}}')`;
    const throttling = w1`call sync.verify_worker(null, 30)`.then(([r]) => r.summary as Summary);
    await sleep(100);
    const [{ v: capped }] = await lead`select sync.verify(true) as v`;
    deepStrictEqual((await throttling).status, "throttled", "a capped source keeps one session");
    deepStrictEqual(comparable(capped), comparable(alone));
  } finally {
    await Promise.all(sessions.map((s) => s.end({ timeout: 1 })));
    await p.close();
    await other.close();
  }
});
