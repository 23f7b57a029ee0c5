/**
 * `deno task start | stop | status [-o env]`: the local stack, like `supabase start | stop | status`.
 * `--stack test` addresses the test suite's stack instead of the demo's.
 */
import { fail, option, taskArgs } from "./lib/args.ts";
import { DEMO, env, isRunning, paths, start, stop, TEST } from "./lib/stack.ts";

const [command, ...rest] = taskArgs();
const args = taskArgs(rest);
const spec = option(args, "stack") === "test" ? TEST : DEMO;

switch (command) {
  case "start": {
    try {
      await start(spec);
    } catch (e) {
      fail((e as Error).message);
    }
    console.log(`local stack '${spec.name}' is running`);
    printStatus(await env(spec));
    break;
  }
  case "stop": {
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
  };
  for (const [k, v] of Object.entries(vars)) console.log(`${(label[k] ?? k).padStart(18)}: ${v}`);
}
