/**
 * Property 11 of tests/PROPERTIES.md (engine.md §9: alerts are delivered to the console log): sync.deliver_alerts
 * writes every alert it has not told yet, opened or resolved, as one line of the server log, and each line carries
 * the server's timestamp and the alert's severity, kind and message.
 */
import { deepStrictEqual } from "node:assert/strict";
import postgres from "postgres";
import { TEST } from "../../scripts/lib/stack.ts";
import { cloneDb, dropDb, TEMPLATES } from "../../scripts/lib/testenv.ts";
import { serverLogPath, sleep } from "./_helpers.ts";

/** The `sync alert` lines of one database in the server log, as [timestamp, message]. */
async function alertLines(db: string, want: number): Promise<string[][]> {
  const line = new RegExp(
    `^(\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3} [A-Za-z0-9+:-]+) \\[\\d+\\] ${db} LOG:  sync alert (.*)$`,
  );
  let found: string[][] = [];
  for (let i = 0; i < 50; i++) {
    found = (await Deno.readTextFile(serverLogPath())).split("\n").map((l) => l.match(line)).filter((m) => m !== null)
      .map((m) => [m![1], m![2]]);
    if (found.length >= want) break;
    await sleep(100);
  }
  return found;
}

Deno.test("sync.deliver_alerts logs each opened and resolved alert with its time and severity", async () => {
  const db = `d_property_alert_log_${Deno.pid}`;
  const sql = postgres(await cloneDb(TEST, TEMPLATES.target, db), { max: 1, onnotice: () => {} });
  try {
    // Four failed runs in a row after a success (the default threshold is more than 3): a critical alert opens.
    await sql`insert into sync.runs (mode, status, started_at, ended_at)
              values ('incremental', 'succeeded', now() - interval '5 minutes', now() - interval '5 minutes')`;
    await sql`insert into sync.runs (mode, status, started_at, ended_at)
              select 'incremental', 'failed', now(), now() from generate_series(1, 4)`;
    deepStrictEqual((await sql`select sync.evaluate_alerts() as e`)[0].e, { consecutive_failures: "firing" });
    await sql`select sync.deliver_alerts()`;
    const opened = await alertLines(db, 1);
    deepStrictEqual(opened.map((l) => l[1]), ["[critical] consecutive_failures: 4 runs failed in a row"]);

    // A run succeeds: the alert resolves and an info recovery opens; both are logged, once.
    await sql`insert into sync.runs (mode, status, started_at, ended_at) values ('incremental', 'succeeded', now(), now())`;
    await sql`select sync.evaluate_alerts()`;
    await sql`select sync.deliver_alerts()`;
    await sql`select sync.deliver_alerts()`;
    const all = await alertLines(db, 3);
    deepStrictEqual(all.map((l) => l[1]), [
      "[critical] consecutive_failures: 4 runs failed in a row",
      "[critical] resolved consecutive_failures: a run succeeded",
      "[info] recovery: recovered: consecutive_failures (a run succeeded)",
    ]);
    // Each line's timestamp is the server's time of the delivery, in order.
    const times = all.map((l) => l[0]);
    deepStrictEqual([...times].sort(), times);
  } finally {
    await sql.end();
    await dropDb(TEST, db);
  }
});
