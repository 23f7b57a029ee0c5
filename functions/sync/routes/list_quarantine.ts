/** `GET /sync/quarantine` (viewer): `?open&limit&cursor` → `{items, next_cursor}`; row images for admins only. */
import { z } from "zod";
import type { Ctx } from "../context.ts";

const Query = z.object({
  open: z.enum(["true", "false"]).default("true"),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.coerce.number().int().positive().optional(),
}).strict();

export async function listQuarantine(ctx: Ctx): Promise<Response> {
  const q = Query.parse(Object.fromEntries(ctx.query));
  const images = ctx.caller.role === "admin";
  const [row] = await ctx.sql`select sync.list_quarantine(${q.open === "true"}, ${q.limit}, ${q.cursor ?? null},
                                                          ${images}) as page`;
  return Response.json(row.page);
}
