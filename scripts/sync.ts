/**
 * `deno task sync <command>`: the operator's CLI over the `sync` HTTPS API (supabase-js `functions.invoke`).
 * Human output by default; `--json` prints the API's JSON answer instead (one document on stdout).
 *
 * Target, first that is set: `--url <api url>`, env `API_URL`, the local demo stack's gateway while it runs
 * (what `deno task status -o env` prints as API_URL).
 * Credentials, first that is set:
 * 1. env `SYNC_API_KEY`: the secret key (`sb_secret_…`) or the service-role JWT;
 * 2. env `SYNC_EMAIL` + `SYNC_PASSWORD`: an operator's sign-in, with the publishable key from
 *    `SUPABASE_PUBLISHABLE_KEY`, else `SUPABASE_ANON_KEY`, else the demo stack's `PUBLISHABLE_KEY`;
 * 3. the demo stack's `SECRET_KEY`, when the target is the demo stack's gateway.
 * No key or password is ever printed.
 *
 * Exit status: 0 done; 1 the API said no (`error (<status> <code>): <message>` on stderr) or a waited-for run
 * did not succeed; 2 a usage error.
 */
import { flag, option, positionals, taskArgs } from "./lib/args.ts";
import { ApiError, connect, UsageError } from "./lib/cli/api.ts";
import { type Command, dropPositionals, makeCtx, VALUED } from "./lib/cli/context.ts";
import { ADMIN_COMMANDS } from "./lib/cli/admin.ts";
import { QUEUE_COMMANDS } from "./lib/cli/queues.ts";
import { RUN_COMMANDS } from "./lib/cli/runs.ts";

const USAGE = `usage: deno task sync <command> [options] [--json] [--url <api url>]

  status                                   health: status, last and next run, lag, queues, circuit, alerts
  trigger [--wait] [--interval s]          start an incremental run; --wait polls until it ends
  backfill [entity...] [--no-wait]         start a backfill and show its progress until it ends
  dry-run [entity...] [--all]              what applying the pending changes (--all: a full backfill) would do, with samples
  verify [entity...] [--deep]              verify now (counts, gaps, integrity, drift); exit 1 on problems
  repair <entity> <legacy id...>           re-read exactly those legacy rows and apply them
  pause <run> | resume <run>               pause or resume a backfill
  cancel <run> [--reason text]             cancel a run
  runs [--status s] [--entity e] [--legacy-id n] [--from t] [--to t] [--limit n] [--cursor id]
  run <id>                                 one run: progress, counts, timings, error
  conflicts [--status open|resolved|all] [--entity e]
  conflicts resolve <id> accept_source|keep_target|custom [--row '{json}']
  quarantine [--all]                       quarantined changes (open ones unless --all)
  quarantine retry <id> [--row '{json}']   retry a quarantined change, optionally with a corrected row
  quarantine discard <id>                  drop a quarantined change
  alerts [--all] [--severity s]            open alerts (all with --all)
  alerts ack <id>                          acknowledge an alert
  config                                   the configuration
  config set '<json merge patch>'          change it, e.g. config set '{"batch_size": 1000}'
  audit [--kind k] [--caller c] [--from t] [--to t]
  rebuild-mappings                         rebuild the legacy-id to target-id map

Target: --url, else API_URL, else the local demo stack. Key: SYNC_API_KEY, else SYNC_EMAIL + SYNC_PASSWORD
(with SUPABASE_PUBLISHABLE_KEY or SUPABASE_ANON_KEY), else the local demo stack's secret key.`;

const COMMANDS: Record<string, Command> = { ...ADMIN_COMMANDS, ...RUN_COMMANDS, ...QUEUE_COMMANDS };

/** The command named by the first one or two positionals, and its arguments. @throws UsageError */
function resolveCommand(all: string[]): { command: Command; rest: string[] } {
  const [first, second] = positionals(all, VALUED);
  const two = `${first} ${second}`;
  if (second !== undefined && COMMANDS[two]) return { command: COMMANDS[two], rest: dropPositionals(all, 2) };
  if (first !== undefined && COMMANDS[first]) return { command: COMMANDS[first], rest: dropPositionals(all, 1) };
  throw new UsageError(first === undefined ? "no command" : `unknown command ${first}`);
}

async function main(all: string[]): Promise<number> {
  if (all.length === 0 || all[0] === "help" || flag(all, "help") || all.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  const json = flag(all, "json");
  try {
    const { command, rest } = resolveCommand(all);
    const api = await connect(option(all, "url"));
    await command(makeCtx(api, rest));
    return Number(Deno.exitCode ?? 0);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`error: ${e.message}\n${USAGE.split("\n")[0]}\n(deno task sync help lists the commands)`);
      return 2;
    }
    if (!(e instanceof ApiError)) throw e;
    if (json && e.body !== null) console.log(JSON.stringify(e.body, null, 2));
    let line = e.status ? `error (${e.status} ${e.code}): ${e.message}` : `error: ${e.message}`;
    const run = (e.body as { run?: { id?: number; mode?: string; status?: string } } | null)?.run;
    if (e.status === 409 && run?.id !== undefined) line += ` (run ${run.id}, ${run.mode}, ${run.status})`;
    if (e.retryAfter !== undefined) line += ` (retry after ${e.retryAfter} s)`;
    console.error(line);
    return 1;
  }
}

Deno.exit(await main(taskArgs()));
