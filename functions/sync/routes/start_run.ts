/**
 * `POST /sync/runs` (admin): start a manual run, `{mode, entities?, legacy_ids?, since?, until?, all?, max_seconds?}`.
 * 202 with the run; 409 with the run in progress; 429 when the caller's manual runs per minute are spent.
 * An incremental run is queued in SQL and its tick runs after the response (`EdgeRuntime.waitUntil` where hosted
 * provides it); a backfill is queued for the ticks; a dry run is done by the time it answers.
 */
import { z } from "zod";
import type { Ctx } from "../context.ts";
import { errorResponse } from "../../_shared/http.ts";

const Entity = z.string().min(1).max(100);
const Body = z.object({
  mode: z.enum(["incremental", "backfill", "verify", "repair", "dry_run"]),
  entities: z.array(Entity).min(1).max(50).optional(),
  legacy_ids: z.record(Entity, z.array(z.number().int().positive()).max(10000)).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
  all: z.boolean().optional(),
  max_seconds: z.number().int().min(1).max(140).optional(),
}).strict();

declare const EdgeRuntime: { waitUntil(p: Promise<unknown>): void } | undefined;

export async function startRun(ctx: Ctx): Promise<Response> {
  const b = Body.parse(await ctx.body());
  const [row] = await ctx.sql`select sync.start_run(${b.mode}, ${b.entities ?? null},
    ${b.legacy_ids ? ctx.sql.json(b.legacy_ids) : null}, ${b.since ?? null}, ${b.until ?? null}, ${b.all ?? false},
    ${ctx.caller.id}) as r`;
  const { status, run } = row.r as { status: string; run: { id: number; mode: string } };
  if (status === "already_running") {
    return errorResponse(409, "already_running", "a run is already in progress", { run });
  }
  if (run.mode === "incremental") {
    const tick = ctx.sql`call sync.tick(${b.max_seconds ?? 50}, null, 'manual', ${ctx.caller.id}, 0, ${run.id})`
      .then(
        () => {},
        (e) => console.error(`sync: manual run ${run.id} failed to tick:`, (e as { code?: string }).code),
      );
    if (typeof EdgeRuntime !== "undefined") EdgeRuntime.waitUntil(tick);
  }
  return Response.json(run, { status: 202 });
}
