/**
 * The local stack: refuses a port that something else holds, with a message naming the fix; and
 * re-initialises a data directory that an older version made (with `postgres` as the superuser).
 */
import { deepStrictEqual, rejects } from "node:assert/strict";
import { psql } from "../../scripts/lib/psql.ts";
import { paths, start, stop } from "../../scripts/lib/stack.ts";

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
