/**
 * `deno task start | stop | status [-o env]`: the local stack, like `supabase start | stop | status`.
 * `--stack test` addresses the test suite's stack instead of the demo's.
 */
import { fail, option, taskArgs } from "./lib/args.ts";
import { apiUrl, gatewayRunning, operators, startGatewayProcess, stopGatewayProcess } from "./lib/gateway_process.ts";
import { DEMO, env as dbEnv, isRunning, paths, type StackSpec, start, stop, TEST } from "./lib/stack.ts";

const [command, ...rest] = taskArgs();
const args = taskArgs(rest);
const spec = option(args, "stack") === "test" ? TEST : DEMO;

switch (command) {
  case "start": {
    try {
      await start(spec);
      await startGatewayProcess(spec);
    } catch (e) {
      fail((e as Error).message);
    }
    console.log(`local stack '${spec.name}' is running`);
    printStatus(await env(spec));
    break;
  }
  case "stop": {
    if (await stopGatewayProcess(spec)) console.log(`stopped the gateway of local stack '${spec.name}'`);
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
    }
    break;
  }
  default:
    fail("usage: stack.ts start|stop|status [-o env] [--stack demo|test]");
}

/** The database's variables, plus API_URL and the operator accounts while the gateway runs. */
async function env(spec: StackSpec): Promise<Record<string, string>> {
  const out = await dbEnv(spec);
  if (Object.keys(out).length === 0 || !gatewayRunning(spec)) return out;
  out.API_URL = apiUrl(spec);
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
    ADMIN_EMAIL: "Admin operator",
    ADMIN_PASSWORD: "Admin password",
    VIEWER_EMAIL: "Viewer operator",
    VIEWER_PASSWORD: "Viewer password",
  };
  for (const [k, v] of Object.entries(vars)) console.log(`${(label[k] ?? k).padStart(18)}: ${v}`);
}
