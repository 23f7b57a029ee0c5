/** What every CLI command gets, and the one way it prints: the API's JSON with `--json`, else the human text. */
import { flag, option, positionals } from "../args.ts";
import { type Api, UsageError } from "./api.ts";

/** Options that take a value, for every command (so that their values are not taken for positionals). */
export const VALUED = [
  "url",
  "reason",
  "row",
  "status",
  "entity",
  "legacy-id",
  "from",
  "to",
  "limit",
  "cursor",
  "kind",
  "caller",
  "interval",
  "severity",
];

/** A command's context. */
export interface Ctx {
  api: Api;
  /** The arguments after the command's name (and sub-command). */
  args: string[];
  json: boolean;
  /** Prints `data` as JSON with `--json`, else the human text. */
  print: (data: unknown, human: () => string) => void;
  /** Prints a progress line: redrawn in place on a terminal, a plain line otherwise; nothing with `--json`. */
  progress: (line: string) => void;
  /** Ends the in-place line, if one is open. */
  endProgress: () => void;
}

/** A command. */
export type Command = (ctx: Ctx) => Promise<void>;

/** Makes the context of one command. */
export function makeCtx(api: Api, args: string[]): Ctx {
  const json = flag(args, "json");
  const tty = Deno.stdout.isTerminal();
  const enc = new TextEncoder();
  let open = false;
  let last = "";
  return {
    api,
    args,
    json,
    print: (data, human) => console.log(json ? JSON.stringify(data, null, 2) : human()),
    progress: (line) => {
      if (json || line === last) return;
      last = line;
      if (tty) {
        Deno.stdout.writeSync(enc.encode(`\r${line}\x1b[K`));
        open = true;
      } else console.log(line);
    },
    endProgress: () => {
      if (open) Deno.stdout.writeSync(enc.encode("\n"));
      open = false;
    },
  };
}

/** The positionals after the command; exactly `min`..`max` of them. @throws UsageError */
export function args(ctx: Ctx, min: number, max = min, what = "arguments"): string[] {
  const p = positionals(ctx.args, VALUED);
  if (p.length < min || p.length > max) {
    throw new UsageError(`expected ${what}, got ${p.length ? p.join(" ") : "none"}`);
  }
  return p;
}

/** A positive integer id from the positionals. @throws UsageError */
export function id(value: string | undefined, what: string): number {
  if (!value || !/^[1-9]\d*$/.test(value)) {
    throw new UsageError(`${what} must be a positive integer, got ${value ?? "none"}`);
  }
  return Number(value);
}

/** `--name` as a JSON object (`--row '{"a": 1}'`), or undefined. @throws UsageError */
export function jsonOption(ctx: Ctx, name: string): Record<string, unknown> | undefined {
  const v = option(ctx.args, name);
  if (v === undefined) return undefined;
  try {
    const parsed = JSON.parse(v);
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) return parsed;
  } catch { /* reported below */ }
  throw new UsageError(`--${name} must be a JSON object, got ${v}`);
}

/** A query string of the given options that are set (`--legacy-id` → `legacy_id`), with a leading `?`. */
export function query(ctx: Ctx, names: string[], extra: Record<string, string> = {}): string {
  const q = new URLSearchParams();
  for (const n of names) {
    const v = option(ctx.args, n);
    if (v !== undefined) q.set(n.replaceAll("-", "_"), v);
  }
  for (const [k, v] of Object.entries(extra)) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** Sleeps for ms milliseconds. */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The arguments without their first `count` positionals (a command's name and sub-command). */
export function dropPositionals(list: readonly string[], count: number): string[] {
  const out: string[] = [];
  let dropped = 0;
  for (let i = 0; i < list.length; i++) {
    const a = list[i];
    if (a.startsWith("--")) {
      out.push(a);
      if (!a.includes("=") && VALUED.includes(a.slice(2)) && i + 1 < list.length) out.push(list[++i]);
    } else if (dropped < count) dropped++;
    else out.push(a);
  }
  return out;
}
