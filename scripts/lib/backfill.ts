/**
 * A full backfill the way an operator runs it on a machine with cores to spare: `call sync.backfill()` in one
 * session and `call sync.backfill_worker()` in `workers - 1` more, each copying chunks side by side with it.
 */
import postgres from "postgres";

/** What `sync.backfill` returns (the run's summary). */
export type BackfillSummary = {
  status: string;
  error?: unknown;
  progress: { done: number; entities: Record<string, { done: number; ms: number }> };
};

/**
 * Runs `sync.backfill(entity)` on `url` with `workers - 1` helper sessions (`sync.backfill_worker`), which join
 * once the run has started and stop when nothing is left. Returns the backfill's summary and the chunks each
 * helper copied.
 */
export async function backfillWithWorkers(
  url: string,
  workers: number,
  entity: string | null = null,
): Promise<{ summary: BackfillSummary; helped: number[] }> {
  const sessions = Array.from({ length: Math.max(1, workers) }, () => postgres(url, { max: 1, onnotice: () => {} }));
  const [lead, ...helpers] = sessions;
  try {
    let finished = false;
    const leading = lead`call sync.backfill(${entity}, null)`.then(([r]) => r.summary as BackfillSummary)
      .finally(() => (finished = true));
    const helping = helpers.map(async (h) => {
      // Idle until the backfill has taken the applier; done when it has nothing left to copy.
      while (!finished) {
        const [{ summary }] = await h`call sync.backfill_worker(null)`;
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
