/** `POST /sync/runs/:id/cancel` (admin): `{reason?}`; the cancelled run. The caller is the verified one. */
import { z } from "zod";
import type { Ctx } from "../context.ts";
import { Id } from "./ids.ts";

const Body = z.object({ reason: z.string().max(500).optional() }).strict();

export async function cancelRun(ctx: Ctx): Promise<Response> {
  const id = Id.parse(ctx.params.id);
  const { reason } = Body.parse(await ctx.body());
  const [row] = await ctx.sql`select sync.cancel_run(${id}, ${reason ?? null}, ${ctx.caller.id}) as run`;
  return Response.json(row.run);
}
