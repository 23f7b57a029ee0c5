/**
 * Run commands: `trigger [--wait]`, `backfill [entity...] [--no-wait]`, `dry-run [entity...] [--all]`, `verify [--deep]`, `repair`,
 * `pause|resume <run>`, `cancel <run> [--reason text]`, `runs [filters]`, `run <id>`.
 */
import { flag, option } from "../args.ts";
import { args, type Command, type Ctx, id, query, sleep } from "./context.ts";
import { between, cell, countsSummary, countsTable, type Obj, progressLine, table, time } from "./format.ts";
import { UsageError } from "./api.ts";

/** Statuses a run does not leave. */
const ENDED = ["succeeded", "partial", "failed", "cancelled"];

/** The run's end in one line: `run 7 succeeded in 1.2 s`, with its error if any. */
function ended(run: Obj): string {
  const err = run.error ? `: ${typeof run.error === "string" ? run.error : JSON.stringify(run.error)}` : "";
  return `run ${run.id} ${run.status} in ${between(run.started_at, run.ended_at)}${err}`;
}

/** Polls GET /sync/runs/:id every `--interval` seconds (default 1) until the run ends; each state to `seen`. */
async function waitFor(ctx: Ctx, runId: unknown, seen: (run: Obj) => void = () => {}): Promise<Obj> {
  const every = Number(option(ctx.args, "interval", "1")) * 1000;
  if (!(every > 0)) throw new UsageError("--interval must be a positive number of seconds");
  for (;;) {
    const run = await ctx.api("GET", `runs/${runId}`) as Obj;
    seen(run);
    if (ENDED.includes(run.status as string)) return run;
    await sleep(every);
  }
}

/** Exit status 1 when the run did not succeed. */
function exitFor(run: Obj): void {
  if (run.status !== "succeeded") Deno.exitCode = 1;
}

const trigger: Command = async (ctx) => {
  args(ctx, 0);
  const run = await ctx.api("POST", "runs", { mode: "incremental" }) as Obj;
  if (!flag(ctx.args, "wait")) return ctx.print(run, () => `run ${run.id} started (incremental)`);
  if (!ctx.json) console.log(`run ${run.id} started (incremental)`);
  const end = await waitFor(ctx, run.id);
  ctx.print(end, () => `${ended(end)}\n${countsTable(end.counts)}`);
  exitFor(end);
};

const backfill: Command = async (ctx) => {
  const entities = args(ctx, 0, 50, "entity names");
  const run = await ctx.api("POST", "runs", { mode: "backfill", ...(entities.length ? { entities } : {}) }) as Obj;
  const what = `backfill of ${entities.length ? entities.join(", ") : "every entity"}`;
  if (flag(ctx.args, "no-wait")) return ctx.print(run, () => `run ${run.id} ${run.status}: ${what}`);
  if (!ctx.json) console.log(`run ${run.id} ${run.status}: ${what}`);
  const end = await waitFor(ctx, run.id, (r) => {
    if (ENDED.includes(r.status as string)) return;
    const p = r.progress as Obj;
    ctx.progress(r.status === "running" ? progressLine(p) : `${r.status} at ${p.done ?? 0}/${p.total ?? "?"} rows`);
  });
  ctx.endProgress();
  const p = end.progress as Obj;
  ctx.print(end, () => `${ended(end)}: ${p.done ?? 0}/${p.total ?? 0} rows`);
  exitFor(end);
};

const dryRun: Command = async (ctx) => {
  const entities = args(ctx, 0, 50, "entity names");
  const run = await ctx.api("POST", "runs", {
    mode: "dry_run",
    ...(entities.length ? { entities } : {}),
    ...(flag(ctx.args, "all") ? { all: true } : {}),
  }) as Obj;
  ctx.print(run, () => {
    const result = (run.result ?? {}) as Obj;
    const counts = (result.counts ?? {}) as Record<string, Record<string, number>>;
    const samples = (result.samples ?? {}) as Record<string, Obj[]>;
    const out = [`dry run ${run.id}: ${result.pulled ?? 0} changes pulled, nothing written`];
    for (const entity of [...new Set([...Object.keys(counts), ...Object.keys(samples)])]) {
      out.push("", entity, table(["outcome", "rows"], Object.entries(counts[entity] ?? {})));
      const rows = samples[entity] ?? [];
      if (rows.length) {
        const first = ["legacy_id", "change", "columns", "reason"];
        const cols = [...new Set([...first, ...rows.flatMap((s) => Object.keys(s))])];
        out.push("sample rows:", table(cols, rows.map((s) => cols.map((c) => s[c]))));
      }
    }
    return out.join("\n");
  });
};

