/** `GET /sync/health` (viewer): the health summary of `sync.health()`. */
import type { Ctx } from "../context.ts";

export async function getHealth(ctx: Ctx): Promise<Response> {
  const [row] = await ctx.sql`select sync.health() as health`;
  return Response.json(row.health);
}
