/**
 * `deno task test`: installs what is missing, starts the isolated test stack (its own port and data
 * directory), builds the template databases, runs every pgTAP file (pg_prove, one fresh database per
 * file) and the Deno tests, and ends with one combined line `N passed, N failed`.
 *
 * pgTAP files under tests/pgtap/<kind>/ run against a clone of that kind's template: `target`
 * (migrated Supabase-like database) or `legacy` (generated legacy database). A file under `engine/`
 * gets a target clone and a legacy clone, with psql variables `legacy_conninfo` (the legacy one, as the
 * engine's reader `sync_reader`), `legacy_app_conninfo` (the same, as the application's `legacy_app`) and
 * `legacy_owner_url` (its owner, for schema changes).
 * Options: `--only <substring>[,<substring>...]` runs the matching pgTAP files and Deno tests only.
 */
import { option, taskArgs } from "./lib/args.ts";
import { ensureInstalled } from "./lib/install.ts";
import { run } from "./lib/run.ts";
import { apiUrl, startGatewayProcess, stopGatewayProcess } from "./lib/gateway_process.ts";
import { ROOT, start, stop, TEST } from "./lib/stack.ts";
import { buildTemplates, cloneDb, conninfoAs, dropDb, LEGACY_ROLES, TEMPLATES } from "./lib/testenv.ts";

const args = taskArgs();
const only = option(args, "only");
// `--only a,b`: either substring.
const onlyAny = only ? only.split(",").filter((o) => o !== "") : [];
const t0 = performance.now();

await ensureInstalled({ browser: true });
await start(TEST);
await startGatewayProcess(TEST);
console.log("building test templates ...");
await buildTemplates(TEST);
console.log(`templates ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

interface Tally {
  passed: number;
  failed: number;
}
const pgtap: Tally = { passed: 0, failed: 0 };

async function pgtapFiles(): Promise<string[]> {
  const files: string[] = [];
  for (const kind of ["target", "legacy", "engine"]) {
    try {
      for await (const e of Deno.readDir(`${ROOT}/tests/pgtap/${kind}`)) {
        if (e.name.endsWith(".test.sql")) files.push(`tests/pgtap/${kind}/${e.name}`);
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return files.filter((f) => onlyAny.length === 0 || onlyAny.some((o) => f.includes(o))).sort();
}

async function runPgtap(file: string, index: number): Promise<string> {
  const kind = file.split("/")[2];
  const db = `t_${index}_${kind}`;
  const url = await cloneDb(TEST, kind === "legacy" ? TEMPLATES.legacy : TEMPLATES.target, db);
  const extra: string[] = [];
  let legacyDb: string | undefined;
  if (kind === "engine") {
    legacyDb = `${db}_src`;
    const src = await cloneDb(TEST, TEMPLATES.legacy, legacyDb);
    extra.push("--set", `legacy_conninfo=${conninfoAs(src, LEGACY_ROLES.reader)}`);
    extra.push("--set", `legacy_app_conninfo=${conninfoAs(src, LEGACY_ROLES.app)}`);
    extra.push("--set", `legacy_owner_url=${src}`); // the legacy clone's owner (schema changes, as in the Deno tests)
  }
  const out = await run(["pg_prove", "--verbose", "-d", url, ...extra, file], { cwd: ROOT, allowFail: true });
  const text = out.stdout + out.stderr;
  const oks = text.match(/^\s*ok \d+/gm)?.length ?? 0;
  const notOks = text.match(/^\s*not ok \d+/gm)?.length ?? 0;
  pgtap.passed += oks;
  pgtap.failed += notOks + (out.code !== 0 && notOks === 0 ? 1 : 0);
  await dropDb(TEST, db);
  if (legacyDb) await dropDb(TEST, legacyDb);
  return out.code === 0 ? `ok   ${file} (${oks})` : `FAIL ${file}\n${text}`;
}

const files = await pgtapFiles();
const queue = files.map((f, i) => [f, i] as const);
const lines: string[] = [];
await Promise.all([1, 2].map(async () => {
  for (let next = queue.shift(); next; next = queue.shift()) {
    const line = await runPgtap(next[0], next[1]);
    console.log(line);
    lines.push(line);
  }
}));
console.log(`pgTAP: ${files.length} files, ${pgtap.passed} passed, ${pgtap.failed} failed`);

const deno: Tally = { passed: 0, failed: 0 };
const escape = (o: string) => o.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
const denoFilter = onlyAny.length ? ["--filter", `/${onlyAny.map(escape).join("|")}/`] : [];
const denoRun = await run(
  [Deno.execPath(), "test", "-A", "--no-prompt", ...denoFilter, "tests/deno/"],
  { cwd: ROOT, allowFail: true, env: { SYNC_TEST_STACK: "test", SYNC_TEST_API_URL: apiUrl(TEST), NO_COLOR: "1" } },
);
const denoText = denoRun.stdout + denoRun.stderr;
console.log(denoText.trimEnd());
const m = denoText.match(/(\d+) passed.*?\| (\d+) failed/);
if (m) {
  deno.passed = Number(m[1]);
  deno.failed = Number(m[2]);
} else if (denoRun.code !== 0 && !/No test modules found/.test(denoText)) {
  deno.failed = 1;
}

if (!Deno.env.get("SYNC_KEEP_TEST_STACK")) {
  await stopGatewayProcess(TEST);
  await stop(TEST);
}
const secs = ((performance.now() - t0) / 1000).toFixed(0);
console.log(
  `\npgTAP ${pgtap.passed} passed, ${pgtap.failed} failed · deno ${deno.passed} passed, ${deno.failed} failed · ${secs} s`,
);
const passed = pgtap.passed + deno.passed;
const failed = pgtap.failed + deno.failed;
console.log(`${passed} passed, ${failed} failed`);
Deno.exit(failed > 0 || passed === 0 ? 1 : 0);
