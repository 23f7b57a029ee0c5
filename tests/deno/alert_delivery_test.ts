/**
 * Alert delivery through the real `net` surface: sync.deliver_alerts queues requests with net.http_post, the local
 * pg_net worker performs them against a real local HTTP receiver (a webhook and an email API), and the answers come
 * back through net._http_response. A warning reaches the webhook only (email takes critical), a critical one both
 * (the email API with the key from Vault), a resolved one says so, a failing destination is retried until it answers,
 * and the digest goes to both. No row value in any body.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { freePort } from "../../scripts/lib/gateway.ts";
import { startNetWorker } from "../../scripts/lib/net_worker.ts";
import { adminUrlOf, freshPair, sleep } from "./_helpers.ts";
import postgres from "postgres";

interface Received {
  path: string;
  auth: string | null;
  body: Record<string, unknown>;
}

Deno.test("alerts: delivered to a webhook and an email API through pg_net, resolved, retried, digested", async () => {
  const p = await freshPair("alert_delivery", { empty: true });
  const received: Received[] = [];
  let failNext = 0;
  const port = freePort();
  const server = Deno.serve({ port, hostname: "127.0.0.1", onListen: () => {} }, async (req) => {
    const body = await req.json();
    if (failNext > 0) {
      failNext--;
      return new Response("busy", { status: 503 });
    }
    received.push({ path: new URL(req.url).pathname, auth: req.headers.get("authorization"), body });
    return Response.json({ ok: true });
  });
  const worker = startNetWorker({ dbUrl: p.targetUrl });
  // The Vault entry is a documented operator step; the platform's superuser stands in for the operator here.
  const admin = postgres(adminUrlOf(p.targetUrl), { max: 1, onnotice: () => {} });
  const deliverUntil = async (want: number) => {
    for (let i = 0; i < 50 && received.length < want; i++) {
      await p.target`select sync.deliver_alerts()`;
      await sleep(100);
    }
    await p.target`select sync.deliver_alerts()`; // records the answers
  };
  try {
    await admin`select vault.create_secret('re_test_key', 'sync_email_api_key')`;
    const base = `http://127.0.0.1:${port}`;
    await p.target`select sync.set_config(${
      p.target.json({
        alerts: {
          thresholds: { consecutive_failures: 1 },
          destinations: { webhook_url: `${base}/hook`, email: "ops@example.com", email_api_url: `${base}/email` },
        },
      })
    })`;

    // A warning: the webhook only.
    await p.target`insert into sync.conflicts (entity, legacy_id, op, strategy, status, columns, source_image)
                   values ('offices', 7, 'upsert', 'manual', 'open', '{name}', '{"name": "Secret Office Name"}')`;
    await p.target`select sync.evaluate_alerts()`;
    await deliverUntil(1);
    deepStrictEqual(received.map((r) => [r.path, r.body.text]), [
      ["/hook", "[warning] conflicts_waiting: 1 conflicts wait for a decision"],
    ]);

    // A critical one: both, the email API with the key from Vault.
    await p.target`insert into sync.runs (mode, status, started_at, ended_at)
                   values ('incremental', 'succeeded', now() - interval '5 minutes', now() - interval '5 minutes')`;
    await p.target`insert into sync.runs (mode, status, started_at, ended_at)
                   select 'incremental', 'failed', now(), now() from generate_series(1, 2)`;
    await p.target`select sync.evaluate_alerts()`;
    await deliverUntil(3);
    const critical = received.slice(1).sort((a, b) => a.path.localeCompare(b.path));
    deepStrictEqual(critical.map((r) => [r.path, r.auth]), [["/email", "Bearer re_test_key"], ["/hook", null]]);
    deepStrictEqual(critical[0].body, {
      from: "legacy-sync <sync@example.com>",
      to: ["ops@example.com"],
      subject: "legacy-sync: [critical] consecutive_failures: 2 runs failed in a row",
      text: "[critical] consecutive_failures: 2 runs failed in a row",
    });

    // Resolved, with the webhook failing twice first: retried until it answers.
    await p.target`update sync.conflicts set status = 'resolved', decision = 'keep_target', resolved_at = now()`;
    await p.target`select sync.evaluate_alerts()`;
    failNext = 2;
    for (let i = 0; i < 100 && received.length < 4; i++) {
      await p.target`select sync.deliver_alerts()`;
      // Time passes for the backoff (15 s, 30 s, …) without the test waiting for it.
      await p.target`update sync.alert_deliveries set next_at = now() where status = 'pending'`;
      await sleep(100);
    }
    deepStrictEqual(received[3].body.text, "[warning] resolved conflicts_waiting: no conflict waits");
    const [hook] = await p.target`select attempts, status, last_error from sync.alert_deliveries
                                   where event = 'resolved' and destination = 'webhook'`;
    await p.target`select sync.deliver_alerts()`;
    const [after] = await p.target`select attempts, status from sync.alert_deliveries
                                    where event = 'resolved' and destination = 'webhook'`;
    deepStrictEqual([hook.attempts, after.status], [3, "delivered"]);

    // The digest goes to both destinations.
    await p.target`select sync.digest()`;
    await deliverUntil(6);
    const digest = received.slice(4).sort((a, b) => a.path.localeCompare(b.path));
    deepStrictEqual(digest.map((r) => r.path), ["/email", "/hook"]);
    ok(String(digest[1].body.text).startsWith("legacy-sync, last 24 h: runs {"), String(digest[1].body.text));
    deepStrictEqual(
      (await p.target`select count(*)::int as n from sync.alert_deliveries where status <> 'delivered'`)[0].n,
      0,
    );

    for (const r of received) ok(!JSON.stringify(r.body).includes("Secret Office Name"), "a row value was sent");
  } finally {
    await admin`delete from vault.secrets where name = 'sync_email_api_key'`.catch(() => {});
    await admin.end();
    await worker.close();
    await server.shutdown();
    await p.close();
  }
});
