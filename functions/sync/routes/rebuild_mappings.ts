/** `POST /sync/rebuild-mappings` (admin): reseed recovery (`sync.rebuild_mappings`); its report. 409 while a run applies. */
import { z } from "zod";
import type { Ctx } from "../context.ts";

export async function rebuildMappings(ctx: Ctx): Promise<Response> {
  z.object({}).strict().parse(await ctx.body());
  const [r] = await ctx.sql`select sync.rebuild_mappings(${ctx.caller.id}) as report`;
  return Response.json(r.report);
}
