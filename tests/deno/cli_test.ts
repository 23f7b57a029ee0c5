/**
 * `deno task sync` (scripts/sync.ts) as operators run it: the real task as a subprocess, against the `sync`
 * function behind a gateway of its own on a fresh target+legacy pair (tests/deno/_api.ts). Exact stdout, stderr
 * and exit status: runs, trigger --wait, a backfill's progress lines, run control, the queues, errors (404,
 * 403 for a signed-in viewer, 409 naming the run, usage), verify and repair, and no key or password in any output.
 */
import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { ADMIN, type Api, VIEWER, withApi } from "./_api.ts";
import { ROOT } from "../../scripts/lib/stack.ts";

const OFFICES =
  `insert into dispatch_office (name, phone, address, city, state, zip_code, is_active, created_at, updated_at)`;

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

/** Everything the CLI printed in this file's tests, for the secret scan. */
const printed: string[] = [];

/** The env a subprocess gets: only what deno needs, plus the given variables (no stray API_URL or key). */
function baseEnv(extra: Record<string, string>): Record<string, string> {
  const keep = ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR"];
  const env: Record<string, string> = { NO_COLOR: "1" };
  for (const k of keep) {
    const v = Deno.env.get(k);
    if (v) env[k] = v;
  }
  return { ...env, ...extra };
}

/** Runs `deno run -A scripts/sync.ts ...args` to its end. */
function start(env: Record<string, string>, args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "scripts/sync.ts", ...args],
    cwd: ROOT,
    env: baseEnv(env),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function finish(child: Deno.ChildProcess): Promise<Out> {
  const o = await child.output();
  const out = { code: o.code, stdout: new TextDecoder().decode(o.stdout), stderr: new TextDecoder().decode(o.stderr) };
  printed.push(out.stdout, out.stderr);
  return out;
}

/** The CLI with the secret key. */
function cliAs(api: Api) {
  const env = { API_URL: api.gw.url, SYNC_API_KEY: api.keys.SECRET_KEY };
  return (...args: string[]) => finish(start(env, args));
}

/** No key, password or connection string in anything the CLI printed in this test (then forgets it). */
function noSecretPrinted(api: Api): void {
  const k = api.keys;
  const secrets = [k.SECRET_KEY, k.SERVICE_ROLE_KEY, k.PUBLISHABLE_KEY, k.ANON_KEY, k.JWT_SECRET, VIEWER.password];
  secrets.push(ADMIN.password, "postgres://", "postgresql://");
  for (const p of printed.splice(0)) for (const s of secrets) ok(!p.includes(s), `the CLI printed a secret: ${p}`);
}

/** The UTC second the CLI prints for a timestamp. */
const utc = (t: Date | string) => new Date(t).toISOString().slice(0, 19).replace("T", " ");

