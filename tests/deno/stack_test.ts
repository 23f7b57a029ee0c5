/**
 * The local stack: refuses a port that something else holds, with a message naming the fix;
 * re-initialises a data directory that an older version made (with `postgres` as the superuser); and
 * `stop` / `start` of the test stack's background process (gateway and pg_net worker) end and bring back
 * exactly that process, `start` storing the Vault entries for the schedule.
 */
import { deepStrictEqual, ok, rejects } from "node:assert/strict";
import postgres from "postgres";
import { apiUrl, gatewayPid, startGatewayProcess, stopGatewayProcess } from "../../scripts/lib/gateway_process.ts";
import { psql } from "../../scripts/lib/psql.ts";
import { setupTarget, storeScheduleSecrets } from "../../scripts/lib/setup.ts";
import { keys, paths, ROOT, start, stop, TEST } from "../../scripts/lib/stack.ts";
import { sleep } from "./_helpers.ts";

function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

Deno.test("start reports a taken port clearly", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  try {
    await rejects(start({ name: `porttest_${Deno.pid}`, port, fast: true }), (e: Error) => {
      return e.message ===
        `port ${port} on 127.0.0.1 is taken by another process; stop it or choose another port with SYNC_DB_PORT`;
    });
  } finally {
    l.close();
  }
});

Deno.test("start re-initialises a stack whose postgres is a superuser, and says so once", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const spec = { name: `reinit_${Deno.pid}`, port, fast: true };
  const p = paths(spec);
  const printed: string[] = [];
  const log = console.log;
  try {
    await start(spec);
    // What the older code made: the bootstrap superuser was `postgres`.
    await psql(p.adminUrl, { command: "alter role postgres superuser" });
    await psql(p.dbUrl, { command: "create table made_before (id int)" });
    console.log = (...args: unknown[]) => printed.push(args.join(" "));
    await start(spec);
    await start(spec);
    console.log = log;
    deepStrictEqual(printed, [
      `local stack '${spec.name}': made by an older version (postgres is a superuser); re-initialising it with ` +
      "supabase_admin as the superuser (its data is regenerated)",
    ]);
    deepStrictEqual(
      await psql(p.dbUrl, {
        command: "select rolsuper::text || ' ' || (to_regclass('made_before') is null)::text from pg_roles " +
          "where rolname = current_user",
      }),
      "false true",
    );
  } finally {
    console.log = log;
    await stop(spec);
    await Deno.remove(p.dir, { recursive: true }).catch(() => {});
  }
});

Deno.test({
  name: "stack: stop ends exactly the gateway process and its pg_net worker; start brings both back and stores Vault",
  ignore: !Deno.env.get("SYNC_TEST_API_URL"),
  fn: async () => {
    await setupTarget(paths(TEST).dbUrl); // the net and vault surfaces in the stack's database
    const sql = postgres(paths(TEST).dbUrl, { max: 1, onnotice: () => {} });
    const admin = postgres(paths(TEST).adminUrl, { max: 1, onnotice: () => {} });
    const seen: string[] = [];
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
      seen.push(`${req.method} ${new URL(req.url).pathname}`);
      return new Response("ok");
    });
    try {
      const before = gatewayPid(TEST);
      ok(before !== undefined, "the test stack's gateway process is not running");
      deepStrictEqual(await stopGatewayProcess(TEST), true);
      deepStrictEqual([gatewayPid(TEST), alive(before)], [undefined, false]);
      // Nothing else drains the stack's queue: the request waits while the process is stopped.
      const [{ id }] = await sql`select net.http_post(${`http://127.0.0.1:${server.addr.port}/hook`})::text as id`;
      await sleep(1000);
      const [{ queued }] = await sql`select count(*)::int as queued from net.http_request_queue where id = ${id}`;
      deepStrictEqual([queued, seen], [1, []]);

      // `deno task start` (the real task): the process again, the worker performs the waiting request, and the
      // Vault entries that were removed are stored again.
      await admin`delete from vault.secrets where name in ('sync_project_url', 'sync_secret_key')`;
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", `${ROOT}/scripts/stack.ts`, "start", "--stack", "test"],
        cwd: ROOT,
        env: { NO_COLOR: "1" },
      }).output();
      deepStrictEqual(out.code, 0, new TextDecoder().decode(out.stderr));
      const after = gatewayPid(TEST);
      ok(after !== undefined && after !== before);
      ok(
        new TextDecoder().decode(out.stdout).includes(`pg_net worker: running in the gateway process (pid ${after})`),
      );
      let res: postgres.Row | undefined;
      for (const end = Date.now() + 5000; !res && Date.now() < end; await sleep(50)) {
        [res] = await sql`select status_code, content from net._http_response where id = ${id}`;
      }
      deepStrictEqual([res?.status_code, res?.content, seen], [200, "ok", ["POST /hook"]]);
      const stored = await sql`select name, decrypted_secret as value from vault.decrypted_secrets
                                where name in ('sync_project_url', 'sync_secret_key') order by name`;
      deepStrictEqual(stored.map((r) => [r.name, r.value]), [
        ["sync_project_url", apiUrl(TEST)],
        ["sync_secret_key", (await keys(TEST)).SECRET_KEY],
      ]);
    } finally {
      await startGatewayProcess(TEST);
      await storeScheduleSecrets(TEST);
      await server.shutdown();
      await admin.end();
      await sql.end();
    }
  },
});
