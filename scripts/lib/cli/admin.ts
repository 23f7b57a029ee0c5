/**
 * Overview and settings: `status` (GET /sync/health as a short summary), `config`, `config set '<merge patch>'`,
 * `audit [--kind --caller --from --to]`, `rebuild-mappings`.
 */
import { UsageError } from "./api.ts";
import { args, type Command, query } from "./context.ts";
import { between, cell, duration, type Obj, table, time } from "./format.ts";

/** `{p50: 120, p99: 800}` (milliseconds) as `p50 120 ms, p99 800 ms`; a bare number as a duration. */
function lag(v: unknown): string {
  if (typeof v === "number") return duration(v);
  if (!v || typeof v !== "object") return "-";
  return Object.entries(v as Record<string, number>).map(([k, ms]) => `${k} ${duration(ms)}`).join(", ");
}

/** The health summary in a dozen lines. */
export function healthSummary(h: Obj): string {
  const last = h.last_run as Obj | null;
  const ok = h.last_success as Obj | null;
  const q = (h.queue ?? {}) as Obj;
  const src = h.source as Obj | null;
  const alerts = (h.alerts ?? []) as Obj[];
  const lines = [
    `status     ${h.status}`,
    `last run   ${
      last
        ? `${last.id} ${last.status} (${last.trigger}) at ${time(last.started_at)}, took ${
          between(last.started_at, last.ended_at)
        }`
        : "none"
    }`,
    `last ok    ${ok ? `${ok.id} at ${time(ok.ended_at)}` : "none"}`,
    `next run   ${h.next_run ? time(h.next_run) : "not scheduled"}`,
    `lag        ${lag(h.lag_ms)}`,
    `queue      pending ${q.pending ?? 0}, parked ${q.parked ?? 0}, quarantined ${q.quarantined ?? 0}, ` +
    `conflicts ${q.conflicts ?? 0}`,
    `source     ${
      src
        ? `circuit ${src.circuit}${src.circuit === "open" ? ` until ${time(src.open_until)}` : ""}, ` +
          `${src.failures} failures, last pull ${time(src.last_pull_at)}`
        : "not connected"
    }`,
    `alerts     ${alerts.length} open`,
  ];
  for (const a of alerts) {
    lines.push(`  ${a.severity} ${a.kind}: ${a.message} (x${a.occurrences}, ${time(a.last_seen_at)})`);
  }
  return lines.join("\n");
}

const status: Command = async (ctx) => {
  args(ctx, 0);
  const h = await ctx.api("GET", "health") as Obj;
  ctx.print(h, () => healthSummary(h));
};

/** Nested objects as dotted keys (`alerts.thresholds.gaps`); arrays and scalars as values. */
function flatten(o: Obj, prefix = ""): [string, unknown][] {
  return Object.entries(o).sort(([a], [b]) => a.localeCompare(b)).flatMap(([k, v]) =>
    v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length
      ? flatten(v as Obj, `${prefix}${k}.`)
      : [[`${prefix}${k}`, v] as [string, unknown]]
  );
}

/** The configuration as `setting  value` lines. */
function keyValues(o: Obj): string {
  return table(["setting", "value"], flatten(o).map(([k, v]) => [k, cell(v)]));
}

const config: Command = async (ctx) => {
  args(ctx, 0);
  const c = await ctx.api("GET", "config") as Obj;
  ctx.print(c, () => keyValues(c));
};

const configSet: Command = async (ctx) => {
  const [patch] = args(ctx, 1, 1, "one JSON merge patch, e.g. '{\"batch_size\": 1000}'");
  let body: unknown;
  try {
    body = JSON.parse(patch);
  } catch {
    throw new UsageError(`the patch must be JSON, got ${patch}`);
  }
  const c = await ctx.api("PATCH", "config", body) as Obj;
  ctx.print(c, () => keyValues(c));
};

const audit: Command = async (ctx) => {
  args(ctx, 0);
  const page = await ctx.api("GET", `audit${query(ctx, ["kind", "caller", "from", "to", "limit", "cursor"])}`) as {
    items: Obj[];
    next_cursor: number | null;
  };
  ctx.print(page, () => {
    const t = table(
      ["id", "at", "kind", "subject", "caller", "details"],
      page.items.map((a) => [a.id, time(a.at), a.kind, a.subject, a.caller, a.details]),
    );
    return page.next_cursor ? `${t}\nmore: --cursor ${page.next_cursor}` : t;
  });
};

const rebuildMappings: Command = async (ctx) => {
  args(ctx, 0);
  const r = await ctx.api("POST", "rebuild-mappings", {}) as Obj;
  ctx.print(r, () => {
    const entities = Object.entries((r.entities ?? {}) as Record<string, Obj>);
    return table(
      ["entity", "mapped_before", "mapped", "remapped", "unmatched"],
      entities.map(([e, v]) => [e, v.mapped_before, v.mapped, v.remapped, v.unmatched]),
    ) + `\nunmatched rows: ${r.unmatched ?? 0}`;
  });
};

/** The overview and settings commands by name. */
export const ADMIN_COMMANDS: Record<string, Command> = {
  status,
  config,
  "config set": configSet,
  audit,
  "rebuild-mappings": rebuildMappings,
};
