/**
 * The CLI's one door to the HTTPS API: where it is, who calls it, and `api(method, path, body)` through
 * supabase-js `functions.invoke`. Errors come back as {@link ApiError} with the API's status, code and message.
 *
 * Target, first that is set: `--url`, env `API_URL`, the local demo stack's gateway (`apiUrl(DEMO)`, as
 * `deno task status -o env` prints it) while it runs.
 * Credentials, first that is set:
 * 1. env `SYNC_API_KEY`: a secret key (`sb_secret_…`) or a service-role JWT, sent as the `apikey`;
 * 2. env `SYNC_EMAIL` + `SYNC_PASSWORD`: an operator's sign-in (`auth.signInWithPassword`) with the publishable
 *    key from env `SUPABASE_PUBLISHABLE_KEY`, else `SUPABASE_ANON_KEY`, else the demo stack's `PUBLISHABLE_KEY`;
 * 3. the demo stack's `SECRET_KEY`, when the target is the demo stack's gateway.
 * Neither key nor password is ever printed.
 */
import { createClient, FunctionsHttpError, type SupabaseClient } from "@supabase/supabase-js";
import { apiUrl, gatewayRunning } from "../gateway_process.ts";
import { DEMO, env as stackEnv } from "../stack.ts";

/** An error answer of the API (or a failure to reach it, status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The whole error body, for `--json`. */
    readonly body: unknown,
    readonly retryAfter?: string,
  ) {
    super(message);
  }
}

/** A usage mistake: exit status 2 with the usage text. */
export class UsageError extends Error {}

type Method = "GET" | "POST" | "PATCH";
/** Calls the API: `api("GET", "runs?status=failed")`; resolves to the parsed JSON body. @throws ApiError */
export type Api = (method: Method, path: string, body?: unknown) => Promise<unknown>;

/** The demo stack's variables while its gateway runs (the same source `deno task status -o env` reads), else {}. */
async function demoEnv(): Promise<Record<string, string>> {
  if (!gatewayRunning(DEMO)) return {};
  return { ...(await stackEnv(DEMO)), API_URL: apiUrl(DEMO) };
}

/**
 * Resolves the target and credentials (see the header) and returns the `api` function.
 * @throws UsageError when there is no target or no credentials; ApiError when the sign-in fails.
 */
export async function connect(urlOption: string | undefined): Promise<Api> {
  const e = (k: string) => Deno.env.get(k) || undefined;
  let demo: Record<string, string> | undefined;
  const fromDemo = async () => demo ??= await demoEnv();
  const url = urlOption ?? e("API_URL") ?? (await fromDemo()).API_URL;
  if (!url) {
    throw new UsageError("no API: pass --url or set API_URL (or start the local stack: deno task start)");
  }
  const opts = { auth: { persistSession: false, autoRefreshToken: false } };
  let client: SupabaseClient;
  const key = e("SYNC_API_KEY");
  const email = e("SYNC_EMAIL");
  if (key) {
    client = createClient(url, key, opts);
  } else if (email) {
    const password = e("SYNC_PASSWORD");
    if (!password) throw new UsageError("SYNC_EMAIL is set but SYNC_PASSWORD is not");
    const anon = e("SUPABASE_PUBLISHABLE_KEY") ?? e("SUPABASE_ANON_KEY") ?? (await fromDemo()).PUBLISHABLE_KEY;
    if (!anon) throw new UsageError("sign-in needs SUPABASE_PUBLISHABLE_KEY (or SUPABASE_ANON_KEY)");
    client = createClient(url, anon, opts);
    const { error } = await client.auth.signInWithPassword({ email, password });
    if (error) throw new ApiError(error.status ?? 401, error.code ?? "sign_in_failed", error.message, null);
  } else if (url === (await fromDemo()).API_URL && demo?.SECRET_KEY) {
    client = createClient(url, demo.SECRET_KEY, opts);
  } else {
    throw new UsageError("no credentials: set SYNC_API_KEY, or SYNC_EMAIL and SYNC_PASSWORD");
  }
  return async (method, path, body) => {
    const r = await client.functions.invoke(`sync/${path}`, {
      method,
      body: body as Record<string, unknown> | undefined,
    });
    if (!r.error) return r.data;
    if (!(r.error instanceof FunctionsHttpError)) {
      throw new ApiError(0, "unreachable", `cannot reach the API at ${url}: ${r.error.message}`, null);
    }
    const res: Response = r.error.context;
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch { /* not JSON: keep the text */ }
    const err = (parsed as { error?: { code?: string; message?: string } })?.error;
    throw new ApiError(
      res.status,
      err?.code ?? "error",
      err?.message ?? (text || res.statusText),
      parsed,
      res.headers.get("retry-after") ?? undefined,
    );
  };
}
