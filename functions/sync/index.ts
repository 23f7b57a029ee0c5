/**
 * The `sync` Edge Function: the HTTPS API of api.md. Wiring only: authenticate, find the route, check the role,
 * hand over; every error is mapped in one place (`toErrorResponse`). Paths are `/sync/<route>` (hosted delivers
 * them so; the local gateway strips `/functions/v1`).
 */
import { authenticate, requireRole } from "../_shared/auth.ts";
import { errorResponse, HttpError, toErrorResponse } from "../_shared/http.ts";
import { db } from "./db.ts";
import { match } from "./routes.ts";

/** Request bodies above this size are refused with 413. */
export const MAX_BODY_BYTES = 64 * 1024;

async function readJson(req: Request): Promise<unknown> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) throw new HttpError(413, "too_large", `the body exceeds ${MAX_BODY_BYTES} bytes`);
  const bytes = new Uint8Array(await req.arrayBuffer());
  if (bytes.length > MAX_BODY_BYTES) throw new HttpError(413, "too_large", `the body exceeds ${MAX_BODY_BYTES} bytes`);
  const text = new TextDecoder().decode(bytes).trim();
  if (text === "") return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, "invalid_json", "the body is not valid JSON");
  }
}

/**
 * CORS for the dashboard on another origin (a static host calling the hosted function). Credentials travel as
 * bearer tokens, never cookies, so any origin may ask; what it may do is still decided by the token.
 */
const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-headers": "authorization, x-client-info, apikey, content-type",
  "access-control-allow-methods": "GET, POST, PATCH, OPTIONS",
  "access-control-max-age": "600",
};

/** Handles one request (exported for in-process use): a preflight, or the API with CORS headers. */
export async function handler(req: Request): Promise<Response> {
  if (req.method === "OPTIONS") return new Response(null, { status: 204, headers: CORS });
  const res = await respond(req);
  for (const [k, v] of Object.entries(CORS)) res.headers.set(k, v);
  return res;
}

async function respond(req: Request): Promise<Response> {
  try {
    const url = new URL(req.url);
    const m = url.pathname.match(/^(?:\/functions\/v1)?\/sync(\/.*)?$/);
    const caller = await authenticate(req);
    const found = m ? match(req.method, m[1] ?? "/") : { params: {}, allowed: [] as string[] };
    if (!found.route) {
      if (found.allowed.length) return errorResponse(405, "method_not_allowed", `use ${found.allowed.join(", ")}`);
      return errorResponse(404, "not_found", `no route ${req.method} ${url.pathname}`);
    }
    requireRole(caller, found.route.role);
    let body: Promise<unknown> | undefined;
    const ctx = {
      req,
      caller,
      params: found.params,
      query: url.searchParams,
      body: () => body ??= readJson(req),
      sql: db(),
    };
    const t0 = performance.now();
    try {
      return await found.route.handle(ctx);
    } catch (e) {
      // A pooled connection whose backend the server ended (terminated, restarted) reports it to the next query it
      // serves, at once: that error is not this request's, which runs once more on a fresh connection. (An error
      // after the request's own work began is its own, and answered.)
      if (!endedConnection(e) || performance.now() - t0 > 1000) throw e;
      return await found.route.handle(ctx);
    }
  } catch (e) {
    return toErrorResponse(e);
  }
}

/** An error that says the connection, not the statement, is gone (admin shutdown codes, postgres.js's own). */
function endedConnection(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  return code !== undefined &&
    ["57P01", "57P02", "57P03", "CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED"].includes(code);
}

if (import.meta.main) Deno.serve(handler);
