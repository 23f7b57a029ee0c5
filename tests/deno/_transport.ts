/**
 * The two transports of engine.md §2 as the Deno tests drive them: `fdw` (sync.tick pulls through postgres_fdw)
 * and `http` (the sync Edge Function's bridge, through the local gateway with the secret key: the real function
 * code, its source connection as the engine's reader from SYNC_SOURCE_URL). Same tick, same summary shape.
 */
import { ok } from "node:assert/strict";
import { createClient, FunctionsHttpError } from "@supabase/supabase-js";
import { freePort, type Gateway, startGateway } from "../../scripts/lib/gateway.ts";
import { makeKeys } from "../../scripts/lib/keys.ts";
import { LEGACY_ROLES, urlAs } from "../../scripts/lib/testenv.ts";
import { type Pair, tick } from "./_helpers.ts";

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

/** Drives `p` over `transport`. */
export async function driver(p: Pair, transport: Transport): Promise<Driver> {
  if (transport === "fdw") {
    return {
      connect: async () => {
        const [{ c }] = await p.target`select sync.connect_source(${p.legacyConninfo}) ->> 'connected' as c`;
        ok(c === "true", "connect_source failed");
      },
      tick: (seconds) => tick(p.target, seconds),
      beforeOracle: async () => {},
      close: async () => {},
    };
  }
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
