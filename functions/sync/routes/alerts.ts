/**
 * `GET /sync/alerts` (viewer): `?open=true|false&severity&limit&cursor` → `{items, next_cursor}`.
 * `POST /sync/alerts/:id/ack` (admin) → the acknowledged alert.
 */
import { z } from "zod";
import type { Ctx } from "../context.ts";
import { Id } from "./ids.ts";

const Query = z.object({
  open: z.enum(["true", "false"]).default("true"),
  severity: z.enum(["info", "warning", "critical"]).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.coerce.number().int().positive().optional(),
}).strict();

export async function listAlerts(ctx: Ctx): Promise<Response> {
  const q = Query.parse(Object.fromEntries(ctx.query));
  const [row] = await ctx.sql`select sync.list_alerts(${q.open === "true"}, ${q.severity ?? null}, ${q.limit},
    ${q.cursor ?? null}) as page`;
  return Response.json(row.page);
}

export async function ackAlert(ctx: Ctx): Promise<Response> {
  const id = Id.parse(ctx.params.id);
  z.object({}).strict().parse(await ctx.body());
  const [r] = await ctx.sql`select sync.ack_alert(${id}, ${ctx.caller.id}) as a`;
  return Response.json(r.a);
}
