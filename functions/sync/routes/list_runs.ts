/** `GET /sync/runs` (viewer): `?status&from&to&entity&legacy_id&limit&cursor` → `{items, next_cursor}`, newest first. */
import { z } from "zod";
import type { Ctx } from "../context.ts";

const Query = z.object({
  status: z.enum(["queued", "running", "paused", "succeeded", "partial", "failed", "cancelled"]).optional(),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.coerce.number().int().positive().optional(),
  entity: z.string().min(1).max(100).optional(),
  legacy_id: z.coerce.number().int().positive().optional(),
}).strict();

export async function listRuns(ctx: Ctx): Promise<Response> {
  const q = Query.parse(Object.fromEntries(ctx.query));
  const [row] = await ctx.sql`select sync.list_runs(${q.status ?? null}, ${q.from ?? null}, ${q.to ?? null},
                                                    ${q.limit}, ${q.cursor ?? null}, ${q.entity ?? null},
                                                    ${q.legacy_id ?? null}) as page`;
  return Response.json(row.page);
}
