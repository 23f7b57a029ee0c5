/**
 * The local gateway of a stack, in the foreground: `deno run -A scripts/gateway.ts --stack demo|test [--port N]`.
 * `deno task start` runs it in the background (scripts/lib/gateway_process.ts); SIGTERM or SIGINT stops it and
 * its functions.
 */
import { option, taskArgs } from "./lib/args.ts";
import { startGateway } from "./lib/gateway.ts";
import { apiPort, operators } from "./lib/gateway_process.ts";
import { DEMO, keys, paths, TEST } from "./lib/stack.ts";

const args = taskArgs();
const spec = option(args, "stack") === TEST.name ? TEST : DEMO;
const port = Number(option(args, "port") ?? apiPort(spec));
const gw = await startGateway({
  port,
  dbUrl: paths(spec).dbUrl,
  keys: await keys(spec),
  operators: await operators(spec),
  logFile: `${paths(spec).dir}/functions.log`,
});
console.log(`gateway for stack '${spec.name}' on ${gw.url}`);
let closing = false;
const close = async () => {
  if (closing) return;
  closing = true;
  await gw.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", close);
Deno.addSignalListener("SIGINT", close);
