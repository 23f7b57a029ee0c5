/**
 * What waits for an operator: `conflicts [--status open|resolved|all] [--entity e]`,
 * `conflicts resolve <id> accept_source|keep_target|custom [--row json]`, `quarantine [--all]`,
 * `quarantine retry <id> [--row json]`, `quarantine discard <id>`, `alerts [--all] [--severity s]`, `alerts ack <id>`.
 */
import { flag } from "../args.ts";
import { UsageError } from "./api.ts";
import { args, type Command, id, jsonOption, query } from "./context.ts";
import { cell, type Obj, table, time } from "./format.ts";

type Page = { items: Obj[]; next_cursor: number | null };

/** A page as a table of the given columns (timestamps as UTC), with the cursor of the next page. */
function pageTable(page: Page, cols: string[]): string {
  const t = table(cols, page.items.map((r) => cols.map((c) => c.endsWith("_at") ? time(r[c]) : r[c])));
  return page.next_cursor ? `${t}\nmore: --cursor ${page.next_cursor}` : t;
}

const conflicts: Command = async (ctx) => {
  args(ctx, 0);
  const page = await ctx.api("GET", `conflicts${query(ctx, ["status", "entity", "limit", "cursor"])}`) as Page;
  ctx.print(
    page,
    () => pageTable(page, ["id", "entity", "legacy_id", "op", "status", "columns", "decision", "created_at"]),
  );
};

const resolve: Command = async (ctx) => {
  const [cid, decision] = args(ctx, 2, 2, "a conflict id and accept_source, keep_target or custom");
  if (!["accept_source", "keep_target", "custom"].includes(decision)) {
    throw new UsageError(`decision must be accept_source, keep_target or custom, got ${decision}`);
  }
  const row = jsonOption(ctx, "row");
  const c = await ctx.api("POST", `conflicts/${id(cid, "conflict")}/resolve`, {
    decision,
    ...(row ? { row } : {}),
  }) as Obj;
  ctx.print(c, () => `conflict ${c.id} ${c.status}: ${c.decision}`);
};

const quarantine: Command = async (ctx) => {
  args(ctx, 0);
  const page = await ctx.api(
    "GET",
    `quarantine${query(ctx, ["limit", "cursor"], flag(ctx.args, "all") ? { open: "false" } : {})}`,
  ) as Page;
  ctx.print(
    page,
    () => pageTable(page, ["id", "entity", "legacy_id", "reason", "message", "created_at", "resolution"]),
  );
};

/** `quarantine retry|discard <id>`: the released row. */
function release(action: "retry" | "discard"): Command {
  return async (ctx) => {
    const qid = id(args(ctx, 1, 1, "a quarantine id")[0], "quarantine id");
    const row = jsonOption(ctx, "row");
    if (row && action === "discard") throw new UsageError("--row goes with retry only");
    const q = await ctx.api("POST", `quarantine/${qid}/${action}`, row ? { row } : {}) as Obj;
    ctx.print(q, () => `quarantine ${q.id} (${q.entity} ${q.legacy_id}) released: ${cell(q.resolution)}`);
  };
}

const alerts: Command = async (ctx) => {
  args(ctx, 0);
  const page = await ctx.api(
    "GET",
    `alerts${query(ctx, ["severity", "limit", "cursor"], flag(ctx.args, "all") ? { open: "false" } : {})}`,
  ) as Page;
  ctx.print(
    page,
    () => pageTable(page, ["id", "severity", "kind", "message", "occurrences", "last_seen_at", "acknowledged_at"]),
  );
};

const ack: Command = async (ctx) => {
  const aid = id(args(ctx, 1, 1, "an alert id")[0], "alert");
  const a = await ctx.api("POST", `alerts/${aid}/ack`, {}) as Obj;
  ctx.print(a, () => `alert ${a.id} acknowledged by ${a.acknowledged_by}`);
};

/** The queue commands by name. */
export const QUEUE_COMMANDS: Record<string, Command> = {
  conflicts,
  "conflicts resolve": resolve,
  quarantine,
  "quarantine retry": release("retry"),
  "quarantine discard": release("discard"),
  alerts,
  "alerts ack": ack,
};
