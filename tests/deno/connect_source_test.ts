/**
 * sync.connect_source: a user mapping for PUBLIC on an unpublished server, the source identity
 * recorded once, capture v2 required, and a failed call that changes nothing.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import postgres from "postgres";
import { urlAs } from "../../scripts/lib/testenv.ts";
import { adminUrlOf, freshPair, tick } from "./_helpers.ts";

const INSTALL = "deno task source:install -- <legacy-db-url>";

Deno.test("connect_source maps PUBLIC, so a tick works for any caller with the privileges; the server stays unpublished", async () => {
  const p = await freshPair("mapping");
  const caller = `tick_caller_${Deno.pid}`;
  try {
    deepStrictEqual((await p.target`select sync.connect_source(${p.legacyConninfo}) as r`)[0].r.connected, true);
    const [m] = await p.target`select usename::text as usename, s.srvacl::text as acl
                                 from pg_user_mappings u join pg_foreign_server s on s.oid = u.srvid
                                where u.srvname = 'sync_source'`;
    deepStrictEqual(m, { usename: "public", acl: null });
    // A role that runs the tick as itself (not as connect_source's definer) finds the mapping.
    await p.target.unsafe(`create role ${caller} login password '${caller}' in role postgres`);
    await p.legacy`update dispatch_office set name = 'Via another caller' where id = 1`;
    const other = postgres(urlAs(p.targetUrl, { user: caller, password: caller }), { max: 1, onnotice: () => {} });
    try {
      deepStrictEqual((await other`select current_user::text as u`)[0].u, caller);
      deepStrictEqual((await tick(other, 5)).status, "succeeded");
    } finally {
      await other.end();
    }
    const [o] = await p.target`select name from public.offices where legacy_office_id = 1`;
    deepStrictEqual(o.name, "Via another caller");
  } finally {
    await p.target.unsafe(`drop role if exists ${caller}`).catch(() => {});
    await p.close();
  }
});

Deno.test("connect_source records the source identity once; a reconnect keeps it", async () => {
  const p = await freshPair("identity");
  try {
    const [{ identity }] = await p.legacy`select identity from sync_capture.current_snapshot`;
    ok(identity && typeof identity === "object", `the source reports its identity: ${JSON.stringify(identity)}`);
    await p.target`select sync.connect_source(${p.legacyConninfo})`;
    deepStrictEqual((await p.target`select identity from sync.source`)[0].identity, identity);
    const recorded = { system_identifier: "recorded-before", database: "x", timeline: 1 };
    await p.target`update sync.source set identity = ${p.target.json(recorded)}`;
    deepStrictEqual((await p.target`select sync.connect_source(${p.legacyConninfo}) as r`)[0].r.connected, true);
    deepStrictEqual((await p.target`select identity from sync.source`)[0].identity, recorded);
  } finally {
    await p.close();
  }
});

Deno.test("connect_source refuses a source without capture, or with capture older than version 2, and changes nothing", async () => {
  const p = await freshPair("capture_version");
  try {
    const src = new URL(p.legacyUrl);
    const source = `host=127.0.0.1 port=${src.port} user=sync_reader dbname=${src.pathname.slice(1)}`;
    const first = await p.target`select sync.connect_source(${p.legacyConninfo}) as r`;
    deepStrictEqual(first[0].r.connected, true);
    const before = await p.target`select (select array_to_string(srvoptions, ',') from pg_foreign_server) as server,
                                         (select count(*)::int from pg_foreign_table) as tables,
                                         (select to_jsonb(s) - 'connected_at' from sync.source s) as source`;

    await p.legacy`update sync_capture.version set version = 1`;
    deepStrictEqual((await p.target`select sync.connect_source(${p.legacyConninfo}) as r`)[0].r, {
      connected: false,
      error: {
        code: "SY400",
        message: `source ${source}: capture on the source is version 1; upgrade it: ${INSTALL}`,
      },
    });
    await p.legacy`update sync_capture.version set version = 3`;

    await p.legacy`alter schema sync_capture rename to sync_capture_gone`;
    deepStrictEqual((await p.target`select sync.connect_source(${p.legacyConninfo}) as r`)[0].r, {
      connected: false,
      error: {
        code: "SY400",
        message: `source ${source}: capture is not installed on the source; install it: ${INSTALL}`,
      },
    });
    await p.legacy`alter schema sync_capture_gone rename to sync_capture`;

    const after = await p.target`select (select array_to_string(srvoptions, ',') from pg_foreign_server) as server,
                                        (select count(*)::int from pg_foreign_table) as tables,
                                        (select to_jsonb(s) - 'connected_at' from sync.source s) as source`;
    deepStrictEqual(after, before, "the failed calls left the server, the foreign tables and sync.source as they were");
    await p.legacy`update dispatch_office set name = 'Still flowing' where id = 1`;
    deepStrictEqual((await tick(p.target)).status, "succeeded");
    const [o] = await p.target`select name from public.offices where legacy_office_id = 1`;
    deepStrictEqual(o.name, "Still flowing");
  } finally {
    await p.close();
  }
});

Deno.test("connect_source takes the password from Vault by name (password_secret), never showing it", async () => {
  const p = await freshPair("vault_password");
  // Creating the Vault entry is the operator's documented step; the platform's superuser stands in here.
  const admin = postgres(adminUrlOf(p.targetUrl), { max: 1, onnotice: () => {} });
  const secret = `sync_source_password_${Deno.pid}`;
  try {
    const password = p.legacyConninfo.match(/password=(\S+)/)![1];
    const without = p.legacyConninfo.replace(/\s*password=\S+/, "");
    await admin`select vault.create_secret(${password}, ${secret})`;
    const [{ r }] = await p.target`select sync.connect_source(${without}, ${secret}) as r`;
    const [{ n }] = await p.target`select count(*)::int as n from sync.entities`;
    deepStrictEqual([r.connected, r.tables, r.unavailable], [true, n, []]);
    ok(!JSON.stringify(r).includes(password));
    await p.legacy`update dispatch_office set name = 'Through Vault' where id = 1`;
    deepStrictEqual((await tick(p.target, 5)).status, "succeeded");
    deepStrictEqual(
      (await p.target`select name from public.offices where legacy_office_id = 1`)[0].name,
      "Through Vault",
    );

    const [{ r: unknown }] = await p.target`select sync.connect_source(${without}, 'no_such_secret') as r`;
    deepStrictEqual(
      unknown.error.message.endsWith(`no Vault secret named 'no_such_secret'`),
      true,
      unknown.error.message,
    );
    const [{ r: both }] = await p.target`select sync.connect_source(${p.legacyConninfo}, ${secret}) as r`;
    ok(
      both.error.message.endsWith("give the password in the conninfo or in password_secret, not both"),
      both.error.message,
    );
    ok(!JSON.stringify(both).includes(password));
  } finally {
    await admin`delete from vault.secrets where name = ${secret}`.catch(() => {});
    await admin.end();
    await p.close();
  }
});