/** `verify [entity...] [--deep]`: a verification run (answered finished); one line per entity, problems first. */
const verify: Command = async (ctx) => {
  const entities = args(ctx, 0, 50, "entity names");
  const run = await ctx.api("POST", "runs", {
    mode: "verify",
    ...(entities.length ? { entities } : {}),
    ...(flag(ctx.args, "deep") ? { all: true } : {}),
  }) as Obj;
  ctx.print(run, () => {
    const result = (run.result ?? {}) as { ok?: boolean; entities?: Record<string, Obj>; repaired?: Obj };
    const rows = Object.entries(result.entities ?? {}).map(([name, v]) => {
      const c = (v.counts ?? {}) as Obj, g = (v.gaps ?? {}) as Obj, d = (v.drift ?? {}) as Obj;
      return [
        name,
        v.ok ? "ok" : "PROBLEM",
        c.source,
        c.target,
        c.open,
        c.filtered,
        g.missing ?? "-",
        g.orphaned ?? "-",
        d.drifted ?? "-",
      ];
    }).sort((a, b) => (a[1] === b[1] ? 0 : a[1] === "PROBLEM" ? -1 : 1));
    const head = `verify run ${run.id}: ${result.ok ? "ok" : "problems found"}${
      Object.keys(result.repaired ?? {}).length ? ` (repaired: ${countsSummary(result.repaired)})` : ""
    }`;
    return `${head}
${table(["entity", "state", "source", "target", "open", "filtered", "missing", "orphaned", "drifted"], rows)}`;
  });
  if (!(run.result as { ok?: boolean })?.ok) Deno.exitCode = 1;
};

/** `repair <entity> <legacy id...>`: re-reads exactly those legacy rows and applies them; the counts. */
const repair: Command = async (ctx) => {
  const [entity, ...rest] = args(ctx, 2, 1001, "an entity and legacy ids");
  const ids = rest.map((x) => id(x, "legacy"));
  const run = await ctx.api("POST", "runs", { mode: "repair", legacy_ids: { [entity]: ids } }) as Obj;
  ctx.print(run, () => `repair run ${run.id}: ${run.status}\n${countsTable(run.counts)}`);
};

/** `pause`, `resume`, `cancel`: POST /sync/runs/:id/<action>; prints the run's new status. */
function control(action: "pause" | "resume" | "cancel"): Command {
  return async (ctx) => {
    const runId = id(args(ctx, 1, 1, "a run id")[0], "run");
    const reason = option(ctx.args, "reason");
    if (reason !== undefined && action !== "cancel") throw new UsageError("--reason goes with cancel only");
    const run = await ctx.api("POST", `runs/${runId}/${action}`, reason === undefined ? {} : { reason }) as Obj;
    ctx.print(run, () => `run ${run.id} ${run.status}`);
  };
}

const runs: Command = async (ctx) => {
  args(ctx, 0);
  const page = await ctx.api(
    "GET",
    `runs${query(ctx, ["status", "entity", "legacy-id", "from", "to", "limit", "cursor"])}`,
  ) as { items: Obj[]; next_cursor: number | null };
  ctx.print(page, () => {
    const t = table(
      ["id", "mode", "status", "trigger", "caller", "started", "duration", "counts"],
      page.items.map((r) => [
        r.id,
        r.mode,
        r.status,
        r.trigger,
        r.caller,
        time(r.started_at),
        r.started_at ? between(r.started_at, r.ended_at) : "-",
        countsSummary(r.counts),
      ]),
    );
    return page.next_cursor ? `${t}\nmore: --cursor ${page.next_cursor}` : t;
  });
};

const run: Command = async (ctx) => {
  const runId = id(args(ctx, 1, 1, "a run id")[0], "run");
  const r = await ctx.api("GET", `runs/${runId}`) as Obj;
  ctx.print(r, () => {
    const p = (r.progress ?? {}) as Obj;
    const lines = [
      `run ${r.id}: ${r.mode}, ${r.status}`,
      `trigger   ${cell(r.trigger)} by ${cell(r.caller)}`,
      `entities  ${Array.isArray(r.entities) ? r.entities.join(", ") : "all"}`,
      `started   ${time(r.started_at)}`,
      `ended     ${time(r.ended_at)}`,
      `duration  ${r.started_at ? between(r.started_at, r.ended_at) : "-"}`,
    ];
    if (p.total !== undefined) lines.push(`progress  ${progressLine(p)}`);
    if (r.error) lines.push(`error     ${cell(r.error)}`);
    lines.push(countsTable(r.counts));
    return lines.join("\n");
  });
};

/** The run commands by name. */
export const RUN_COMMANDS: Record<string, Command> = {
  trigger,
  backfill,
  "dry-run": dryRun,
  verify,
  repair,
  pause: control("pause"),
  resume: control("resume"),
  cancel: control("cancel"),
  runs,
  run,
};
