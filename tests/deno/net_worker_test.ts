/**
 * The local pg_net worker (scripts/lib/net_worker.ts) on a fresh target's `net` stand-in, against a real HTTP
 * server: two workers draining one queue perform each of 40 requests exactly once, with the queued method,
 * headers and body; every response is written under its request's id as pg_net writes it (status, content,
 * content type, headers; a timeout as timed_out with "Timeout of N ms reached"; a refused connection as an
 * error); the queue ends empty; and a request is taken within the poll, not seconds later.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import postgres from "postgres";
import { startNetWorker } from "../../scripts/lib/net_worker.ts";
import { freePort } from "../../scripts/lib/gateway.ts";
import { cloneDb, dropDb, TEMPLATES } from "../../scripts/lib/testenv.ts";
import { TEST } from "../../scripts/lib/stack.ts";
import { sleep } from "./_helpers.ts";

Deno.test("net_worker: the local pg_net worker performs each queued request once and writes pg_net's response rows", async () => {
  const db = `d_networker_${Deno.pid}`;
  const url = await cloneDb(TEST, TEMPLATES.target, db);
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  const seen: {
    method: string;
    path: string;
    apikey: string | null;
    type: string | null;
    ua: string | null;
    body: string;
    at: number;
  }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    const body = await req.text();
    seen.push({
      method: req.method,
      path,
      apikey: req.headers.get("apikey"),
      type: req.headers.get("content-type"),
      ua: req.headers.get("user-agent"),
      body,
      at: Date.now(),
    });
    if (path === "/slow") await sleep(2000);
    return Response.json({ echo: JSON.parse(body || "null") }, { status: 201, headers: { "x-echo": "yes" } });
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  const lines: Record<string, unknown>[] = [];
  const workers = [1, 2].map(() => startNetWorker({ dbUrl: url, log: (l) => lines.push(l) }));
  try {
    // 40 requests committed at once: each one is performed by exactly one of the two workers.
    const [{ ids }] = await sql`select array_agg(net.http_post(
                                  url := ${base} || '/ok', body := jsonb_build_object('n', n),
                                  headers := jsonb_build_object('Content-Type', 'application/json', 'apikey', 'sb_secret_x'),
                                  timeout_milliseconds := 5000) order by n)::text[] as ids
                                from generate_series(1, 40) n`;
    const [{ slow }] = await sql`select net.http_post(${base} || '/slow', timeout_milliseconds := 300)::text as slow`;
    const refusedPort = freePort();
    const [{ refused }] = await sql`select net.http_post(${`http://127.0.0.1:${refusedPort}/x`})::text as refused`;
    const end = Date.now() + 10_000;
    let n = 0;
    while (Date.now() < end) {
      [{ n }] = await sql`select count(*)::int as n from net._http_response where id = any(${[
        ...ids,
        slow,
        refused,
      ]}::bigint[])`;
      if (n === 42) break;
      await sleep(50);
    }
    deepStrictEqual(n, 42);
    const oks = seen.filter((s) => s.path === "/ok");
    deepStrictEqual(
      oks.map((s) => JSON.parse(s.body).n).sort((a, b) => a - b),
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    deepStrictEqual(
      [...new Set(oks.map((s) => `${s.method} ${s.apikey} ${s.type} ${s.ua}`))],
      ["POST sb_secret_x application/json pg_net/local-worker"],
    );
    deepStrictEqual(workers.reduce((a, w) => a + w.performed(), 0), 42);
    const rows =
      await sql`select id::text, status_code, content::jsonb as content, content_type, headers ->> 'x-echo' as echo,
                                  timed_out, error_msg
                             from net._http_response r where r.id = any(${ids}::bigint[]) order by r.id`;
    deepStrictEqual(
      rows.map((r) => [r.id, r.status_code, r.content, r.content_type, r.echo, r.timed_out, r.error_msg]),
      ids.map((id: string, i: number) => [id, 201, { echo: { n: i + 1 } }, "application/json", "yes", false, null]),
    );
    const [t] = await sql`select status_code, content, timed_out, error_msg from net._http_response where id = ${slow}`;
    deepStrictEqual([t.status_code, t.content, t.timed_out], [null, null, true]);
    ok(/^Timeout of 300 ms reached\. Total time: \d+ ms$/.test(t.error_msg), t.error_msg);
    const [r] = await sql`select status_code, timed_out, error_msg from net._http_response where id = ${refused}`;
    deepStrictEqual([r.status_code, r.timed_out], [null, false]);
    ok(/refused/i.test(r.error_msg), r.error_msg);
    const [{ left }] = await sql`select count(*)::int as left from net.http_request_queue`;
    deepStrictEqual(left, 0);

    // One more request, alone: taken within the poll (100 ms), not seconds later.
    const before = seen.length;
    const t0 = Date.now();
    await sql`select net.http_post(${base} || '/ok', '{"n": 41}'::jsonb)`;
    while (seen.length === before && Date.now() < t0 + 5000) await sleep(10);
    ok(seen.length === before + 1 && seen[before].at - t0 < 500, `taken after ${seen[before]?.at - t0} ms`);
    // The log lines name the request and its URL without query, never a header value.
    ok(lines.some((l) => l.request === Number(slow) && l.timed_out === true && l.url === `${base}/slow`));
    ok(!JSON.stringify(lines).includes("sb_secret_x"), "a log line holds the apikey");
  } finally {
    await Promise.all(workers.map((w) => w.close()));
    await server.shutdown();
    await sql.end();
    await dropDb(TEST, db);
  }
});
