/** `GET /sync/metrics` (viewer): the metrics of `sync.metrics()`, in Prometheus' text format. */
import type { Ctx } from "../context.ts";

export async function getMetrics(ctx: Ctx): Promise<Response> {
  const [row] = await ctx.sql`select sync.metrics() as metrics`;
  return new Response(row.metrics, { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } });
}
