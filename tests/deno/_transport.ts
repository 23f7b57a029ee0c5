/**
 * The two transports of engine.md §2 as the Deno tests drive them: `fdw` (sync.tick pulls through postgres_fdw)
 * and `http` (the sync Edge Function's bridge, through the local gateway with the secret key: the real function
 * code, its source connection as the engine's reader from SYNC_SOURCE_URL). Same tick, same summary shape.
 */
import { ok } from "node:assert/strict";
import { createClient, FunctionsHttpError } from "@supabase/supabase-js";
import { freePort, type Gateway, startGateway } from "../../scripts/lib/gateway.ts";
import { makeKeys } from "../../scripts/lib/keys.ts";
import { psql } from "../../scripts/lib/psql.ts";
import { installSource } from "../../scripts/lib/setup.ts";
import { conninfoAs, LEGACY_ROLES, type TestRole, urlAs } from "../../scripts/lib/testenv.ts";
import { adminUrlOf, type Pair, tick } from "./_helpers.ts";

export type Transport = "fdw" | "http";
export const TRANSPORTS: Transport[] = ["fdw", "http"];

/** A pair's sync driven over one transport. */
export interface Driver {
  /**
   * Connects the source: connect_source for fdw; for http, config transport http and one bridge tick (it
   * enables capture and records the source's identity; the target never reaches the source).
   */
  connect: () => Promise<void>;
  /** One tick; `rows` is what it pulled (for http: what the bridge pulled). */
  tick: (seconds: number) => Promise<Record<string, unknown>>;
  /** What the oracle needs (the source's foreign tables): for http, an FDW connection made only now. */
  beforeOracle: () => Promise<void>;
  close: () => Promise<void>;
}

/** The capture modes (engine.md §1) the tests drive; `logical` over the FDW only (the bridge refuses it). */
export type Capture = "trigger" | "logical";

/** The engine's reader for logical capture: its own role, with the REPLICATION attribute that decoding needs. */
export const LOGICAL_READER: TestRole = { user: "sync_logical_reader", password: "sync-logical-reader-pw" };

/**
 * Logical capture on a pair's legacy database: the reader role (REPLICATION: only the platform's superuser gives it),
 * `source:install --capture logical --reader`, config `capture: logical`. Returns the reader's conninfo.
 */
export async function installLogical(p: Pair): Promise<string> {
  await psql(adminUrlOf(p.legacyUrl), {
    command: `do $$ begin
      if not exists (select 1 from pg_catalog.pg_roles where rolname = '${LOGICAL_READER.user}') then
        create role ${LOGICAL_READER.user} login replication password '${LOGICAL_READER.password}';
      end if; end $$`,
  });
  // Commits flushed at commit, as on a production source (the fast test stack turns it off): decoding reads only
  // flushed WAL, so an asynchronous commit is decoded up to wal_writer_delay after it is visible.
  await psql(p.legacyUrl, {
    command: `alter database "${new URL(p.legacyUrl).pathname.slice(1)}" set synchronous_commit = on`,
  });
  await installSource(p.legacyUrl, { mode: "logical", reader: LOGICAL_READER.user });
  await p.target`select sync.set_config('{"capture": "logical"}')`;
  return conninfoAs(p.legacyUrl, LOGICAL_READER);
}

/** Drives `p` over `transport`, capturing with `capture` (default trigger). */
export async function driver(p: Pair, transport: Transport, capture: Capture = "trigger"): Promise<Driver> {
  if (transport === "fdw") {
    return {
      connect: async () => {
        const conninfo = capture === "logical" ? await installLogical(p) : p.legacyConninfo;
        const [{ r }] = await p.target`select sync.connect_source(${conninfo}) as r`;
        ok(r.connected === true, `connect_source failed: ${JSON.stringify(r)}`);
      },
      tick: (seconds) => tick(p.target, seconds),
      beforeOracle: async () => {},
      close: async () => {},
    };
  }
  if (capture === "logical") throw new Error("the HTTP bridge does not support capture logical");
  const keys = await makeKeys();
  const gw: Gateway = await startGateway({
    port: freePort(),
    dbUrl: p.targetUrl,
    keys,
    env: { SYNC_SOURCE_URL: urlAs(p.legacyUrl, LEGACY_ROLES.reader) },
  });
  const client = createClient(gw.url, keys.SECRET_KEY, { auth: { persistSession: false } });
  const httpTick = async (seconds: number) => {
    const r = await client.functions.invoke("sync/tick", { body: { max_seconds: seconds } });
    if (r.error) {
      const body = r.error instanceof FunctionsHttpError ? await r.error.context.text() : String(r.error);
      throw new Error(`bridge tick failed: ${body}`);
    }
    const s = r.data as Record<string, unknown>;
    return { ...s, rows: (s.bridge as Record<string, number>).rows };
  };
  return {
    connect: async () => {
      await p.target`select sync.set_config('{"transport": "http"}')`;
      await httpTick(5);
    },
    tick: httpTick,
    beforeOracle: async () => {
      const [{ c }] = await p.target`select sync.connect_source(${p.legacyConninfo}) ->> 'connected' as c`;
      ok(c === "true", "connect_source failed");
    },
    close: () => gw.close(),
  };
}
