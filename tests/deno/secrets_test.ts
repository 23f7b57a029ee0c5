/**
 * The source password never reaches the server log, run records, alerts or sync.source, and
 * sync.connect_source never echoes it: with the target database logging DDL and every error's
 * statement (the statement holds the password as a literal), a correct conninfo, a wrong password,
 * an unreachable port and a malformed URI each return an exact object, and the password is found
 * nowhere.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import postgres from "postgres";
import { adminUrlOf, freshPair, serverLogPath, tick } from "./_helpers.ts";

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("connect_source keeps the password out of its results, the server log, runs, alerts and sync.source", async () => {
  const p = await freshPair("secrets");
  const secret = `pw-${crypto.randomUUID()}`;
  const role = `secret_reader_${Deno.pid}`;
  const src = new URL(p.legacyUrl);
  const db = src.pathname.slice(1);
  const port = Number(src.port);
  const down = freePort();
  const targetDb = new URL(p.targetUrl).pathname.slice(1);
  const admin = postgres(adminUrlOf(p.targetUrl), { max: 1, onnotice: () => {} });
  const warnings: string[] = [];
  const target = postgres(p.targetUrl, { max: 1, onnotice: (n) => warnings.push(n.message) });
  try {
    // A reader of its own whose password is the distinctive string; it reads what sync_reader reads.
    await p.legacy.unsafe(`create role ${role} login password '${secret}' in role sync_reader`);
    await admin.unsafe(`alter database ${targetDb} set log_statement = 'ddl'`);
    await admin.unsafe(`alter database ${targetDb} set log_min_error_statement = 'error'`);
    const logStart = (await Deno.stat(serverLogPath())).size;

    // The password travels as a literal in the statement's text, the way psql and SQL editors send it.
    // An error is kept as a result, so that the scans below run whatever connect_source does.
    const connect = async (conninfo: string): Promise<unknown> => {
      try {
        const [row] = await target.unsafe(`select sync.connect_source('${conninfo}') as r`);
        return row.r;
      } catch (e) {
        return { raised: (e as Error).message };
      }
    };
    const source = (at: number) => `host=127.0.0.1 port=${at} user=${role} dbname=${db}`;
    const [{ tables }] = await p.target`select count(*)::int as tables from sync.entities`;
    const calls = [
      {
        conninfo: `host=127.0.0.1 port=${port} dbname=${db} user=${role} password=${secret}`,
        result: {
          connected: true,
          source: source(port),
          capture: "trigger",
          capture_version: 4,
          tables,
          unavailable: [],
        },
      },
      {
        conninfo: `host=127.0.0.1 port=${port} dbname=${db} user=${role} password=wrong-${secret}`,
        message: `source ${source(port)}: cannot reach it: could not connect to server "sync_source": ` +
          `connection to server at "127.0.0.1", port ${port} failed: FATAL: password authentication failed for user "${role}"`,
      },
      {
        conninfo: `host=127.0.0.1 port=${down} dbname=${db} user=${role} password=${secret}`,
        message: `source ${source(down)}: cannot reach it: could not connect to server "sync_source": ` +
          `connection to server at "127.0.0.1", port ${down} failed: Connection refused ` +
          `Is the server running on that host and accepting TCP/IP connections?`,
      },
      {
        conninfo: `postgresql://${role}:${secret}@127.0.0.1:no-port/${db}`,
        message: "the source connection string is not a valid postgres:// URI",
      },
    ];
    const results: unknown[] = [];
    for (const c of calls) results.push(await connect(c.conninfo));
    // The failed calls left the working connection in place: a tick pulls through it.
    const summary = await tick(target);

    const [dumps] = await target`select (select coalesce(jsonb_agg(r), '[]')::text from sync.runs r) as runs,
                                         (select coalesce(jsonb_agg(a), '[]')::text from sync.alerts a) as alerts,
                                         (select coalesce(jsonb_agg(s), '[]')::text from sync.source s) as source,
                                         (select array_to_string(srvoptions, ',') from pg_foreign_server
                                           where srvname = 'sync_source') as server`;
    for (const [k, v] of Object.entries(dumps)) ok(!String(v).includes(secret), `${k} holds the password`);
    const log = new TextDecoder().decode((await Deno.readFile(serverLogPath())).subarray(logStart));
    ok(!log.includes(secret), "the server log holds the password");
    ok(log.includes(calls[1].message!), "the warnings reach the server log (the scan reads the right file)");

    deepStrictEqual(
      results,
      calls.map((c) => c.result ?? { connected: false, error: { code: "SY400", message: c.message } }),
    );
    deepStrictEqual(
      warnings,
      calls.slice(1).map((c) => c.message),
      "each failure is also a warning, with the same message",
    );
    deepStrictEqual(summary.status, "succeeded", JSON.stringify(summary));
    ok(String(dumps.server).includes(`port=${port}`), `the server of the good call stays: ${dumps.server}`);
  } finally {
    await target.end();
    await admin.end();
    await p.legacy.unsafe(`drop role if exists ${role}`).catch(() => {});
    await p.close();
  }
});
