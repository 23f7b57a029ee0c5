/** `deno task source:install -- <legacy-db-url> [--capture trigger|logical|polling]`: install capture. */
import { fail, option, positionals, taskArgs } from "./lib/args.ts";
import { redact } from "./lib/psql.ts";
import { installSource } from "./lib/setup.ts";

const args = taskArgs();
const [url] = positionals(args, ["capture"]);
const mode = option(args, "capture", "trigger");
if (!url) fail("usage: deno task source:install -- <legacy-db-url> [--capture trigger|logical|polling]");
if (mode === "polling") {
  console.log("polling capture installs nothing on the source");
  Deno.exit(0);
}
if (mode !== "trigger" && mode !== "logical") fail(`unknown capture mode '${mode}': use trigger, logical or polling`);
try {
  await installSource(url, { mode });
  console.log(`capture (${mode}) installed on ${redact(url)}`);
} catch (e) {
  fail((e as Error).message);
}
