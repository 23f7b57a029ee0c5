/**
 * `deno task source:install -- <legacy-db-url> [--capture trigger|logical|polling] [--reader <role>]`:
 * installs or upgrades capture, then prints the privileges that the engine's reader role needs:
 * granted to `<role>` with `--reader` (the role must exist), else stated for the operator to grant. With
 * `--capture logical` no trigger is installed but a wal2json slot (wal_level must be logical, the installing role needs
 * REPLICATION); the reader's REPLICATION attribute, which only a superuser can give, is stated when missing.
 */
import { fail, option, positionals, taskArgs } from "./lib/args.ts";
import { redact } from "./lib/psql.ts";
import { installSource } from "./lib/setup.ts";

const USAGE =
  "usage: deno task source:install -- <legacy-db-url> [--capture trigger|logical|polling] [--reader <role>]";

const args = taskArgs();
const [url] = positionals(args, ["capture", "reader"]);
const mode = option(args, "capture", "trigger");
const reader = option(args, "reader", "");
if (!url) fail(USAGE);
if (mode === "polling") {
  console.log("polling capture installs nothing on the source");
  Deno.exit(0);
}
if (mode !== "trigger" && mode !== "logical") fail(`unknown capture mode '${mode}': use trigger, logical or polling`);
if (reader === undefined || reader.startsWith("--")) fail(`--reader needs a role name\n${USAGE}`);
try {
  const lines = (await installSource(url, { mode, reader })).split("\n");
  // Logical capture: the REPLICATION attribute, which only a superuser gives, is stated apart from the grants.
  const grants = lines.filter((l) => !l.startsWith("alter role "));
  const replication = lines.filter((l) => l.startsWith("alter role "));
  console.log(`capture (${mode}) installed on ${redact(url)}`);
  console.log(
    reader
      ? `granted to the reader role ${reader}:`
      : "the engine's reader role needs (grant them with --reader <role>, or by hand):",
  );
  console.log(grants.map((l) => `  ${l};`).join("\n"));
  if (replication.length > 0) {
    console.log("logical decoding also needs the REPLICATION attribute; as a superuser on the source:");
    console.log(replication.map((l) => `  ${l};`).join("\n"));
  }
} catch (e) {
  fail((e as Error).message);
}
