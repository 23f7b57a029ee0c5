/**
 * The `sync` Edge Function behind a gateway of its own (scripts/lib/gateway.ts) on a fresh target+legacy pair,
 * for the API tests: calls through supabase-js with a key or an operator's sign-in, every response body kept,
 * and at the end a scan that no connection string, password or key appears in any of them.
 */
import { ok } from "node:assert/strict";
import { createClient, FunctionsHttpError, type SupabaseClient } from "@supabase/supabase-js";
import { freePort, type Gateway, startGateway } from "../../scripts/lib/gateway.ts";
import { makeKeys, type StackKeys } from "../../scripts/lib/keys.ts";
import { freshPair, type Pair } from "./_helpers.ts";

export const VIEWER = { email: "viewer@example.test", password: "viewer-pw-1", sync_role: "viewer" as const };
export const ADMIN = { email: "admin@example.test", password: "admin-pw-1", sync_role: "admin" as const };

export interface Api {
  pair: Pair;
  gw: Gateway;
  keys: StackKeys;
  /** Every response body seen, for the secret scan. */
  bodies: string[];
  /** An invoke with the given key (and optional bearer): status and parsed body. */
  call: (
    key: string,
    path: string,
    opts?: { method?: "GET" | "POST" | "PATCH"; body?: unknown; bearer?: string },
  ) => Promise<{ status: number; body: Record<string, unknown> }>;
  /** A client signed in as an operator, and its user id. */
  signIn: (op: typeof ADMIN | typeof VIEWER) => Promise<{ client: SupabaseClient; id: string }>;
}

export async function withApi(
  name: string,
  fn: (api: Api) => Promise<void>,
  opts: { empty?: boolean } = { empty: true },
): Promise<void> {
  const pair = await freshPair(name, opts);
  const keys = await makeKeys();
  const logFile = await Deno.makeTempFile({ prefix: "sync-gateway-", suffix: ".log" });
  const gw = await startGateway({ port: freePort(), dbUrl: pair.targetUrl, keys, operators: [VIEWER, ADMIN], logFile });
  let closed = false;
  const closeGateway = async () => {
    if (!closed) await gw.close();
    closed = true;
  };
  const bodies: string[] = [];
  const invoke = async (
    client: SupabaseClient,
    path: string,
    opts: { method?: "GET" | "POST" | "PATCH"; body?: unknown; bearer?: string } = {},
  ) => {
    const r = await client.functions.invoke(path, {
      method: opts.method ?? "POST",
      body: opts.body as Record<string, unknown> | undefined,
      headers: opts.bearer ? { Authorization: `Bearer ${opts.bearer}` } : undefined,
    });
    let status = r.response?.status ?? 200;
    let text = JSON.stringify(r.data);
    if (r.error) {
      ok(r.error instanceof FunctionsHttpError, `not an HTTP error: ${r.error}`);
      status = r.error.context.status;
      text = await r.error.context.text();
    }
    bodies.push(text);
    return { status, body: JSON.parse(text) };
  };
  const api: Api = {
    pair,
    gw,
    keys,
    bodies,
    call: (key, path, opts) => invoke(createClient(gw.url, key, { auth: { persistSession: false } }), path, opts),
    signIn: async (op) => {
      const client = createClient(gw.url, keys.PUBLISHABLE_KEY, { auth: { persistSession: false } });
      const { data, error } = await client.auth.signInWithPassword({ email: op.email, password: op.password });
      ok(!error, String(error));
      return { client, id: data.user!.id };
    },
  };
  try {
    await fn(api);
    // No connection string, password or key in any body.
    // (The test stack's password is the role's name, which runs name as their caller: the URL's
    // `:password@` part is what must never appear.)
    const u = new URL(pair.targetUrl);
    const secrets = [keys.JWT_SECRET, keys.SECRET_KEY, keys.SERVICE_ROLE_KEY, "postgres://", "postgresql://", u.host];
    if (u.password) secrets.push(`:${decodeURIComponent(u.password)}@`, `password=${decodeURIComponent(u.password)}`);
    for (const b of bodies) for (const s of secrets) ok(!b.includes(s), `a response body holds a secret: ${b}`);
    // Nor in any line the function logged.
    await closeGateway();
    const log = await Deno.readTextFile(logFile);
    for (const s of secrets) ok(!log.includes(s), `the function's log holds a secret: ${log}`);
  } finally {
    await closeGateway();
    await Deno.remove(logFile).catch(() => {});
    await pair.close();
  }
}

/** The API's error body. */
export const err = (code: string, message: string) => ({ error: { code, message } });
