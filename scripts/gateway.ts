/**
 * The local gateway of a stack and its pg_net worker, in the foreground:
 * `deno run -A scripts/gateway.ts --stack demo|test [--port N]` (`test` or the test stack's name,
 * `SYNC_TEST_STACK_NAME`, address the test stack). `deno task start` runs it in the background
 * (scripts/lib/gateway_process.ts); SIGTERM or SIGINT stops the gateway, its functions and the worker.
 *
 * One process for both: the worker (scripts/lib/net_worker.ts) performs what pg_cron queues through
 * `net.http_post` in the stack's database `postgres`, mostly calls to this very gateway, and one pid keeps
 * `deno task stop` exact.
 */
import { fail, option, taskArgs } from "./lib/args.ts";
import { startGateway } from "./lib/gateway.ts";
import { apiPort, operators } from "./lib/gateway_process.ts";
import { startNetWorker } from "./lib/net_worker.ts";
import { DEMO, keys, paths, TEST } from "./lib/stack.ts";

const args = taskArgs();
const name = option(args, "stack") ?? DEMO.name;
const spec = name === DEMO.name ? DEMO : name === "test" || name === TEST.name ? TEST : undefined;
if (!spec) fail(`no stack named '${name}' (demo, or the test stack '${TEST.name}')`);
const port = Number(option(args, "port") ?? apiPort(spec));
const gw = await startGateway({
  port,
  dbUrl: paths(spec).dbUrl,
  keys: await keys(spec),
  operators: await operators(spec),
  logFile: `${paths(spec).dir}/functions.log`,
});
console.log(`gateway for stack '${spec.name}' on ${gw.url}`);
const worker = startNetWorker({ dbUrl: paths(spec).dbUrl });
console.log(`pg_net worker for stack '${spec.name}' draining net.http_request_queue of database postgres`);
let closing = false;
const close = async () => {
  if (closing) return;
  closing = true;
  await worker.close();
  await gw.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", close);
Deno.addSignalListener("SIGINT", close);
