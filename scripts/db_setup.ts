/** `deno task db:setup -- <target-db-url>`: prepare a database like Supabase and apply the migrations. */
import { fail, positionals, taskArgs } from "./lib/args.ts";
import { redact } from "./lib/psql.ts";
import { setupTarget } from "./lib/setup.ts";

const [url] = positionals(taskArgs());
if (!url) fail("usage: deno task db:setup -- <target-db-url>");
try {
  await setupTarget(url);
  console.log(`target ready: ${redact(url)}`);
} catch (e) {
  fail((e as Error).message);
}
