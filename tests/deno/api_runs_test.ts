/**
 * The `sync` Edge Function's run, conflict, alert, audit and rebuild routes through supabase-js, behind the
 * local gateway, on a real target+legacy pair: POST /sync/runs in each mode (202 with the run, 409 with the
 * run in progress, 429 past the caller's limit, 400 naming bad input), a dry run that writes nothing,
 * pause/resume/cancel in the middle of a backfill, conflicts and alerts with their images and errors, the
 * audit trail (admin only) naming the verified callers, and GET /sync/runs filtered by entity and legacy id.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { ADMIN, err, VIEWER, withApi } from "./_api.ts";
import { sleep } from "./_helpers.ts";

const OFFICES =
  `insert into dispatch_office (name, phone, address, city, state, zip_code, is_active, created_at, updated_at)`;

Deno.test("POST /sync/runs: incremental runs once (202, then 409 for a second trigger), dry_run writes nothing", async () => {
  await withApi("api_runs", async (api) => {
    const { call, keys, pair } = api;
    const S = keys.SECRET_KEY;
    await pair.target`select sync.connect_source(${pair.legacyConninfo})`;
    await pair.legacy.unsafe(`${OFFICES} select 'Office ' || g, '', '', 'Humble', 'TX', '', true, now(), now()
                                         from generate_series(1, 5) g`);

    // dry_run: per entity what an apply would do, with samples; nothing written on either side.
    const [before] = await pair.legacy`select count(*)::int as log from sync_capture.log`;
    const dry = await call(S, "sync/runs", { body: { mode: "dry_run" } });
    strictEqual(dry.status, 202, JSON.stringify(dry.body));
    deepStrictEqual([dry.body.mode, dry.body.status, dry.body.trigger, dry.body.caller], [
      "dry_run",
      "succeeded",
      "manual",
      "secret_key",
    ]);
    const result = dry.body.result as Record<string, Record<string, unknown>>;
    deepStrictEqual(result.counts, { offices: { inserted: 5 } });
    deepStrictEqual(result.pulled, 5);
    const samples = (result.samples as unknown as Record<string, Record<string, unknown>[]>).offices;
    deepStrictEqual(samples.map((s) => [s.change, (s.target as { name: string }).name]), [
      ["insert", "Office 1"],
      ["insert", "Office 2"],
      ["insert", "Office 3"],
    ]);
    const [after] = await pair.target`select (select count(*)::int from public.offices) as offices,
                                             (select count(*)::int from sync.inbox) as inbox,
                                             (select count(*)::int from sync.id_map) as mapped,
                                             (select count(*)::int from sync.batches) as batches`;
    deepStrictEqual(after, { offices: 0, inbox: 0, mapped: 0, batches: 0 });
    deepStrictEqual((await pair.legacy`select count(*)::int as log from sync_capture.log`)[0], before);

    // Two triggers at once: one run (202), one 409 naming it.
    const rs = await Promise.all([
      call(S, "sync/runs", { body: { mode: "incremental" } }),
      call(keys.SERVICE_ROLE_KEY, "sync/runs", { body: { mode: "incremental" } }),
    ]);
    deepStrictEqual(rs.map((r) => r.status).sort(), [202, 409], JSON.stringify(rs.map((r) => r.body)));
    const won = rs.find((r) => r.status === 202)!.body;
    const lost = rs.find((r) => r.status === 409)!.body;
    deepStrictEqual([won.mode, won.trigger], ["incremental", "manual"]);
    deepStrictEqual(lost.error, { code: "already_running", message: "a run is already in progress" });
    strictEqual((lost.run as { id: number }).id, won.id);

    // The run's tick happens after the answer; it applies the five offices.
    let run: Record<string, unknown> = {};
    for (let i = 0; i < 100 && !["succeeded", "failed", "cancelled"].includes(run.status as string); i++) {
      await sleep(100);
      run = (await call(S, `sync/runs/${won.id}`, { method: "GET" })).body;
    }
    deepStrictEqual([run.status, run.counts], ["succeeded", { offices: { inserted: 5 } }]);
    deepStrictEqual(
      (await pair.target`select name from public.offices order by name`).map((r) => r.name),
      ["Office 1", "Office 2", "Office 3", "Office 4", "Office 5"],
    );
    const audit = await pair.target`select kind, subject, caller, details from sync.audit where kind = 'run.start'
                                    order by id`;
    deepStrictEqual(audit.map((a) => [a.kind, a.subject, a.details.mode]), [
      ["run.start", `run:${dry.body.id}`, "dry_run"],
      ["run.start", `run:${won.id}`, "incremental"],
    ]);

    // dry_run of a full backfill (all): what copying every source row again would do, per entity; nothing written.
    await pair.legacy`update dispatch_office set name = 'Renamed' where name = 'Office 4'`;
    const full = await call(S, "sync/runs", { body: { mode: "dry_run", all: true } });
    strictEqual(full.status, 202, JSON.stringify(full.body));
    const fr = full.body.result as Record<string, Record<string, unknown>>;
    deepStrictEqual([fr.all, fr.complete, fr.counts, fr.columns], [true, true, {
      offices: { updated: 1, unchanged: 4 },
    }, {
      offices: { name: 1 },
    }]);
    deepStrictEqual((fr.samples.offices as unknown as { change: string }[]).map((x) => x.change), [
      "unchanged",
      "unchanged",
      "unchanged",
    ]);
    deepStrictEqual((await pair.target`select count(*)::int as n from public.offices where name = 'Renamed'`)[0].n, 0);
    await pair.legacy`update dispatch_office set name = 'Office 4' where name = 'Renamed'`;

    // verify (now, under the applier lease) and repair of given legacy ids: 202 with the finished run.
    await pair.target`update public.offices set name = 'Edited' where name = 'Office 2'`;
    await pair.target`select sync.set_config('{"auto_repair": false}')`;
    const verify = await call(S, "sync/runs", { body: { mode: "verify", all: true } });
    deepStrictEqual([verify.status, verify.body.mode, verify.body.status], [202, "verify", "succeeded"]);
    const checked = verify.body.result as { ok: boolean; entities: { offices: { drift: { sample: unknown[] } } } };
    deepStrictEqual([checked.ok, checked.entities.offices.drift.sample], [false, [{
      legacy_id: 2,
      columns: ["name"],
    }]]);
    const repair = await call(S, "sync/runs", { body: { mode: "repair", legacy_ids: { offices: [2] } } });
    deepStrictEqual([repair.status, repair.body.mode, repair.body.counts], [202, "repair", {
      offices: { conflicts: 1, updated: 1 },
    }]);
    deepStrictEqual(
      (await pair.target`select name from public.offices where legacy_office_id = 2`)[0].name,
      "Office 2",
    );

    // Filters: runs that touched one legacy row; runs of an entity.
    const [{ legacy_id }] = await pair.target`select legacy_id from sync.id_map where entity = 'offices'
                                              order by legacy_id limit 1`;
    const byRow = await call(S, `sync/runs?entity=offices&legacy_id=${legacy_id}`, { method: "GET" });
    deepStrictEqual((byRow.body.items as { id: number }[]).map((r) => r.id), [won.id]);
    const byEntity = await call(S, "sync/runs?entity=offices", { method: "GET" });
    deepStrictEqual((byEntity.body.items as { id: number }[]).map((r) => r.id), [
      repair.body.id,
      full.body.id,
      won.id,
      dry.body.id,
    ]);
    deepStrictEqual((await call(S, "sync/runs?entity=patients", { method: "GET" })).body.items, []);
    strictEqual((await call(S, "sync/runs?legacy_id=1", { method: "GET" })).status, 400);
    strictEqual((await call(S, "sync/runs?entity=nope", { method: "GET" })).status, 400);

    // Bad input: 400 naming the problem; a viewer may not start runs.
    deepStrictEqual((await call(S, "sync/runs", { body: { mode: "fast" } })).status, 400);
    deepStrictEqual(
      (await call(S, "sync/runs", { body: { mode: "backfill", entities: ["nope"] } })).body,
      err(
        "invalid_input",
        'unknown entity "nope"',
      ),
    );
    deepStrictEqual(
      (await call(S, "sync/runs", { body: { mode: "incremental", entities: ["offices"] } })).body,
      err(
        "invalid_input",
        "an incremental run covers every entity: leave entities out",
      ),
    );
    const badRepair = await call(S, "sync/runs", { body: { mode: "repair", legacy_ids: { nope: [1] } } });
    deepStrictEqual([badRepair.status, badRepair.body], [
      400,
      err("invalid_input", "legacy_ids must map known entities to arrays of legacy ids"),
    ]);
    const viewer = await api.signIn(VIEWER);
    const v = await viewer.client.functions.invoke("sync/runs", { body: { mode: "incremental" } });
    strictEqual(v.error?.context.status, 403);
    await v.error?.context.body?.cancel();
  });
});

Deno.test("POST /sync/runs is rate-limited per caller (429 with Retry-After), kept in SQL", async () => {
  await withApi("api_rate", async (api) => {
    const { call, keys, pair, gw } = api;
    await pair.target`select sync.connect_source(${pair.legacyConninfo})`;
    await pair.target`select sync.set_config('{"manual_runs_per_minute": 2}')`;
    for (let i = 0; i < 2; i++) {
      strictEqual((await call(keys.SECRET_KEY, "sync/runs", { body: { mode: "dry_run" } })).status, 202);
    }
    const r = await fetch(`${gw.url}/functions/v1/sync/runs`, {
      method: "POST",
      headers: { apikey: keys.SECRET_KEY, "content-type": "application/json" },
      body: JSON.stringify({ mode: "dry_run" }),
    });
    const body = await r.json();
    strictEqual(r.status, 429, JSON.stringify(body));
    strictEqual(body.error.code, "rate_limited");
    ok(
      /^2 manual runs started in the last minute \(limit 2, manual_runs_per_minute\): retry in \d+ s$/.test(
        body.error.message,
      ),
      body.error.message,
    );
    const retry = Number(r.headers.get("retry-after"));
    ok(retry >= 1 && retry <= 60, String(retry));
    // Another caller has a budget of its own.
    const admin = await api.signIn(ADMIN);
    const a = await admin.client.functions.invoke("sync/runs", { body: { mode: "dry_run" } });
    ok(!a.error, String(a.error));
    strictEqual(a.data.caller, admin.id);
  });
});

Deno.test("POST /sync/runs backfill: 202, 409 while unfinished; pause, resume, cancel in the middle", async () => {
  await withApi("api_backfill", async (api) => {
    const { call, keys, pair } = api;
    const S = keys.SECRET_KEY;
    await pair.target`select sync.connect_source(${pair.legacyConninfo})`;
    await pair.target`select sync.set_config('{"backfill_batch_size": 100}')`;
    await pair.legacy.unsafe(`${OFFICES} select 'Office ' || g, '', '', 'Humble', 'TX', '', true, now(), now()
                                         from generate_series(1, 50000) g`);
    const b = await call(S, "sync/runs", { body: { mode: "backfill", entities: ["offices"] } });
    deepStrictEqual([b.status, b.body.mode, b.body.status, b.body.entities], [202, "backfill", "queued", ["offices"]]);
    const again = await call(S, "sync/runs", { body: { mode: "backfill" } });
    deepStrictEqual([again.status, (again.body.run as { id: number }).id], [409, b.body.id]);

    // Each tick round advances one chunk of 100 rows; pause between two ticks.
    const progress = async () => (await call(S, `sync/runs/${b.body.id}`, { method: "GET" })).body;
    await pair.target`select sync.set_config('{"tick_budget_seconds": 1}')`;
    await call(S, "sync/tick", { body: { max_seconds: 1 } });
    const mid = await progress();
    const done = (mid.progress as { done: number }).done;
    ok(mid.status === "running" && done > 0 && done < 50000, JSON.stringify(mid));
    deepStrictEqual((await call(S, `sync/runs/${b.body.id}/pause`, { body: {} })).body.status, "paused");
    await call(S, "sync/tick", { body: { max_seconds: 1 } });
    deepStrictEqual([(await progress()).status, ((await progress()).progress as { done: number }).done], [
      "paused",
      done,
    ]);
    deepStrictEqual((await call(S, `sync/runs/${b.body.id}/resume`, { body: {} })).body.status, "queued");
    deepStrictEqual(
      (await call(S, `sync/runs/${b.body.id}/cancel`, { body: { reason: "test" } })).body.status,
      "cancelled",
    );
    await call(S, "sync/tick", { body: { max_seconds: 1 } });
    const end = await progress();
    deepStrictEqual([end.status, (end.progress as { done: number }).done], ["cancelled", done]);
    strictEqual((await call(S, `sync/runs/${b.body.id}/resume`, { body: {} })).status, 409);
  }, { empty: true });
});

Deno.test("conflicts, alerts, audit and rebuild-mappings routes: shapes, images for admins, errors", async () => {
  await withApi("api_lists", async (api) => {
    const { call, keys, pair } = api;
    const S = keys.SECRET_KEY;
    const admin = await api.signIn(ADMIN);
    const viewer = await api.signIn(VIEWER);
    const [{ id: cid }] = await pair.target`
      insert into sync.conflicts (entity, legacy_id, op, strategy, status, columns, source_image, target_image, base_image)
      values ('offices', 7, 'upsert', 'manual', 'open', '{name}', '{"name": "Source"}', '{"name": "Target"}',
              '{"name": "Base"}') returning id::int`;

    const vl = await viewer.client.functions.invoke("sync/conflicts", { method: "GET" });
    ok(!vl.error, String(vl.error));
    deepStrictEqual(
      vl.data.items.map((c: Record<string, unknown>) => [c.id, c.status, c.columns, "source_image" in c]),
      [
        [cid, "open", ["name"], false],
      ],
    );
    const al = await call(S, "sync/conflicts?status=all&entity=offices", { method: "GET" });
    deepStrictEqual((al.body.items as Record<string, unknown>[]).map((c) => [c.source_image, c.target_image]), [
      [{ name: "Source" }, { name: "Target" }],
    ]);
    strictEqual((await call(S, "sync/conflicts?status=maybe", { method: "GET" })).status, 400);
    deepStrictEqual(
      (await call(S, `sync/conflicts/${cid}/resolve`, { body: { decision: "custom" } })).body,
      err(
        "invalid_input",
        "row: row goes with decision custom, and only with it",
      ),
    );
    const res = await admin.client.functions.invoke(`sync/conflicts/${cid}/resolve`, {
      body: { decision: "keep_target" },
    });
    ok(!res.error, String(res.error));
    deepStrictEqual([res.data.status, res.data.decision, res.data.resolved_by], ["resolved", "keep_target", admin.id]);
    strictEqual((await call(S, `sync/conflicts/${cid}/resolve`, { body: { decision: "keep_target" } })).status, 409);
    strictEqual((await call(S, "sync/conflicts/999999/resolve", { body: { decision: "keep_target" } })).status, 404);
    deepStrictEqual((await call(S, "sync/conflicts", { method: "GET" })).body, { items: [], next_cursor: null });

    // Alerts: list (open only by default), acknowledge once.
    const [{ id: aid }] = await pair.target`
      insert into sync.alerts (kind, severity, dedup_key, message) values ('lag', 'warning', 'lag', 'lag is 90 s')
      returning id::int`;
    const list = await viewer.client.functions.invoke("sync/alerts", { method: "GET" });
    deepStrictEqual(list.data.items.map((a: Record<string, unknown>) => [a.id, a.kind, a.severity, a.message]), [
      [aid, "lag", "warning", "lag is 90 s"],
    ]);
    const vack = await viewer.client.functions.invoke(`sync/alerts/${aid}/ack`, { body: {} });
    strictEqual(vack.error?.context.status, 403);
    await vack.error?.context.body?.cancel();
    const ack = await admin.client.functions.invoke(`sync/alerts/${aid}/ack`, { body: {} });
    ok(!ack.error, String(ack.error));
    deepStrictEqual([ack.data.id, ack.data.acknowledged_by], [aid, admin.id]);
    strictEqual((await call(S, `sync/alerts/${aid}/ack`, { body: {} })).status, 409);
    strictEqual((await call(S, "sync/alerts/999999/ack", { body: {} })).status, 404);
    deepStrictEqual((await call(S, "sync/alerts", { method: "GET" })).body.items, []);
    strictEqual(((await call(S, "sync/alerts?open=false", { method: "GET" })).body.items as unknown[]).length, 1);

    // Rebuild mappings: the report; audited.
    const rb = await call(S, "sync/rebuild-mappings", { body: {} });
    deepStrictEqual([rb.status, rb.body.unmatched, (rb.body.entities as Record<string, unknown>).offices], [200, 0, {
      mapped_before: 0,
      mapped: 0,
      remapped: 0,
      unmatched: 0,
      unmatched_sample: [],
    }]);

    // Audit: admin only; the verified callers; kind prefix filter.
    const va = await viewer.client.functions.invoke("sync/audit", { method: "GET" });
    strictEqual(va.error?.context.status, 403);
    await va.error?.context.body?.cancel();
    await call(S, "sync/config", { method: "PATCH", body: { batch_size: 1000 } });
    const trail = await call(S, "sync/audit", { method: "GET" });
    deepStrictEqual((trail.body.items as Record<string, unknown>[]).map((a) => [a.kind, a.subject, a.caller]), [
      ["config.set", "config", "secret_key"],
      ["mappings.rebuild", "id_map", "secret_key"],
      ["alert.ack", `alert:${aid}`, admin.id],
      ["conflict.resolve", `conflict:${cid}`, admin.id],
    ]);
    const acks = await admin.client.functions.invoke("sync/audit?kind=alert.&limit=5", { method: "GET" });
    deepStrictEqual(acks.data.items.map((a: Record<string, unknown>) => a.kind), ["alert.ack"]);
    strictEqual((await call(S, "sync/audit?kind=DROP TABLE", { method: "GET" })).status, 400);
  });
});

Deno.test("POST /sync/runs repair of a since/until window re-reads exactly the legacy rows updated in it", async () => {
  await withApi("api_repair_window", async ({ call, keys, pair }) => {
    const S = keys.SECRET_KEY;
    await pair.target`select sync.connect_source(${pair.legacyConninfo})`;
    await pair.legacy.unsafe(`${OFFICES} select 'Office ' || g, '', '', 'Humble', 'TX', '', true, now(),
                                           timestamptz '2026-01-01 00:00:00+00' + (g - 1) * interval '1 month'
                                      from generate_series(1, 4) g`);
    await pair.target`call sync.tick(5)`;
    // The target drifts (a process editing synced rows); nothing repairs it by itself.
    await pair.target`select sync.set_config('{"auto_repair": false}')`;
    await pair.target`update public.offices set name = 'Edited'`;
    const r = await call(S, "sync/runs", {
      body: {
        mode: "repair",
        entities: ["offices", "profiles"],
        since: "2026-01-15T00:00:00Z",
        until: "2026-03-01T00:00:00Z",
      },
    });
    deepStrictEqual([r.status, r.body.mode, r.body.status, r.body.counts], [202, "repair", "succeeded", {
      offices: { updated: 1, conflicts: 1 },
    }]);
    const result = r.body.result as Record<string, unknown>;
    deepStrictEqual([result.window, result.without_timestamp], [
      { since: "2026-01-15T00:00:00+00:00", until: "2026-03-01T00:00:00+00:00" },
      ["profiles"],
    ]);
    // February's office and March 1st's are in [since, until): only February's; and January's is before it.
    deepStrictEqual(
      (await pair.target`select name, updated_at from public.offices order by updated_at`).map((o) => o.name),
      ["Edited", "Office 2", "Edited", "Edited"],
    );
  });
});
