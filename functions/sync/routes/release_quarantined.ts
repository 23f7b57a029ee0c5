/**
 * `POST /sync/quarantine/:id/retry` (`{row?}`) and `/discard` (admin): release a quarantined change; the
 * quarantine row. The caller recorded in the audit is the verified one.
 */
import { z } from "zod";
import type { Ctx } from "../context.ts";
import { Id } from "./ids.ts";

const RetryBody = z.object({ row: z.record(z.string(), z.json()).optional() }).strict();

export async function retryQuarantined(ctx: Ctx): Promise<Response> {
  const id = Id.parse(ctx.params.id);
  const { row } = RetryBody.parse(await ctx.body());
  const [r] = await ctx.sql`select sync.retry_quarantined(${id}, ${
    row ? ctx.sql.json(row) : null
  }, ${ctx.caller.id}) as q`;
  return Response.json(r.q);
}

export async function discardQuarantined(ctx: Ctx): Promise<Response> {
  const id = Id.parse(ctx.params.id);
  z.object({}).strict().parse(await ctx.body());
  const [r] = await ctx.sql`select sync.discard_quarantined(${id}, ${ctx.caller.id}) as q`;
  return Response.json(r.q);
}