Deno.test("cli: runs --json, trigger --wait, backfill progress, pause/resume/cancel, errors", async () => {
  await withApi("cli_runs", async (api) => {
    const { call, keys, pair } = api;
    const S = keys.SECRET_KEY;
    const cli = cliAs(api);
    await pair.target`select sync.connect_source(${pair.legacyConninfo})`;
    await pair.target`select sync.set_config('{"manual_runs_per_minute": 100}')`; // this test starts many runs
    // (its info alert config_changed, acknowledged: the status below starts with none open)
    await pair
      .target`update sync.alerts set acknowledged_at = now(), acknowledged_by = 'test' where kind = 'config_changed'`;
    await pair.legacy.unsafe(`${OFFICES} select 'Office ' || g, '', '', 'Humble', 'TX', '', true, now(), now()
                                         from generate_series(1, 5) g`);

    // status: the health summary; dry-run: counts and sample rows per entity, nothing written.
    deepStrictEqual(await cli("status"), {
      code: 0,
      stdout: "status     ok\nlast run   none\nlast ok    none\nnext run   not scheduled\nlag        -\n" +
        "queue      pending 0, parked 0, quarantined 0, conflicts 0\n" +
        "source     circuit closed, 0 failures, last pull -\nalerts     0 open\n",
      stderr: "",
    });
    const dry = await cli("dry-run", "offices");
    const [{ id: dryId }] = await pair.target`select max(id)::int as id from sync.runs`;
    const dryLines = dry.stdout.split("\n");
    deepStrictEqual([dry.code, dryLines.slice(0, 7)], [0, [
      `dry run ${dryId}: 5 changes pulled, nothing written`,
      "",
      "offices",
      "outcome   rows",
      "inserted  5",
      "sample rows:",
      "legacy_id  change  columns  reason  target",
    ]]);
    deepStrictEqual(dryLines.slice(7).map((l) => l.slice(0, 54)), [
      '1          insert  -        -       {"name":"Office 1"',
      '2          insert  -        -       {"name":"Office 2"',
      '3          insert  -        -       {"name":"Office 3"',
      "",
    ]);

    // trigger --wait: the run id, then its end and counts.
    const t = await cli("trigger", "--wait", "--interval", "0.1");
    strictEqual(t.code, 0, t.stderr);
    const [{ id: runId }] = await pair.target`select max(id)::int as id from sync.runs`;
    strictEqual(
      t.stdout.replace(/ in [\d.]+ m?s\n/, " in <t>\n"),
      `run ${runId} started (incremental)\nrun ${runId} succeeded in <t>\nentity   inserted\noffices  5\n`,
    );
    strictEqual(t.stderr, "");

    // runs --json is GET /sync/runs verbatim; the same with `--` first, as `deno task sync -- runs` passes it.
    const list = await call(S, "sync/runs", { method: "GET" });
    const rj = await cli("runs", "--json");
    deepStrictEqual([rj.code, JSON.parse(rj.stdout)], [0, list.body]);
    deepStrictEqual(JSON.parse((await cli("--", "runs", "--json")).stdout), list.body);
    const one = await cli("run", String(runId), "--json");
    deepStrictEqual(JSON.parse(one.stdout), (await call(S, `sync/runs/${runId}`, { method: "GET" })).body);

    const [r] = (list.body.items as Record<string, string>[]).filter((x) => x.id === runId);
    deepStrictEqual((await cli("run", String(runId))).stdout.split("\n").slice(0, 7), [
      `run ${runId}: incremental, succeeded`,
      "trigger   manual by secret_key",
      "entities  all",
      `started   ${utc(r.started_at)}`,
      `ended     ${utc(r.ended_at)}`,
      `duration  ${Date.parse(r.ended_at) - Date.parse(r.started_at)} ms`,
      "entity   inserted",
    ]);

    // config set: a merge patch, then the setting as a line of the table.
    const cfg = await cli("config", "set", '{"batch_size": 1000}');
    deepStrictEqual([cfg.code, cfg.stdout.split("\n").filter((l) => l.startsWith("batch_size "))], [0, [
      `batch_size${" ".repeat(cfg.stdout.indexOf("value") - "batch_size".length)}1000`,
    ]]);

    // backfill offices: plain progress lines (not a terminal), the last one done = total, exit 0.
    await pair.target`select sync.set_config('{"backfill_batch_size": 100, "tick_budget_seconds": 1}')`;
    await pair.legacy.unsafe(`${OFFICES} select 'Office ' || g, '', '', 'Humble', 'TX', '', true, now(), now()
                                         from generate_series(6, 500) g`);
    const child = start({ API_URL: api.gw.url, SYNC_API_KEY: S }, ["backfill", "offices", "--interval", "0.1"]);
    let done = false;
    const ticks = (async () => {
      while (!done) {
        await call(S, "sync/tick", { body: { max_seconds: 1 } });
        await new Promise((r) => setTimeout(r, 150));
      }
    })();
    const b = await finish(child);
    done = true;
    await ticks;
    strictEqual(b.code, 0, b.stderr);
    const lines = b.stdout.trimEnd().split("\n");
    const [{ id: bid }] = await pair.target`select max(id)::int as id from sync.runs where mode = 'backfill'`;
    strictEqual(lines[0], `run ${bid} queued: backfill of offices`);
    for (const l of lines.slice(1, -1)) {
      match(l, /^(queued at 0\/\d+ rows|\[[#-]{30}\] \d+\/500 rows {2}\d+% {2}[\d.]+ rows\/s {2}ETA (-|\d+ s))$/);
    }
    match(lines.at(-1)!, new RegExp(`^run ${bid} succeeded in [\\d.]+ m?s: 500/500 rows$`));

    // Run control on a queued backfill (nothing ticks now); a second backfill meanwhile names it in its 409.
    const q = await cli("backfill", "offices", "--no-wait");
    const [{ id: qid }] = await pair.target`select max(id)::int as id from sync.runs`;
    deepStrictEqual(q, { code: 0, stdout: `run ${qid} queued: backfill of offices\n`, stderr: "" });
    deepStrictEqual(await cli("backfill", "--no-wait"), {
      code: 1,
      stdout: "",
      stderr: `error (409 already_running): a run is already in progress (run ${qid}, backfill, queued)\n`,
    });
    deepStrictEqual(await cli("pause", String(qid)), { code: 0, stdout: `run ${qid} paused\n`, stderr: "" });
    deepStrictEqual(await cli("resume", String(qid)), { code: 0, stdout: `run ${qid} queued\n`, stderr: "" });
    deepStrictEqual(await cli("cancel", String(qid), "--reason", "not now"), {
      code: 0,
      stdout: `run ${qid} cancelled\n`,
      stderr: "",
    });
    const [audit] = await pair.target`select details from sync.audit where kind = 'run.cancel' order by id desc`;
    strictEqual(audit.details.reason, "not now");

    // Errors: unknown run (404), usage (2); verify and repair.
    deepStrictEqual(await cli("run", "999999"), {
      code: 1,
      stdout: "",
      stderr: "error (404 not_found): run 999999 does not exist\n",
    });
    const v = await cli("verify", "offices");
    const [{ id: verifyId }] = await pair.target`select max(id)::int as id from sync.runs`;
    deepStrictEqual([v.code, v.stdout.split("\n").slice(0, 3)], [0, [
      `verify run ${verifyId}: ok`,
      "entity   state  source  target  open  filtered  missing  orphaned  drifted",
      "offices  ok     500     500     0     0         -        -         0",
    ]]);
    await pair.target`update public.offices set name = 'Edited' where legacy_office_id = 3`;
    await pair.target`select sync.set_config('{"auto_repair": false}')`;
    const bad = await cli("verify", "offices", "--deep");
    deepStrictEqual([bad.code, bad.stdout.split("\n")[2]], [
      1,
      "offices  PROBLEM  500     500     0     0         0        0         1",
    ]);
    const rep = await cli("repair", "offices", "3");
    deepStrictEqual([rep.code, rep.stdout.split("\n")[0]], [0, `repair run ${verifyId + 2}: succeeded`]);
    strictEqual((await pair.target`select name from public.offices where legacy_office_id = 3`)[0].name, "Office 3");
    const usage = await cli("pause");
    deepStrictEqual([usage.code, usage.stdout, usage.stderr.split("\n")[0]], [
      2,
      "",
      "error: expected a run id, got none",
    ]);
    const unknown = await cli("frobnicate");
    deepStrictEqual([unknown.code, unknown.stderr.split("\n")[0]], [2, "error: unknown command frobnicate"]);
    const help = await cli("help");
    deepStrictEqual([help.code, help.stdout.split("\n")[0]], [
      0,
      "usage: deno task sync <command> [options] [--json] [--url <api url>]",
    ]);
    noSecretPrinted(api);
  });
});

Deno.test("cli: quarantine, conflicts resolve, alerts ack; a signed-in viewer gets 403; no secret printed", async () => {
  await withApi("cli_queues", async (api) => {
    const { keys, pair } = api;
    const cli = cliAs(api);
    await pair.target`insert into sync.inbox (id, entity, legacy_id, op, image, source_version, captured_at, status)
                      values (900001, 'offices', 77, 'upsert', '{"id": 77, "name": "Image Office"}', 1, now(),
                              'quarantined')`;
    const [qr] = await pair.target`insert into sync.quarantine (entity, legacy_id, inbox_id, reason, message)
                                   values ('offices', 77, 900001, 'apply_error', 'refused') returning id::int, created_at`;
    const [cr] = await pair.target`
      insert into sync.conflicts (entity, legacy_id, op, strategy, status, columns, source_image, target_image, base_image)
      values ('offices', 7, 'upsert', 'manual', 'open', '{name}', '{"name": "Source"}', '{"name": "Target"}',
              '{"name": "Base"}') returning id::int, created_at`;
    const [ar] = await pair.target`
      insert into sync.alerts (kind, severity, dedup_key, message) values ('lag', 'warning', 'lag', 'lag is 90 s')
      returning id::int, last_seen_at`;

    deepStrictEqual(await cli("quarantine"), {
      code: 0,
      stdout: "id  entity   legacy_id  reason       message  created_at           resolution\n" +
        `${qr.id}   offices  77         apply_error  refused  ${utc(qr.created_at)}  -\n`,
      stderr: "",
    });
    deepStrictEqual(await cli("quarantine", "discard", String(qr.id)), {
      code: 0,
      stdout: `quarantine ${qr.id} (offices 77) released: discarded\n`,
      stderr: "",
    });
    deepStrictEqual((await cli("quarantine")).stdout, "(none)\n");

    deepStrictEqual(await cli("conflicts"), {
      code: 0,
      stdout: "id  entity   legacy_id  op      status  columns   decision  created_at\n" +
        `${cr.id}   offices  7          upsert  open    ["name"]  -         ${utc(cr.created_at)}\n`,
      stderr: "",
    });
    deepStrictEqual(await cli("conflicts", "resolve", String(cr.id), "keep_target"), {
      code: 0,
      stdout: `conflict ${cr.id} resolved: keep_target\n`,
      stderr: "",
    });
    const bad = await cli("conflicts", "resolve", String(cr.id), "merge");
    deepStrictEqual([bad.code, bad.stderr.split("\n")[0]], [
      2,
      "error: decision must be accept_source, keep_target or custom, got merge",
    ]);

    deepStrictEqual(await cli("alerts"), {
      code: 0,
      stdout: "id  severity  kind  message      occurrences  last_seen_at         acknowledged_at\n" +
        `${ar.id}   warning   lag   lag is 90 s  1            ${utc(ar.last_seen_at)}  -\n`,
      stderr: "",
    });

    // A viewer signs in (publishable key + email/password) and may read, not write.
    const viewer = {
      API_URL: api.gw.url,
      SYNC_EMAIL: VIEWER.email,
      SYNC_PASSWORD: VIEWER.password,
      SUPABASE_PUBLISHABLE_KEY: keys.PUBLISHABLE_KEY,
    };
    const vlist = await finish(start(viewer, ["alerts", "--json"]));
    deepStrictEqual([vlist.code, JSON.parse(vlist.stdout).items.map((a: { id: number }) => a.id)], [0, [ar.id]]);
    const vcancel = await finish(start(viewer, ["cancel", "1"]));
    deepStrictEqual(vcancel, {
      code: 1,
      stdout: "",
      stderr: "error (403 forbidden): this route needs sync_role admin\n",
    });

    deepStrictEqual(await cli("alerts", "ack", String(ar.id)), {
      code: 0,
      stdout: `alert ${ar.id} acknowledged by secret_key\n`,
      stderr: "",
    });

    noSecretPrinted(api);
  });
});
