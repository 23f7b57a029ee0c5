/**
 * `deno task dashboard:build -- --url https://<ref>.supabase.co --key sb_publishable_... [--out dist/dashboard]`:
 * writes the dashboard as a static bundle for any static host: index.html, app.js, charts.js, style.css,
 * vendor/supabase.js (supabase-js's UMD bundle, the version deno.json pins) and config.js naming the project's
 * URL and publishable key. Refuses a secret key (it would be public on the page). Re-runnable: it overwrites.
 */
import { dirname } from "node:path";
import { fail, option, taskArgs } from "./lib/args.ts";
import { configJs, DASHBOARD_FILES, readDashboardFile, VENDOR_FILE } from "./lib/dashboard.ts";
import { ROOT } from "./lib/stack.ts";

const args = taskArgs();
const url = option(args, "url");
const key = option(args, "key");
const out = option(args, "out", `${ROOT}/dist/dashboard`)!;
const usage = "usage: dashboard:build --url https://<ref>.supabase.co --key sb_publishable_... [--out dir]";

if (!url || !key) fail(usage);
let parsed: URL;
try {
  parsed = new URL(url);
} catch {
  fail(`--url is not a URL: ${url}`);
}
if (!["https:", "http:"].includes(parsed.protocol)) fail(`--url must be http(s), got ${parsed.protocol}`);
if (key.startsWith("sb_secret_") || !/^(sb_publishable_|eyJ)/.test(key)) {
  fail("--key must be the project's publishable key (sb_publishable_...): the page is public");
}

for (const name of [...DASHBOARD_FILES, VENDOR_FILE]) {
  const path = `${out}/${name}`;
  await Deno.mkdir(dirname(path), { recursive: true });
  await Deno.writeFile(path, (await readDashboardFile(name))!);
}
await Deno.writeTextFile(
  `${out}/config.js`,
  configJs({ url: parsed.origin + parsed.pathname.replace(/\/+$/, ""), publishableKey: key }),
);
console.log(`dashboard for ${parsed.origin} written to ${out}/ (upload that folder to any static host)`);
