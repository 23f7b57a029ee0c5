/** `GET /sync/runs/:id` (viewer): one run; 404 unknown. */
import type { Ctx } from "../context.ts";
import { Id } from "./ids.ts";

export async function getRun(ctx: Ctx): Promise<Response> {
  const id = Id.parse(ctx.params.id);
  const [row] = await ctx.sql`select sync.get_run(${id}) as run`;
  return Response.json(row.run);
}
