/**
 * The `sync` Edge Function through supabase-js, behind the local gateway (scripts/lib/gateway.ts), on a real
 * target+legacy pair: the auth matrix of api.md with exact statuses and bodies, each route's success shape and
 * error statuses, two concurrent ticks (one 200, one 409 naming the running run), and no connection string,
 * password or key in any response body.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { createClient, FunctionsHttpError, type SupabaseClient } from "@supabase/supabase-js";
import { encodeBase64Url } from "../../scripts/lib/b64.ts";
import { freePort, startGateway } from "../../scripts/lib/gateway.ts";
import { makeKeys, signJwt } from "../../scripts/lib/keys.ts";
import { paths, TEST } from "../../scripts/lib/stack.ts";
import { ADMIN, err, VIEWER, withApi } from "./_api.ts";

const now = () => Math.floor(Date.now() / 1000);

async function foreignEs256(kid: string): Promise<string> {
  const k = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
  const enc = new TextEncoder();
  const h = encodeBase64Url(enc.encode(JSON.stringify({ alg: "ES256", typ: "JWT", kid })));
  const p = encodeBase64Url(enc.encode(JSON.stringify({
    sub: "00000000-0000-4000-8000-000000000001",
    role: "authenticated",
    app_metadata: { sync_role: "admin" },
    exp: now() + 600,
  })));
  const s = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, k.privateKey, enc.encode(`${h}.${p}`));
  return `${h}.${p}.${encodeBase64Url(new Uint8Array(s))}`;
}

Deno.test("sync API auth: 401, 403 and 200 exactly as api.md lists them", async () => {
  await withApi("api_auth", async (api) => {
    const { call, keys, gw } = api;
    const user = (claims: Record<string, unknown>, secret = keys.JWT_SECRET) =>
      signJwt({ sub: "00000000-0000-4000-8000-0000000000aa", role: "authenticated", ...claims }, secret);

    // No credentials at all (supabase-js always sends a key, so plain fetch).
    const none = await fetch(`${gw.url}/functions/v1/sync/config`);
    strictEqual(none.status, 401);
    deepStrictEqual(await none.json(), err("unauthorized", "no credentials: send a bearer token or an API key"));

    const cases: [string, Promise<{ status: number; body: unknown }>, number, unknown][] = [
      ["malformed", call("not-a-jwt", "sync/config", { method: "GET" }), 401, err("unauthorized", "malformed token")],
      [
        "expired",
        call(keys.PUBLISHABLE_KEY, "sync/config", {
          method: "GET",
          bearer: await user({ app_metadata: { sync_role: "admin" }, exp: now() - 5 }),
        }),
        401,
        err("unauthorized", "token expired"),
      ],
      [
        "foreign-signed HS256",
        call(keys.PUBLISHABLE_KEY, "sync/config", {
          method: "GET",
          bearer: await user({ app_metadata: { sync_role: "admin" }, exp: now() + 600 }, "another-projects-secret"),
        }),
        401,
        err("unauthorized", "invalid token signature"),
      ],
      [
        "foreign-signed ES256 under the project's kid",
        call(keys.PUBLISHABLE_KEY, "sync/config", {
          method: "GET",
          bearer: await foreignEs256(String((gw.jwks.keys[0] as { kid: string }).kid)),
        }),
        401,
        err("unauthorized", "invalid token signature"),
      ],
      [
        "wrong secret key",
        call("sb_secret_not_this_project", "sync/config", { method: "GET" }),
        401,
        err("unauthorized", "unknown secret key"),
      ],
      [
        "anon",
        call(keys.ANON_KEY, "sync/config", { method: "GET" }),
        403,
        err("forbidden", "the anon key cannot call this API"),
      ],
      [
        "publishable",
        call(keys.PUBLISHABLE_KEY, "sync/config", { method: "GET" }),
        403,
        err("forbidden", "a publishable key cannot call this API"),
      ],
      [
        "user without sync_role",
        call(keys.PUBLISHABLE_KEY, "sync/config", { method: "GET", bearer: await user({ exp: now() + 600 }) }),
        403,
        err("forbidden", "the user has no sync_role"),
      ],
    ];
    for (const [name, p, status, body] of cases) {
      const r = await p;
      deepStrictEqual({ name, status: r.status, body: r.body }, { name, status, body });
    }

    // Viewers read but do not write; admins (ES256 from the gateway's Auth) and machines do both.
    const viewer = await api.signIn(VIEWER);
    const admin = await api.signIn(ADMIN);
    const read = async (c: SupabaseClient) => (await c.functions.invoke("sync/config", { method: "GET" }));
    ok(!(await read(viewer.client)).error, "a viewer reads the configuration");
    const vw = await viewer.client.functions.invoke("sync/config", { method: "PATCH", body: { batch_size: 10 } });
    ok(vw.error instanceof FunctionsHttpError);
    strictEqual(vw.error.context.status, 403);
    deepStrictEqual(await vw.error.context.json(), err("forbidden", "this route needs sync_role admin"));
    const vt = await viewer.client.functions.invoke("sync/tick", { body: {} });
    strictEqual(vt.error?.context.status, 403);
    await vt.error?.context.body?.cancel();

    const aw = await admin.client.functions.invoke("sync/config", { method: "PATCH", body: { batch_size: 1000 } });
    ok(!aw.error, String(aw.error));
    strictEqual(aw.data.batch_size, 1000);
    for (const key of [keys.SERVICE_ROLE_KEY, keys.SECRET_KEY]) {
      const r = await call(key, "sync/config", { method: "PATCH", body: { batch_size: 2000 } });
      deepStrictEqual([r.status, r.body.batch_size], [200, 2000]);
    }
    // Audited with the verified caller.
    const who = await api.pair.target`select changed_by from sync.config_audit order by id`;
    deepStrictEqual(who.map((r) => r.changed_by), [admin.id, "service_role", "secret_key"]);
  });
});

Deno.test("sync API routes: tick, runs, cancel, config, quarantine; success shapes and error statuses", async () => {
  await withApi("api_routes", async (api) => {
    const { call, keys, pair } = api;
    const S = keys.SECRET_KEY;
    await pair.target`select sync.connect_source(${pair.legacyConninfo})`;
    await pair.legacy`insert into django_content_type (app_label, model) values ('dispatch', 'patient')`;

    // tick
    const t = await call(S, "sync/tick", { body: { max_seconds: 20 } });
    strictEqual(t.status, 200, JSON.stringify(t.body));
    strictEqual(t.body.status, "succeeded");
    const runId = t.body.run_id as number;
    ok(Number.isInteger(runId));
    const [recorded] = await pair.target`select trigger, caller from sync.runs where id = ${runId}`;
    deepStrictEqual(
      [recorded.trigger, recorded.caller],
      ["schedule", "secret_key"],
      "the verified caller, not the role",
    );
    deepStrictEqual((await call(S, "sync/tick", { body: { max_seconds: "x" } })).status, 400);
    deepStrictEqual((await call(S, "sync/tick", { body: { other: 1 } })).status, 400);

    // runs/:id, runs
    const one = await call(S, `sync/runs/${runId}`, { method: "GET" });
    deepStrictEqual([one.status, one.body.id, one.body.status, one.body.mode], [
      200,
      runId,
      "succeeded",
      "incremental",
    ]);
    const missing = await call(S, "sync/runs/999999", { method: "GET" });
    deepStrictEqual([missing.status, missing.body], [404, err("not_found", "run 999999 does not exist")]);
    strictEqual((await call(S, "sync/runs/abc", { method: "GET" })).status, 400);
    await call(S, "sync/tick", { body: {} });
    const page1 = await call(S, "sync/runs?limit=1", { method: "GET" });
    strictEqual(page1.status, 200);
    const items1 = page1.body.items as { id: number }[];
    strictEqual(items1.length, 1);
    ok(items1[0].id > runId);
    strictEqual(page1.body.next_cursor, items1[0].id);
    const page2 = await call(S, `sync/runs?limit=1&cursor=${page1.body.next_cursor}`, { method: "GET" });
    deepStrictEqual((page2.body.items as { id: number }[]).map((r) => r.id), [runId]);
    const failed = await call(S, "sync/runs?status=failed", { method: "GET" });
    deepStrictEqual(failed.body, { items: [], next_cursor: null });
    strictEqual((await call(S, "sync/runs?status=bogus", { method: "GET" })).status, 400);
    strictEqual((await call(S, "sync/runs?limit=0", { method: "GET" })).status, 400);
    strictEqual((await call(S, "sync/runs?from=yesterday", { method: "GET" })).status, 400);

    // cancel: an ended run is 409; a queued one is cancelled, audited with the verified caller; no caller in the body
    const ended = await call(S, `sync/runs/${runId}/cancel`, { body: {} });
    strictEqual(ended.status, 409);
    strictEqual((ended.body.error as { code: string }).code, "conflict");
    const [{ id: queued }] = await pair.target`insert into sync.runs (mode, status) values ('backfill', 'queued')
                                                returning id::int`;
    const admin = await api.signIn(ADMIN);
    strictEqual((await call(S, `sync/runs/${queued}/cancel`, { body: { caller: "mallory" } })).status, 400);
    const c = await admin.client.functions.invoke(`sync/runs/${queued}/cancel`, { body: { reason: "test" } });
    ok(!c.error, String(c.error));
    strictEqual(c.data.status, "cancelled");
    const [audit] = await pair.target`select caller from sync.audit where kind = 'run.cancel'`;
    strictEqual(audit.caller, admin.id);
    strictEqual((await call(S, "sync/runs/999999/cancel", { body: {} })).status, 404);

    // config
    const cfg = await call(S, "sync/config", { method: "GET" });
    deepStrictEqual([cfg.status, cfg.body.batch_size], [200, 5000]);
    const bad = await call(S, "sync/config", { method: "PATCH", body: { batch_size: "many" } });
    strictEqual(bad.status, 400);
    ok(String((bad.body.error as { message: string }).message).includes("batch_size"), JSON.stringify(bad.body));
    strictEqual((await call(S, "sync/config", { method: "PATCH", body: [1] })).status, 400);
    const big = await call(S, "sync/config", { method: "PATCH", body: { x: "a".repeat(70 * 1024) } });
    deepStrictEqual([big.status, (big.body.error as { code: string }).code], [413, "too_large"]);

    // newest_wins: accepted where both sides have a timestamp, refused (named) where they do not.
    const nw = await call(S, "sync/config", {
      method: "PATCH",
      body: { entities: { offices: { conflict_strategy: "newest_wins" } } },
    });
    deepStrictEqual(
      [nw.status, (nw.body.entities as Record<string, Record<string, string>>).offices.conflict_strategy],
      [
        200,
        "newest_wins",
      ],
    );
    const nwBad = await call(S, "sync/config", {
      method: "PATCH",
      body: { entities: { profiles: { conflict_strategy: "newest_wins" } } },
    });
    deepStrictEqual([nwBad.status, (nwBad.body.error as { message: string }).message], [
      400,
      "entities.profiles.conflict_strategy newest_wins needs a timestamp on both sides (the legacy row's updated_at and " +
      "the target's); profiles has none: use source_wins, target_wins, merge or manual",
    ]);

    // quarantine: images for admins only; discard, then 409; unknown 404
    await pair.target`insert into sync.inbox (id, entity, legacy_id, op, image, source_version, captured_at, status)
                      values (900001, 'offices', 77, 'upsert', '{"id": 77, "name": "Image Office"}', 1, now(),
                              'quarantined')`;
    const [{ id: qid }] = await pair.target`insert into sync.quarantine (entity, legacy_id, inbox_id, reason, message)
                                             values ('offices', 77, 900001, 'apply_error', 'refused') returning id::int`;
    const viewer = await api.signIn(VIEWER);
    const vq = await viewer.client.functions.invoke("sync/quarantine", { method: "GET" });
    deepStrictEqual(vq.data.items.map((q: Record<string, unknown>) => [q.id, "image" in q]), [[qid, false]]);
    const aq = await call(S, "sync/quarantine", { method: "GET" });
    deepStrictEqual((aq.body.items as { image: { name: string } }[])[0].image.name, "Image Office");
    const vd = await viewer.client.functions.invoke(`sync/quarantine/${qid}/discard`, { body: {} });
    strictEqual(vd.error?.context.status, 403);
    await vd.error?.context.body?.cancel();
    const d = await admin.client.functions.invoke(`sync/quarantine/${qid}/discard`, { body: {} });
    ok(!d.error, String(d.error));
    strictEqual(d.data.resolution, "discarded");
    strictEqual(d.data.released_by, admin.id);
    strictEqual((await call(S, `sync/quarantine/${qid}/discard`, { body: {} })).status, 409);
    strictEqual((await call(S, `sync/quarantine/${qid}/retry`, { body: {} })).status, 409);
    strictEqual((await call(S, "sync/quarantine/999999/retry", { body: {} })).status, 404);
    strictEqual((await call(S, "sync/quarantine/999999/discard", { body: {} })).status, 404);

    // unknown route and method
    strictEqual((await call(S, "sync/nothing", { method: "GET" })).status, 404);
    strictEqual((await call(S, "sync/tick", { method: "GET" })).status, 405);
  });
});

Deno.test("sync API: two concurrent POST /sync/tick give one 200 and one 409 naming the running run", async () => {
  await withApi("api_race", async (api) => {
    const { call, keys, pair } = api;
    await pair.target`select sync.connect_source(${pair.legacyConninfo})`;
    await pair
      .legacy`insert into dispatch_office (name, phone, address, city, state, zip_code, is_active, created_at, updated_at)
              select 'Office ' || g, '', '', 'Humble', 'TX', '', true, now(), now() from generate_series(1, 3000) g`;
    await call(keys.SECRET_KEY, "sync/config", { method: "GET" }); // the function's pool is open
    const rs = await Promise.all([
      call(keys.SECRET_KEY, "sync/tick", { body: { max_seconds: 30 } }),
      call(keys.SERVICE_ROLE_KEY, "sync/tick", { body: { max_seconds: 30 } }),
    ]);
    deepStrictEqual(rs.map((r) => r.status).sort(), [200, 409], JSON.stringify(rs));
    const won = rs.find((r) => r.status === 200)!;
    const lost = rs.find((r) => r.status === 409)!;
    deepStrictEqual(lost.body.error, { code: "already_running", message: "a run is already in progress" });
    strictEqual((lost.body.run as { id: number }).id, won.body.run_id);
    strictEqual(won.body.status, "succeeded");
  });
});

Deno.test("sync API: a database fault is a 500 without internals (no URL, password or driver message)", async () => {
  const keys = await makeKeys();
  const u = new URL(paths(TEST).dbUrl);
  u.password = "not-the-password-4711";
  const gw = await startGateway({ port: freePort(), dbUrl: u.href, keys });
  try {
    const r = await createClient(gw.url, keys.SECRET_KEY).functions.invoke("sync/config", { method: "GET" });
    strictEqual(r.error?.context.status, 500);
    const text = await r.error!.context.text();
    deepStrictEqual(JSON.parse(text), err("internal", "internal server error"));
    for (const s of ["not-the-password-4711", u.host, "postgres", "password"]) ok(!text.includes(s), text);
  } finally {
    await gw.close();
  }
});

Deno.test("sync API: health, metrics (Prometheus text), pause and resume of a queued backfill", async () => {
  await withApi("api_health", async (api) => {
    const { call, keys, pair, gw } = api;
    const S = keys.SECRET_KEY;
    await pair.target`select sync.connect_source(${pair.legacyConninfo})`;
    const viewer = await api.signIn(VIEWER);

    const h = await viewer.client.functions.invoke("sync/health", { method: "GET" });
    ok(!h.error, String(h.error));
    deepStrictEqual([h.data.status, h.data.queue, h.data.source.circuit], ["ok", {
      pending: 0,
      parked: 0,
      quarantined: 0,
      conflicts: 0,
    }, "closed"]);

    const m = await fetch(`${gw.url}/functions/v1/sync/metrics`, {
      headers: { apikey: S, Authorization: `Bearer ${S}` },
    });
    strictEqual(m.status, 200);
    strictEqual(m.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    const text = await m.text();
    api.bodies.push(text);
    ok(
      text.includes("# TYPE sync_lag_seconds gauge\n") && text.includes('sync_inbox_changes{status="pending"} 0\n'),
      text,
    );
    const anon = await fetch(`${gw.url}/functions/v1/sync/metrics`, { headers: { Authorization: "Bearer nope" } });
    strictEqual(anon.status, 401);
    await anon.body?.cancel();

    // Pause and resume a queued backfill, audited with the verified caller; a viewer may not.
    const [{ run }] = await pair.target`select sync.queue_backfill() as run`;
    const vp = await viewer.client.functions.invoke(`sync/runs/${run.id}/pause`, { body: {} });
    strictEqual((vp.error as FunctionsHttpError)?.context.status, 403);
    await vp.error?.context.body?.cancel();
    const p = await call(S, `sync/runs/${run.id}/pause`, { body: {} });
    deepStrictEqual([p.status, p.body.status], [200, "paused"]);
    strictEqual((await call(S, `sync/runs/${run.id}/pause`, { body: {} })).status, 409);
    const r = await call(S, `sync/runs/${run.id}/resume`, { body: {} });
    deepStrictEqual([r.status, r.body.status], [200, "queued"]);
    strictEqual((await call(S, "sync/runs/999999/resume", { body: {} })).status, 404);
    const audit = await pair
      .target`select kind, caller from sync.audit where kind in ('run.pause', 'run.resume') order by id`;
    deepStrictEqual(audit.map((a) => [a.kind, a.caller]), [["run.pause", "secret_key"], ["run.resume", "secret_key"]]);
  });
});

Deno.test("sync API: CORS for a dashboard on another origin (preflight, and the headers on every answer)", async () => {
  const { handler } = await import("../../functions/sync/index.ts");
  const pre = await handler(new Request("http://x/functions/v1/sync/health", { method: "OPTIONS" }));
  deepStrictEqual([
    pre.status,
    pre.headers.get("access-control-allow-origin"),
    pre.headers.get("access-control-allow-headers"),
  ], [
    204,
    "*",
    "authorization, x-client-info, apikey, content-type",
  ]);
  const denied = await handler(
    new Request("http://x/functions/v1/sync/health", { headers: { origin: "https://ops.example" } }),
  );
  deepStrictEqual([denied.status, denied.headers.get("access-control-allow-origin")], [401, "*"]);
  await denied.body?.cancel();
});
