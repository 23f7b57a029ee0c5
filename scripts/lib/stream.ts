/** Drives demo_gen.stream_step() from several connections at a target rate. */
import postgres from "postgres";

/** Options for {@link runStream}. */
export interface StreamOptions {
  /** Transactions per second, over all clients. */
  rate: number;
  clients: number;
  signal: AbortSignal;
  onSecond?: (s: { total: number; perSecond: number }) => void;
}

/** Runs the stream until the signal aborts; returns how many transactions committed. */
export async function runStream(
  url: string,
  opts: StreamOptions,
): Promise<{ total: number; kinds: Record<string, number> }> {
  // A statement that waits on a lock longer than this is abandoned like a timed-out web request.
  const sql = postgres(url, { max: opts.clients, onnotice: () => {}, connection: { statement_timeout: 10000 } });
  const kinds: Record<string, number> = {};
  let total = 0;
  let lastTotal = 0;
  const ticker = setInterval(() => {
    opts.onSecond?.({ total, perSecond: total - lastTotal });
    lastTotal = total;
  }, 1000);
  const perClient = opts.rate / opts.clients;
  const worker = async () => {
    const t0 = performance.now();
    let n = 0;
    while (!opts.signal.aborted) {
      const due = t0 + (n * 1000) / perClient;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (opts.signal.aborted) break;
      try {
        const [row] = await sql`select demo_gen.stream_step() as kind`;
        kinds[row.kind] = (kinds[row.kind] ?? 0) + 1;
        total++;
      } catch (e) {
        // A random pick can race a concurrent cascade delete (a foreign key violation): the
        // legacy application would have shown an error page; the stream just moves on.
        if (!(e instanceof postgres.PostgresError)) throw e;
      }
      n++;
    }
  };
  await Promise.all(Array.from({ length: opts.clients }, worker));
  clearInterval(ticker);
  await sql.end();
  return { total, kinds };
}
