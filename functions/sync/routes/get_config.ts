/** `GET /sync/config` (viewer): the effective configuration. */
import type { Ctx } from "../context.ts";

export async function getConfig(ctx: Ctx): Promise<Response> {
  const [row] = await ctx.sql`select sync.get_config() as config`;
  return Response.json(row.config);
}
