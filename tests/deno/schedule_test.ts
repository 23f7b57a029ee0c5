/**
 * sync.schedule / sync.unschedule in the database where pg_cron lives (the test stack's `postgres`,
 * as on hosted Supabase): refused until the Vault entries exist, then one job calling the function's
 * POST /sync/tick through net.http_post with the URL and key read from Vault, and a cleanup job.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import postgres from "postgres";
import { setupTarget } from "../../scripts/lib/setup.ts";
import { paths, TEST } from "../../scripts/lib/stack.ts";

Deno.test("sync.schedule creates the cron job from Vault entries; unschedule removes it", async () => {
  const url = paths(TEST).dbUrl;
  await setupTarget(url);
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  // The platform's superuser, for the fixture only: removing Vault entries left by an earlier run.
  const admin = postgres(paths(TEST).adminUrl, { max: 1, onnotice: () => {} });
  try {
    await sql`select sync.unschedule()`;
    await admin`delete from vault.secrets where name in ('sync_project_url', 'sync_secret_key')`;
    const missing = await sql`select sync.schedule('1 minute')`.catch((e) => e);
    deepStrictEqual([missing.code, missing.message], [
      "SY409",
      "the Vault entries sync_project_url and sync_secret_key are missing",
    ]);
    await sql`select vault.create_secret('http://127.0.0.1:54321', 'sync_project_url')`;
    await sql`select vault.create_secret('sb_secret_test', 'sync_secret_key')`;
    const seconds = await sql`select sync.schedule('10 seconds')`.catch((e) => e);
    deepStrictEqual(seconds.code, "SY400");

    const [{ s }] = await sql`select sync.schedule('1 minute', 'tester') as s`;
    deepStrictEqual([s.job, s.schedule, s.every, s.tick_seconds], ["legacy-sync-tick", "* * * * *", "1 minute", 59]);
    const jobs = await sql`select jobname, schedule, command from cron.job order by jobname`;
    deepStrictEqual(jobs.map((j) => [j.jobname, j.schedule, j.jobname === "legacy-sync-tick" ? "" : j.command]), [
      ["legacy-sync-alerts", "* * * * *", "select sync.evaluate_alerts(); select sync.deliver_alerts();"],
      ["legacy-sync-cleanup", "17 * * * *", "select sync.prune();"],
      ["legacy-sync-daily", "0 7 * * *", "select sync.digest(); select sync.verify(true, null, 'schedule', 300);"],
      ["legacy-sync-tick", "* * * * *", ""],
    ]);
    const command = jobs[3].command as string;
    ok(command.includes("/functions/v1/sync/tick") && command.includes("timeout_milliseconds := 74000"), command);
    ok(!command.includes("sb_secret_test"), "the key is read from Vault at run time, not stored in the job");
    // The job's command really queues the request with the Vault entries.
    const [{ id }] = await sql.unsafe(command + " as id");
    const [req] = await admin`select url, headers ->> 'apikey' as key, convert_from(body, 'UTF8')::jsonb as body
                            from net.http_request_queue where id = ${id}`;
    deepStrictEqual([req.url, req.key, req.body], ["http://127.0.0.1:54321/functions/v1/sync/tick", "sb_secret_test", {
      max_seconds: 59,
      idle_seconds: 59,
    }]);
    await admin`delete from net.http_request_queue where id = ${id}`;
    const [{ every }] = await sql`select sync.get_config() ->> 'schedule_interval' as every`;
    deepStrictEqual(every, "1 minute");

    const [{ u }] = await sql`select sync.unschedule('tester') as u`;
    deepStrictEqual(u.removed, ["legacy-sync-alerts", "legacy-sync-cleanup", "legacy-sync-daily", "legacy-sync-tick"]);
    const [{ n }] = await sql`select count(*)::int as n from cron.job where jobname like 'legacy-sync-%'`;
    deepStrictEqual(n, 0);
    const audit = await sql`select kind, caller from sync.audit where kind like 'schedule.%' order by id desc limit 2`;
    deepStrictEqual(audit.map((a) => [a.kind, a.caller]), [["schedule.remove", "tester"], ["schedule.set", "tester"]]);
  } finally {
    await admin`delete from vault.secrets where name in ('sync_project_url', 'sync_secret_key')`.catch(() => {});
    await admin.end();
    await sql.end();
  }
});
