/**
 * `GET /sync/conflicts` (viewer; row images for admins only): `?status=open|resolved|all&entity&limit&cursor` →
 * `{items, next_cursor}`. `POST /sync/conflicts/:id/resolve` (admin): `{decision, row?}` → the conflict.
 */
import { z } from "zod";
import type { Ctx } from "../context.ts";
import { Id } from "./ids.ts";

const Query = z.object({
  status: z.enum(["open", "resolved", "all"]).default("open"),
  entity: z.string().min(1).max(100).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.coerce.number().int().positive().optional(),
}).strict();

export async function listConflicts(ctx: Ctx): Promise<Response> {
  const q = Query.parse(Object.fromEntries(ctx.query));
  const [row] = await ctx.sql`select sync.list_conflicts(${q.status === "all" ? null : q.status}, ${q.entity ?? null},
    ${q.limit}, ${q.cursor ?? null}, ${ctx.caller.role === "admin"}) as page`;
  return Response.json(row.page);
}

const ResolveBody = z.object({
  decision: z.enum(["accept_source", "keep_target", "custom"]),
  row: z.record(z.string(), z.json()).optional(),
}).strict().refine((b) => (b.decision === "custom") === (b.row !== undefined), {
  message: "row goes with decision custom, and only with it",
  path: ["row"],
});

export async function resolveConflict(ctx: Ctx): Promise<Response> {
  const id = Id.parse(ctx.params.id);
  const { decision, row } = ResolveBody.parse(await ctx.body());
  const [r] = await ctx.sql`select sync.resolve_conflict(${id}, ${decision}, ${row ? ctx.sql.json(row) : null},
    ${ctx.caller.id}) as c`;
  return Response.json(r.c);
}
