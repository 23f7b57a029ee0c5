/** `POST /sync/runs/:id/pause` · `resume` (admin): a backfill run between chunks; the run. The caller is the verified one. */
import { z } from "zod";
import type { Ctx } from "../context.ts";
import { Id } from "./ids.ts";

const Body = z.object({}).strict();

export async function pauseRun(ctx: Ctx): Promise<Response> {
  const id = Id.parse(ctx.params.id);
  Body.parse(await ctx.body());
  const [row] = await ctx.sql`select sync.pause_run(${id}, ${ctx.caller.id}) as run`;
  return Response.json(row.run);
}

export async function resumeRun(ctx: Ctx): Promise<Response> {
  const id = Id.parse(ctx.params.id);
  Body.parse(await ctx.body());
  const [row] = await ctx.sql`select sync.resume_run(${id}, ${ctx.caller.id}) as run`;
  return Response.json(row.run);
}
