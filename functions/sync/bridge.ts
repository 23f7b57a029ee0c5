/**
 * The HTTP bridge (transport `http`, engine.md §2): reads batches on a source the target cannot reach and hands
 * them to the target. One SQL call on each side per batch: `sync_capture.read_batch` on the source (REPEATABLE
 * READ: the batch's bound and its rows in one snapshot), `sync.ingest_batch` on the target (inbox and cursor in one
 * transaction, idempotent per batch), then `sync_capture.prune_log` on the source with the state the target
 * committed. The batch travels as text: it is never parsed here.
 */
import postgres from "postgres";
import { HttpError } from "../_shared/http.ts";

let client: postgres.Sql | undefined;

/**
 * The source client, made on first use from the secret `SYNC_SOURCE_URL` (the engine's reader role): one
 * connection, a guest's short lock and statement timeouts (engine.md §1).
 * @throws HttpError 500 when `SYNC_SOURCE_URL` is not set.
 */
export function sourceDb(): postgres.Sql {
  if (client) return client;
  const url = Deno.env.get("SYNC_SOURCE_URL");
  if (!url) throw new HttpError(500, "not_configured", "transport is http but the secret SYNC_SOURCE_URL is not set");
  client = postgres(url, {
    max: 1,
    idle_timeout: 20,
    connect_timeout: 10,
    onnotice: () => {},
    connection: {
      application_name: "legacy-sync-bridge",
      lock_timeout: 1000,
      statement_timeout: 15000,
      idle_in_transaction_session_timeout: 30000,
    },
  });
  return client;
}

/** What one drain moved. */
export interface BridgePull {
  batches: number;
  changes: number;
  rows: number;
  pull_ms: number;
  /** The source had nothing more up to its current snapshot. */
  drained: boolean;
}

interface Ingested {
  changes: number;
  rows: number;
  more: boolean;
  next: unknown;
  refused?: string;
}

/**
 * Pulls batch after batch into the target's inbox until the source is drained or `deadline` (epoch ms) passes.
 * @throws HttpError 409 `source_changed` when the source is not the one recorded; SY409 when another bridge moved
 * the cursor; the source's errors as they come.
 */
export async function pullBatches(target: postgres.Sql, source: postgres.Sql, deadline: number): Promise<BridgePull> {
  const t0 = performance.now();
  const [{ request: first }] = await target`select sync.get_bridge_request()::text as request`;
  let request: string = first;
  // Capture on the registered tables (what connect_source does over the FDW), and the prune that a crash after the
  // last ingest may have missed.
  await source`insert into sync_capture.tables (tbl, enabled, changed_at)
               select t ->> 'table', true, now() from jsonb_array_elements(${request}::text::jsonb -> 'tables') t
               on conflict (tbl) do update set enabled = true, changed_at = now() where not sync_capture.tables.enabled`;
  await source`select sync_capture.prune_log(${request}::text::jsonb)`;
  const out: BridgePull = { batches: 0, changes: 0, rows: 0, pull_ms: 0, drained: false };
  while (!out.drained && Date.now() < deadline) {
    const batch = await source.begin("isolation level repeatable read read only", async (tx) => {
      const [row] = await tx`select sync_capture.read_batch(${request}::text::jsonb)::text as batch`;
      return row.batch as string;
    });
    const [{ result }] = await target`select sync.ingest_batch(${batch}::text::jsonb) as result`;
    const r = result as Ingested;
    if (r.refused) {
      throw new HttpError(
        409,
        "source_changed",
        "the source is not the one connected: pulls are refused until a " +
          "full backfill re-baselines it",
      );
    }
    request = JSON.stringify(r.next);
    await source`select sync_capture.prune_log(${request}::text::jsonb)`;
    out.batches++;
    out.changes += r.changes;
    out.rows += r.rows;
    out.drained = r.rows === 0 && !r.more;
  }
  out.pull_ms = Math.round(performance.now() - t0);
  return out;
}
