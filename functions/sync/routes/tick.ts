/**
 * `POST /sync/tick` (admin), the scheduled call (pg_cron → pg_net): one tick,
 * `{max_seconds?, idle_seconds?}` (it keeps polling while idle for idle_seconds); its summary, or 409 with the
 * running run. Recorded with trigger `schedule` and the verified caller.
 */
import { z } from "zod";
import type { Ctx } from "../context.ts";
import { errorResponse } from "../../_shared/http.ts";

const Body = z.object({
  max_seconds: z.number().int().min(1).max(140).optional(),
  idle_seconds: z.number().int().min(0).max(140).optional(),
}).strict();

export async function tick(ctx: Ctx): Promise<Response> {
  const { max_seconds, idle_seconds } = Body.parse(await ctx.body());
  const [row] = await ctx.sql`call sync.tick(${max_seconds ?? 50}, null, 'schedule', ${ctx.caller.id}, ${
    idle_seconds ?? 0
  })`;
  const summary = row.summary as Record<string, unknown>;
  if (summary?.status === "already_running") {
    return errorResponse(409, "already_running", "a run is already in progress", { run: summary.run ?? null });
  }
  return Response.json(summary);
}
