/** sync.connect_source keeps the source password out of errors, run records and the server log. */
import { deepStrictEqual, ok, rejects } from "node:assert/strict";
import { freshPair, serverLogPath, tick } from "./_helpers.ts";

Deno.test("connect_source never shows the password in an error, a run record or the server log", async () => {
  const p = await freshPair("secret");
  const secret = `pw-${crypto.randomUUID()}`;
  const wrong = `wrong-${crypto.randomUUID()}`;
  const role = `sync_reader_${Deno.pid}`;
  try {
    await p.legacy.unsafe(`create role ${role} login superuser password '${secret}'`);
    const base = p.legacyConninfo.replace(/ user=\S+ password=\S+/, "");
    await rejects(
      p.target`select sync.connect_source(${`${base} user=${role} password=${wrong}`})`,
      (e: Error & { code?: string }) => {
        ok(!JSON.stringify(e).includes(wrong) && !e.message.includes(wrong), "the error echoes the password");
        deepStrictEqual(e.code, "SY400");
        ok(e.message.startsWith("cannot reach the source"), e.message);
        return true;
      },
    );
    const [r] = await p.target`select sync.connect_source(${`${base} user=${role} password=${secret}`}) as r`;
    deepStrictEqual(r.r.connected, true);
    ok(!JSON.stringify(r.r).includes(secret));
    await tick(p.target);
    const dumps = await p.target`select (select coalesce(jsonb_agg(r), '[]')::text from sync.runs r) as runs,
                                        (select coalesce(jsonb_agg(s), '[]')::text from sync.source s) as source,
                                        (select coalesce(jsonb_agg(b), '[]')::text from sync.batches b) as batches,
                                        (select string_agg(array_to_string(srvoptions, ','), ';') from pg_foreign_server) as server`;
    for (const [k, v] of Object.entries(dumps[0])) ok(!String(v).includes(secret), `${k} holds the password`);
    const log = await Deno.readTextFile(serverLogPath());
    ok(!log.includes(secret), "the server log holds the password");
    ok(!log.includes(wrong), "the server log holds the wrong password");
  } finally {
    await p.legacy.unsafe(`drop role if exists ${role}`).catch(() => {});
    await p.close();
  }
});
