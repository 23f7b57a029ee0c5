/**
 * `POST /sync/tick` (admin), the scheduled call (pg_cron → pg_net): one tick,
 * `{max_seconds?, idle_seconds?}` (it keeps polling while idle for idle_seconds); its summary, or 409 with the
 * running run. Recorded with trigger `schedule` and the verified caller. With transport `http` the function pulls
 * first (the bridge, ../bridge.ts) and `sync.tick` only applies; the summary then carries `bridge`
 * {batches, changes, rows, pull_ms}.
 */
import { z } from "zod";
import type { Ctx } from "../context.ts";
import { type BridgePull, pullBatches, sourceDb } from "../bridge.ts";
import { errorResponse, HttpError } from "../../_shared/http.ts";

const Body = z.object({
  max_seconds: z.number().int().min(1).max(140).optional(),
  idle_seconds: z.number().int().min(0).max(140).optional(),
}).strict();

type Summary = Record<string, unknown>;

async function runTick(ctx: Ctx, seconds: number, idle: number): Promise<Summary> {
  const [row] = await ctx.sql`call sync.tick(${seconds}, null, 'schedule', ${ctx.caller.id}, ${idle})`;
  return row.summary as Summary;
}

/** Pulls over the bridge; a source that cannot be read answers 503 with its SQLSTATE or error code only. */
async function pull(ctx: Ctx, deadline: number): Promise<BridgePull> {
  try {
    return await pullBatches(ctx.sql, sourceDb(), deadline);
  } catch (e) {
    if (e instanceof HttpError || /^SY\d{3}$/.test(String((e as { code?: unknown })?.code))) throw e;
    const code = String((e as { code?: unknown })?.code ?? "unknown");
    throw new HttpError(503, "source_unavailable", `the source could not be read (${code})`);
  }
}

export async function tick(ctx: Ctx): Promise<Response> {
  const { max_seconds, idle_seconds } = Body.parse(await ctx.body());
  const seconds = max_seconds ?? 50;
  const [{ transport }] = await ctx.sql`select sync.get_config() ->> 'transport' as transport`;
  let summary: Summary;
  if (transport === "http") {
    const start = Date.now();
    const deadline = start + seconds * 1000;
    const idleUntil = Math.min(deadline, start + (idle_seconds ?? 0) * 1000);
    const left = () => Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
    const bridge = await pull(ctx, deadline);
    summary = await runTick(ctx, left(), 0);
    // Idle polling: the next change is seconds away at most; a run only when something came.
    while (summary?.status !== "already_running" && Date.now() + 250 < idleUntil) {
      await new Promise((r) => setTimeout(r, 250));
      const more = await pull(ctx, deadline);
      for (const k of ["batches", "changes", "rows", "pull_ms"] as const) bridge[k] += more[k];
      if (more.rows > 0) summary = await runTick(ctx, left(), 0);
    }
    summary = { ...summary, bridge };
  } else {
    summary = await runTick(ctx, seconds, idle_seconds ?? 0);
  }
  if (summary?.status === "already_running") {
    return errorResponse(409, "already_running", "a run is already in progress", { run: summary.run ?? null });
  }
  return Response.json(summary);
}
