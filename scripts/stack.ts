/**
 * `deno task start | stop | status [-o env]`: the local stack, like `supabase start | stop | status`.
 * `--stack test` addresses the test suite's stack instead of the demo's.
 *
 * `start` starts the PostgreSQL cluster (with pg_cron), then one background process holding the gateway (the
 * Edge Functions at /functions/v1/<name>) and the pg_net worker (performs what `net.http_post` queues in
 * database `postgres`), and stores the Vault entries that sync.schedule's job reads (once db:setup has made
 * the Vault). `stop` stops exactly that process and the cluster.
 */
import { fail, option, taskArgs } from "./lib/args.ts";
import {
  apiUrl,
  gatewayPid,
  gatewayRunning,
  operators,
  startGatewayProcess,
  stopGatewayProcess,
} from "./lib/gateway_process.ts";
import { storeScheduleSecrets } from "./lib/setup.ts";
import { DEMO, env as dbEnv, isRunning, paths, type StackSpec, start, stop, TEST } from "./lib/stack.ts";

const [command, ...rest] = taskArgs();
const args = taskArgs(rest);
const spec = option(args, "stack") === "test" ? TEST : DEMO;

switch (command) {
  case "start": {
    try {
      await start(spec);
      await startGatewayProcess(spec);
      if (!(await storeScheduleSecrets(spec))) {
        console.log("Vault entries for sync.schedule: stored by db:setup (the database is not set up yet)");
      }
    } catch (e) {
      fail((e as Error).message);
    }
    console.log(`local stack '${spec.name}' is running`);
    printStatus(await env(spec));
    printWorker(spec);
    break;
  }
  case "stop": {
    if (await stopGatewayProcess(spec)) {
      console.log(`stopped the gateway and pg_net worker of local stack '${spec.name}'`);
    }
    console.log(
      (await stop(spec)) ? `stopped local stack '${spec.name}'` : `local stack '${spec.name}' was not running`,
    );
    break;
  }
  case "status": {
    const vars = await env(spec);
    if (shortOption(args, "o") === "env" || option(args, "output") === "env") {
      for (const [k, v] of Object.entries(vars)) console.log(`${k}="${v}"`);
    } else if (!(await isRunning(spec))) {
      console.log(`local stack '${spec.name}' is not running (data: ${paths(spec).data})`);
      Deno.exit(1);
    } else {
      printStatus(vars);
      printWorker(spec);
    }
    break;
  }
  default:
    fail("usage: stack.ts start|stop|status [-o env] [--stack demo|test]");
}

/** The database's variables, plus API_URL, DASHBOARD_URL and the operator accounts while the gateway runs. */
async function env(spec: StackSpec): Promise<Record<string, string>> {
  const out = await dbEnv(spec);
  if (Object.keys(out).length === 0 || !gatewayRunning(spec)) return out;
  out.API_URL = apiUrl(spec);
  out.DASHBOARD_URL = `${apiUrl(spec)}/dashboard/`;
  for (const op of await operators(spec)) {
    out[`${op.sync_role.toUpperCase()}_EMAIL`] = op.email;
    out[`${op.sync_role.toUpperCase()}_PASSWORD`] = op.password;
  }
  return out;
}

function shortOption(list: string[], name: string): string | undefined {
  const i = list.indexOf(`-${name}`);
  return i >= 0 ? list[i + 1] : undefined;
}

/** The gateway process's pid, what its pg_net worker drains and how many requests wait there. */
function printWorker(spec: StackSpec) {
  const pid = gatewayPid(spec);
  const line = pid === undefined
    ? "not running (deno task start starts it)"
    : `running in the gateway process (pid ${pid}), draining net.http_request_queue of database postgres`;
  console.log(`${"pg_net worker".padStart(18)}: ${line}`);
}

function printStatus(vars: Record<string, string>) {
  const label: Record<string, string> = {
    DB_URL: "Target DB URL",
    LEGACY_DB_URL: "Legacy DB URL",
    JWT_SECRET: "JWT secret",
    ANON_KEY: "anon key",
    SERVICE_ROLE_KEY: "service_role key",
    SECRET_KEY: "Secret key",
    PUBLISHABLE_KEY: "Publishable key",
    API_URL: "API URL",
    DASHBOARD_URL: "Dashboard URL",
    ADMIN_EMAIL: "Admin operator",
    ADMIN_PASSWORD: "Admin password",
    VIEWER_EMAIL: "Viewer operator",
    VIEWER_PASSWORD: "Viewer password",
  };
  for (const [k, v] of Object.entries(vars)) console.log(`${(label[k] ?? k).padStart(18)}: ${v}`);
}
