/** `GET /sync/audit` (admin): `?from&to&kind&caller&limit&cursor` → `{items, next_cursor}`, newest first. */
import { z } from "zod";
import type { Ctx } from "../context.ts";

const Query = z.object({
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  kind: z.string().regex(/^[a-z_]+(\.[a-z_]*)?$/, "a kind like run.start, or a prefix like run.").optional(),
  caller: z.string().min(1).max(200).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.coerce.number().int().positive().optional(),
}).strict();

export async function listAudit(ctx: Ctx): Promise<Response> {
  const q = Query.parse(Object.fromEntries(ctx.query));
  const [row] = await ctx.sql`select sync.list_audit(${q.from ?? null}, ${q.to ?? null}, ${q.kind ?? null},
    ${q.caller ?? null}, ${q.limit}, ${q.cursor ?? null}) as page`;
  return Response.json(row.page);
}
