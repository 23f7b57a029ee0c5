/** `PATCH /sync/config` (admin): a JSON merge patch, validated and audited in SQL with the verified caller. */
import { z } from "zod";
import type { Ctx } from "../context.ts";

const Patch = z.record(z.string(), z.json());

export async function patchConfig(ctx: Ctx): Promise<Response> {
  const patch = Patch.parse(await ctx.body());
  const [row] = await ctx.sql`select sync.set_config(${ctx.sql.json(patch)}, ${ctx.caller.id}) as config`;
  return Response.json(row.config);
}
