/**
 * No patient data where it does not belong (engine.md §9, api.md): a target constraint refuses a patient whose
 * medical notes it checks, and PostgreSQL's DETAIL for that ("Failing row contains (…)") echoes the notes. The
 * quarantine message, the run record, the alerts, the webhook and email payloads and the function's responses to a
 * viewer carry none of it; the row image is there for an admin only.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import postgres from "postgres";
import { freePort } from "../../scripts/lib/gateway.ts";
import { startNetWorker } from "../../scripts/lib/net_worker.ts";
import { VIEWER, withApi } from "./_api.ts";
import { adminUrlOf, sleep, tick } from "./_helpers.ts";

const NOTES = "Diagnosis: ZZ-SECRET-ONCOLOGY-7731";

Deno.test("a refused row whose constraint DETAIL echoes medical notes leaves them out of messages, alerts, payloads and viewer responses", async () => {
  await withApi("privacy", async ({ pair: p, call, keys, signIn }) => {
    const received: string[] = [];
    const port = freePort();
    const server = Deno.serve({ port, hostname: "127.0.0.1", onListen: () => {} }, async (req) => {
      received.push(await req.text());
      return Response.json({ ok: true });
    });
    const worker = startNetWorker({ dbUrl: p.targetUrl });
    const admin = postgres(adminUrlOf(p.targetUrl), { max: 1, onnotice: () => {} });
    try {
      await admin`select vault.create_secret('re_test_key', 'sync_email_api_key')`;
      const base = `http://127.0.0.1:${port}`;
      await p.target`select sync.set_config(${
        p.target.json({
          alerts: {
            thresholds: { quarantine_growth: 1 },
            destinations: {
              webhook_url: `${base}/hook`,
              webhook_min_severity: "info",
              email: "ops@example.com",
              email_min_severity: "info",
              email_api_url: `${base}/email`,
            },
          },
        })
      })`;
      await p.target`select sync.connect_source(${p.legacyConninfo})`;
      await p.legacyApp`insert into dispatch_office (name, phone, address, city, state, zip_code, is_active, created_at,
                          updated_at) values ('North', '', '', 'Humble', 'TX', '', true, now(), now())`;
      const [pt] = await p.legacyApp`
        insert into dispatch_patient (office_id, user_id, doctor_id, patient_number, first_name, last_name, birthdate, email,
                                      status_id, medical_notes, created_at, updated_at)
        select id, null, null, 'P-1', 'Ana', 'Núñez', null, '', 1, 'healthy', now(), now() from dispatch_office
        returning id`;
      await tick(p.target);
      // The Supabase application's rule, which the new notes break; its DETAIL would list the whole row.
      await p.target`alter table public.patients add constraint patients_notes_reviewed
                       check (medical_notes is null or medical_notes not like '%SECRET%') not valid`;
      await p.legacyApp`update dispatch_patient set medical_notes = ${NOTES}, updated_at = now() where id = ${pt.id}`;
      const run = await tick(p.target);
      deepStrictEqual((run.counts as Record<string, unknown>).patients, { quarantined: 1 });
      const [q] = await p.target`select id, reason, message from sync.quarantine where released_at is null`;
      deepStrictEqual([q.reason, q.message], [
        "apply_error",
        `patients ${pt.id} could not be written: the target refused it with SQLSTATE 23514 (check_violation), ` +
        "constraint patients_notes_reviewed, table public.patients",
      ]);

      // Alerts fire (quarantine growth) and are delivered to both destinations.
      await p.target`select sync.evaluate_alerts()`;
      for (let i = 0; i < 50 && received.length < 2; i++) {
        await p.target`select sync.deliver_alerts()`;
        await sleep(100);
      }
      ok(received.length >= 2, `the webhook and the email API were called: ${received.length}`);

      // Nowhere but the row images (inbox, quarantine's change) holds the notes.
      const [where] = await p.target`
        select (select count(*)::int from sync.quarantine where message like '%SECRET%') as quarantine,
               (select count(*)::int from sync.inbox where coalesce(message, '') || coalesce(reason, '') like '%SECRET%') as inbox_messages,
               (select count(*)::int from sync.runs where coalesce(error::text, '') || coalesce(summary::text, '') like '%SECRET%') as runs,
               (select count(*)::int from sync.alerts where message || details::text like '%SECRET%') as alerts,
               (select count(*)::int from sync.audit where details::text like '%SECRET%') as audit,
               (select count(*)::int from sync.inbox where image::text like '%SECRET%') as images`;
      deepStrictEqual(where, { quarantine: 0, inbox_messages: 0, runs: 0, alerts: 0, audit: 0, images: 1 });
      for (const body of received) ok(!body.includes("SECRET"), `a delivered payload holds the notes: ${body}`);
      const [{ n: queued }] = await p.target`select count(*)::int as n from net.http_request_queue
                                             where convert_from(body, 'utf8') like '%SECRET%'`;
      deepStrictEqual(queued, 0);

      // Through the API: a viewer sees the quarantine, the runs and the alerts, never the notes; an admin sees the
      // row image.
      const viewer = await signIn(VIEWER);
      for (const path of ["sync/quarantine?open=true", "sync/runs", "sync/alerts", "sync/health"]) {
        const r = await viewer.client.functions.invoke(path, { method: "GET" });
        ok(!r.error, `${path}: ${r.error}`);
        ok(!JSON.stringify(r.data).includes("SECRET"), `${path} shows a viewer the notes`);
      }
      const audit = await viewer.client.functions.invoke("sync/audit", { method: "GET" });
      deepStrictEqual(audit.error?.context?.status, 403, "the audit trail is admin-only");
      // A data exception's own text can quote the value (invalid input syntax): a run error keeps its SQLSTATE only.
      const [{ e }] = await p.target`select sync._run_error('apply', '22P02',
                                       ${`invalid input syntax for type integer: "${NOTES}"`}) as e`;
      deepStrictEqual(e, {
        phase: "apply",
        sqlstate: "22P02",
        category: "validation",
        message:
          "a value was refused with SQLSTATE 22P02 (data_exception); its text, which can quote the value, is left out",
      });
      const asAdmin = await call(keys.SECRET_KEY, "sync/quarantine?open=true", { method: "GET" });
      const items = asAdmin.body.items as { image: { medical_notes: string } }[];
      deepStrictEqual(items.map((x) => x.image.medical_notes), [NOTES]);

      // An admin overrides the business rule with a row of their own: applied, audited by column names only.
      const retried = await call(keys.SECRET_KEY, `sync/quarantine/${q.id}/retry`, {
        body: { row: { medical_notes: "Reviewed: see the chart" } },
      });
      deepStrictEqual([retried.status, retried.body.resolution, retried.body.outcome], [200, "custom", "applied"]);
      const [{ notes }] = await p.target`select medical_notes as notes from public.patients
                                         where legacy_patient_id = ${pt.id}`;
      deepStrictEqual(notes, "Reviewed: see the chart");
      const [a] = await p.target`select caller, details from sync.audit where kind = 'quarantine.retry'`;
      deepStrictEqual([a.caller, a.details.columns], ["secret_key", ["medical_notes"]]);
      ok(!JSON.stringify(a.details).includes("Reviewed"), "the audit names the columns, not the values");
    } finally {
      await worker.close();
      await server.shutdown();
      await admin.end();
    }
  });
});
