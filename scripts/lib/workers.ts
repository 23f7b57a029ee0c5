/**
 * The work that several sessions share, run the way an operator runs it on a machine with cores to spare: a
 * full backfill (`call sync.backfill()` in one session, `call sync.backfill_worker()` in `workers - 1` more)
 * and a deep verification (`select sync.verify(true)` beside `call sync.verify_worker()`), each helper taking
 * chunks side by side with the leading session.
 */
import postgres from "postgres";

/** What `sync.backfill` returns (the run's summary). */
export type BackfillSummary = {
  status: string;
  error?: unknown;
  progress: { done: number; entities: Record<string, { done: number; ms: number }> };
};

/** What `sync.verify` returns. */
export type VerifySummary = {
  ok: boolean;
  run_id: number;
  entities: Record<string, { counts: { source: number }; drift: Record<string, unknown> }>;
};

/**
 * Runs `lead` in one session of `url` and `help` in `workers - 1` more, each called again while it answers
 * idle (the leading session has not started yet) until the lead is finished. Returns the lead's answer and
 * the chunks each helper took.
 */
async function sideBySide<T>(
  url: string,
  workers: number,
  lead: (sql: postgres.Sql) => Promise<T>,
  help: (sql: postgres.Sql) => Promise<{ status: string; chunks?: number }>,
): Promise<{ summary: T; helped: number[] }> {
  const sessions = Array.from({ length: Math.max(1, workers) }, () => postgres(url, { max: 1, onnotice: () => {} }));
  const [leader, ...helpers] = sessions;
  try {
    let finished = false;
    const leading = lead(leader).finally(() => (finished = true));
    const helping = helpers.map(async (h) => {
      while (!finished) {
        const summary = await help(h);
        if (summary.status === "idle") await new Promise((r) => setTimeout(r, 20));
        else return Number(summary.chunks ?? 0);
      }
      return 0;
    });
    const [summary, helped] = await Promise.all([leading, Promise.all(helping)]);
    return { summary, helped };
  } finally {
    await Promise.all(sessions.map((s) => s.end()));
  }
}

/**
 * Runs `sync.backfill(entity)` on `url` with `workers - 1` helper sessions (`sync.backfill_worker`), which join
 * once the run has started and stop when nothing is left. Returns the backfill's summary and the chunks each
 * helper copied.
 */
export function backfillWithWorkers(
  url: string,
  workers: number,
  entity: string | null = null,
): Promise<{ summary: BackfillSummary; helped: number[] }> {
  return sideBySide(
    url,
    workers,
    async (sql) => (await sql`call sync.backfill(${entity}, null)`)[0].summary as BackfillSummary,
    async (sql) => (await sql`call sync.backfill_worker(null)`)[0].summary,
  );
}

/**
 * Runs the deep verification `sync.verify(true)` on `url` with `workers - 1` helper sessions
 * (`sync.verify_worker`), which check drift chunks side by side with it until it ends. Returns the
 * verification's result and the chunks each helper checked.
 */
export function verifyWithWorkers(url: string, workers: number): Promise<{ summary: VerifySummary; helped: number[] }> {
  return sideBySide(
    url,
    workers,
    async (sql) => (await sql`select sync.verify(true) as v`)[0].v as VerifySummary,
    async (sql) => (await sql`call sync.verify_worker(null, 0)`)[0].summary,
  );
}
