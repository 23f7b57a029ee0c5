/**
 * `deno task legacy:stream -- <legacy-db-url> [--rate 50] [--clients 2] [--seconds 0]`: a live stream
 * of Django-like legacy transactions at about `rate` per second, until stopped (or for `seconds`).
 */
import { fail, option, positionals, taskArgs } from "./lib/args.ts";
import { runStream } from "./lib/stream.ts";

const args = taskArgs();
const [url] = positionals(args, ["rate", "clients", "seconds"]);
if (!url) fail("usage: deno task legacy:stream -- <legacy-db-url> [--rate 50] [--clients 2] [--seconds 0]");
const ac = new AbortController();
Deno.addSignalListener("SIGINT", () => ac.abort());
const seconds = Number(option(args, "seconds", "0"));
if (seconds > 0) setTimeout(() => ac.abort(), seconds * 1000);
const stats = await runStream(url, {
  rate: Number(option(args, "rate", "50")),
  clients: Number(option(args, "clients", "2")),
  signal: ac.signal,
  onSecond: (s) => console.log(`${s.total} transactions (${s.perSecond}/s)`),
});
console.log(`done: ${stats.total} transactions`);
Deno.exit(0);
