/** The route table of the `sync` function: method, path under `/sync`, role needed, handler. */
import type { Route } from "./context.ts";
import { tick } from "./routes/tick.ts";
import { getRun } from "./routes/get_run.ts";
import { listRuns } from "./routes/list_runs.ts";
import { cancelRun } from "./routes/cancel_run.ts";
import { getConfig } from "./routes/get_config.ts";
import { patchConfig } from "./routes/patch_config.ts";
import { listQuarantine } from "./routes/list_quarantine.ts";
import { discardQuarantined, retryQuarantined } from "./routes/release_quarantined.ts";
import { pauseRun, resumeRun } from "./routes/pause_resume_run.ts";
import { getHealth } from "./routes/get_health.ts";
import { getMetrics } from "./routes/get_metrics.ts";
import { startRun } from "./routes/start_run.ts";
import { listConflicts, resolveConflict } from "./routes/conflicts.ts";
import { ackAlert, listAlerts } from "./routes/alerts.ts";
import { listAudit } from "./routes/audit.ts";
import { rebuildMappings } from "./routes/rebuild_mappings.ts";

export const ROUTES: Route[] = [
  { method: "POST", path: "/tick", role: "admin", handle: tick },
  { method: "POST", path: "/runs", role: "admin", handle: startRun },
  { method: "GET", path: "/runs", role: "viewer", handle: listRuns },
  { method: "GET", path: "/runs/:id", role: "viewer", handle: getRun },
  { method: "POST", path: "/runs/:id/cancel", role: "admin", handle: cancelRun },
  { method: "POST", path: "/runs/:id/pause", role: "admin", handle: pauseRun },
  { method: "POST", path: "/runs/:id/resume", role: "admin", handle: resumeRun },
  { method: "GET", path: "/health", role: "viewer", handle: getHealth },
  { method: "GET", path: "/metrics", role: "viewer", handle: getMetrics },
  { method: "GET", path: "/config", role: "viewer", handle: getConfig },
  { method: "PATCH", path: "/config", role: "admin", handle: patchConfig },
  { method: "GET", path: "/quarantine", role: "viewer", handle: listQuarantine },
  { method: "POST", path: "/quarantine/:id/retry", role: "admin", handle: retryQuarantined },
  { method: "POST", path: "/quarantine/:id/discard", role: "admin", handle: discardQuarantined },
  { method: "GET", path: "/conflicts", role: "viewer", handle: listConflicts },
  { method: "POST", path: "/conflicts/:id/resolve", role: "admin", handle: resolveConflict },
  { method: "GET", path: "/alerts", role: "viewer", handle: listAlerts },
  { method: "POST", path: "/alerts/:id/ack", role: "admin", handle: ackAlert },
  { method: "GET", path: "/audit", role: "admin", handle: listAudit },
  { method: "POST", path: "/rebuild-mappings", role: "admin", handle: rebuildMappings },
];

/** The route and its parameters for a method and a path relative to `/sync`; `allowed` lists other methods. */
export function match(
  method: string,
  path: string,
): { route?: Route; params: Record<string, string>; allowed: string[] } {
  const segs = path.split("/").filter((s) => s);
  const allowed: string[] = [];
  for (const route of ROUTES) {
    const pattern = route.path.split("/").filter((s) => s);
    if (pattern.length !== segs.length) continue;
    const params: Record<string, string> = {};
    if (
      !pattern.every((p, i) =>
        p.startsWith(":") ? (params[p.slice(1)] = decodeURIComponent(segs[i]), true) : p === segs[i]
      )
    ) {
      continue;
    }
    if (route.method === method) return { route, params, allowed };
    allowed.push(route.method);
  }
  return { params: {}, allowed };
}
