/**
 * The capture modes of engine.md §1 and the two transports of §2 as the Deno tests drive them: `fdw` (sync.tick pulls through postgres_fdw)
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
  /**
   * Polling: one reconciliation round now (what only reconciliation finds: deletes, the tables without a poll column),
   * ticking until it is complete. Other modes: nothing.
   */
  reconcile: () => Promise<void>;
  close: () => Promise<void>;
}

/** The capture modes (engine.md §1) the tests drive; `logical` and `polling` over the FDW only (the bridge refuses them). */
export type Capture = "trigger" | "logical" | "polling";

/** Every way the engine can be driven: each capture mode, and the trigger log over both transports. */
export const MODES: { transport: Transport; capture: Capture }[] = [
  { transport: "fdw", capture: "trigger" },
  { transport: "http", capture: "trigger" },
  { transport: "fdw", capture: "logical" },
  { transport: "fdw", capture: "polling" },
];

/**
 * Polling capture on a pair's legacy database: nothing installed (the capture schema dropped by the owner), the reader
 * given SELECT on the registered tables and nothing else, config `capture: polling`.
 */
export async function installPolling(p: Pair): Promise<void> {
  const [{ t }] = await p.target`select string_agg(source_table, ', ') as t from sync.entities`;
  await p.legacy.unsafe(`drop schema if exists sync_capture cascade;
    grant usage on schema public to ${LEGACY_ROLES.reader.user};
    grant select on ${t} to ${LEGACY_ROLES.reader.user}`);
  await p.target`select sync.set_config('{"capture": "polling"}')`;
}

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
        if (capture === "polling") await installPolling(p);
        const conninfo = capture === "logical" ? await installLogical(p) : p.legacyConninfo;
        const [{ r }] = await p.target`select sync.connect_source(${conninfo}) as r`;
        ok(r.connected === true, `connect_source failed: ${JSON.stringify(r)}`);
      },
      tick: (seconds) => tick(p.target, seconds),
      beforeOracle: async () => {},
      reconcile: async () => {
        if (capture !== "polling") return;
        await p.target`update sync.poll_state set reconciled_at = null, round_started_at = null, round_left = null`;
        for (let i = 0; i < 60; i++) {
          await tick(p.target, 5);
          const [{ done }] = await p.target`select round_left is null and reconciled_at is not null as done
                                              from sync.poll_state`;
          if (done) return;
        }
        throw new Error("no reconciliation round completed in 60 ticks");
      },
      close: async () => {},
    };
  }
  if (capture !== "trigger") throw new Error(`the HTTP bridge does not support capture ${capture}`);
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
    reconcile: async () => {},
    close: () => gw.close(),
  };
}
