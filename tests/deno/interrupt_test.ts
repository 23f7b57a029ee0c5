/**
 * Interrupted runs (engine.md §7): a tick cancelled by statement_timeout on a connection that
 * stays open, and ticks whose backend is terminated in the middle of pulls and applies while four
 * writers run, leave no lock held and no run `running`; the next tick marks them failed with
 * category interrupted, and the target ends exactly the mapping of the source.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import postgres from "postgres";
import { PG_BIN } from "../../scripts/lib/install.ts";
import { runStream } from "../../scripts/lib/stream.ts";
import { freshPair, oracleDiff, sleep, tick } from "./_helpers.ts";

Deno.test("a tick cancelled by statement_timeout leaves no lock: the next tick from another connection runs", async () => {
  const p = await freshPair("cancel");
  const pooled = postgres(p.targetUrl, { max: 1, onnotice: () => {} });
  try {
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    await p.target`call sync.backfill(null, null)`;
    // A backlog that takes the tick longer than the timeout.
    await p.legacy`update dispatch_patient set updated_at = updated_at + interval '1 second'`;
    await p.legacy`update dispatch_order set updated_at = updated_at + interval '1 second'`;
    await pooled`set statement_timeout = '150ms'`;
    const cancelled = await pooled`call sync.tick(50, null)`.catch((e) => e);
    deepStrictEqual(cancelled.code, "57014");
    // The connection stays open (as a pooler keeps it), idle.
    const [{ open }] = await pooled`select true as open`;
    deepStrictEqual(open, true);

    const next = await tick(p.target);
    deepStrictEqual(next.status, "succeeded");
    const runs = await p.target`select status, error ->> 'category' as category from sync.runs
                                where mode = 'incremental' order by id`;
    deepStrictEqual(runs.map((r) => [r.status, r.category]), [["failed", "interrupted"], ["succeeded", null]]);
    // The same pooled connection ticks again too.
    await pooled`set statement_timeout = 0`;
    deepStrictEqual((await pooled`call sync.tick(5, null)`)[0].summary.status, "succeeded");
    const [{ locks }] = await p.target`select count(*)::int as locks from pg_locks where locktype = 'advisory'`;
    deepStrictEqual(locks, 0);
    deepStrictEqual(await oracleDiff(p.target), []);
  } finally {
    await pooled.end();
    await p.close();
  }
});

Deno.test("ticks terminated mid-pull and mid-apply under four writers: no lock, no run left running, exact", async () => {
  const p = await freshPair("terminate");
  try {
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    await p.target`call sync.backfill(null, null)`;
    await p.target`select sync.set_config('{"batch_size": 300}')`;
    const abort = new AbortController();
    const stream = runStream(p.legacyUrl, { rate: 200, clients: 4, signal: abort.signal });
    let terminated = 0;
    const phases: string[] = [];
    for (let round = 0; round < 10; round++) {
      await sleep(300);
      // The tick runs in a psql process of its own, named so that its backend can be found.
      const child = new Deno.Command(`${PG_BIN}/psql`, {
        args: ["-X", "-q", "-d", p.targetUrl, "-c", "call sync.tick(30, null)"],
        env: { PGAPPNAME: "tick_under_test" },
        stdout: "null",
        stderr: "null",
      }).spawn();
      await sleep(50 + Math.random() * 400);
      // What the tick's backend is doing when it is killed: reading the source or writing here.
      const [victim] = await p.target`
        select pid, coalesce(wait_event_type, 'CPU') || ':' || coalesce(wait_event, '') as doing
          from pg_stat_activity where application_name = 'tick_under_test' and state = 'active'`;
      if (victim) {
        await p.target`select pg_terminate_backend(${victim.pid})`;
        terminated++;
        phases.push(victim.doing);
      }
      await child.status;
    }
    abort.abort();
    await stream;
    ok(terminated >= 5, `only ${terminated} ticks were caught running`);

    for (let i = 0; i < 10; i++) {
      const s = await tick(p.target, 10);
      deepStrictEqual(s.status, "succeeded", JSON.stringify(s.error));
      if (s.rows === 0) break;
    }
    const running = await p.target`select id from sync.runs where status = 'running'`;
    deepStrictEqual([...running], []);
    const [{ interrupted }] = await p.target`
      select count(*)::int as interrupted from sync.runs where status = 'failed' and error ->> 'category' = 'interrupted'`;
    ok(interrupted >= terminated - 1, `${interrupted} runs marked interrupted for ${terminated} terminated`);
    const [{ locks }] = await p.target`select count(*)::int as locks from pg_locks where locktype = 'advisory'`;
    deepStrictEqual(locks, 0);
    deepStrictEqual(await oracleDiff(p.target), [], `terminated while: ${phases.join(", ")}`);
  } finally {
    await p.close();
  }
});
