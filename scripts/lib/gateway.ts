/**
 * The local gateway: what the Supabase API gateway and Edge Runtime do for this project, on one port.
 *
 * - `/functions/v1/<name>/*`: each function in `supabase/config.toml` runs as a child `deno run` on a private port
 *   with the env a hosted function gets (SUPABASE_URL, SUPABASE_DB_URL, SUPABASE_JWT_SECRET, SUPABASE_SECRET_KEYS,
 *   SUPABASE_ANON_KEY, SUPABASE_SERVICE_ROLE_KEY); the gateway strips `/functions/v1` and proxies, verifying the JWT
 *   itself first where the function says `verify_jwt = true`.
 * - The part of Supabase Auth operators need: `POST /auth/v1/token?grant_type=password` for seeded operator
 *   accounts (ES256 access tokens with `sub`, `exp`, `role: authenticated`, `app_metadata.sync_role`) and
 *   `GET /auth/v1/.well-known/jwks.json`, so that supabase-js `signInWithPassword` works unchanged.
 * - `/dashboard/`: the dashboard's static bundle (scripts/lib/dashboard.ts), with a `config.js` naming this
 *   gateway's URL and publishable key.
 */
import { verifyJwt } from "../../functions/_shared/auth.ts";
import { encodeBase64Url } from "./b64.ts";
import { configJs, contentType, readDashboardFile } from "./dashboard.ts";
import type { StackKeys } from "./keys.ts";
import { ROOT } from "./stack.ts";

/** A seeded operator account. */
export interface Operator {
  email: string;
  password: string;
  sync_role: "admin" | "viewer";
}

export interface GatewayOptions {
  port: number;
  /** What the functions get as SUPABASE_DB_URL. */
  dbUrl: string;
  keys: StackKeys;
  operators?: Operator[];
  /** Where the child functions' output goes (default: discarded). */
  logFile?: string;
  /** More secrets the functions get (e.g. SYNC_SOURCE_URL for the HTTP bridge). */
  env?: Record<string, string>;
}

export interface Gateway {
  url: string;
  /** The public key the gateway signs access tokens with (for tests). */
  jwks: { keys: JsonWebKey[] };
  close: () => Promise<void>;
}

interface FunctionDecl {
  name: string;
  entrypoint: string;
  verifyJwt: boolean;
}

/** The `[functions.<name>]` sections of supabase/config.toml (entrypoint relative to supabase/). */
export async function functionsOf(): Promise<FunctionDecl[]> {
  const text = await Deno.readTextFile(`${ROOT}/supabase/config.toml`);
  const out: FunctionDecl[] = [];
  let cur: FunctionDecl | undefined;
  for (const line of text.split("\n")) {
    const sec = line.match(/^\s*\[functions\.([A-Za-z0-9_-]+)\]\s*$/);
    if (sec) {
      cur = { name: sec[1], entrypoint: `${ROOT}/functions/${sec[1]}/index.ts`, verifyJwt: true };
      out.push(cur);
      continue;
    }
    if (/^\s*\[/.test(line)) {
      cur = undefined;
      continue;
    }
    if (!cur) continue;
    const kv = line.match(/^\s*(\w+)\s*=\s*(.+?)\s*(#.*)?$/);
    if (!kv) continue;
    if (kv[1] === "verify_jwt") cur.verifyJwt = kv[2] === "true";
    if (kv[1] === "entrypoint") cur.entrypoint = new URL(JSON.parse(kv[2]), `file://${ROOT}/supabase/`).pathname;
  }
  return out;
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function waitForPort(port: number, child: Deno.ChildProcess, ms: number): Promise<void> {
  let exited = false;
  child.status.then(() => exited = true);
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (exited) throw new Error(`a function exited before listening on ${port}`);
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`a function did not listen on ${port} within ${ms} ms`);
}

async function signEs256(payload: Record<string, unknown>, key: CryptoKey, kid: string): Promise<string> {
  const enc = new TextEncoder();
  const head = encodeBase64Url(enc.encode(JSON.stringify({ alg: "ES256", typ: "JWT", kid })));
  const body = encodeBase64Url(enc.encode(JSON.stringify(payload)));
  const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, enc.encode(`${head}.${body}`));
  return `${head}.${body}.${encodeBase64Url(new Uint8Array(sig))}`;
}

/** A stable uuid for an operator (v4-shaped, from the e-mail's hash). */
async function operatorId(email: string): Promise<string> {
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(email)));
  h[6] = (h[6] & 0x0f) | 0x40;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = [...h.slice(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

function authError(status: number, code: string, message: string): Response {
  return Response.json({ code: status, error_code: code, msg: message }, { status });
}

/** Starts the gateway and its functions; `close` stops exactly those. */
export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const url = `http://127.0.0.1:${opts.port}`;
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
  const kid = crypto.randomUUID();
  const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", pair.publicKey);
  const jwks = { keys: [{ kty, crv, x, y, kid, alg: "ES256", use: "sig", key_ops: ["verify"] } as JsonWebKey] };

  const env = {
    SUPABASE_URL: url,
    SUPABASE_DB_URL: opts.dbUrl,
    SUPABASE_JWT_SECRET: opts.keys.JWT_SECRET,
    // As hosted provides them: the new keys as JSON dictionaries, the JWKS itself.
    SUPABASE_SECRET_KEYS: JSON.stringify({ default: opts.keys.SECRET_KEY }),
    SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: opts.keys.PUBLISHABLE_KEY }),
    SUPABASE_JWKS: JSON.stringify(jwks),
    SUPABASE_ANON_KEY: opts.keys.ANON_KEY,
    SUPABASE_SERVICE_ROLE_KEY: opts.keys.SERVICE_ROLE_KEY,
    ...opts.env,
  };
  const log = opts.logFile ? await Deno.open(opts.logFile, { create: true, append: true }) : undefined;
  const children: { decl: FunctionDecl; port: number; child: Deno.ChildProcess }[] = [];
  const copies: Promise<void>[] = [];
  const stopChildren = async () => {
    for (const c of children) {
      try {
        c.child.kill("SIGTERM");
      } catch { /* already gone */ }
      await c.child.status;
    }
    await Promise.all(copies);
    log?.close();
  };
  try {
    for (const decl of await functionsOf()) {
      const port = freePort();
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--no-prompt", `--config=${ROOT}/deno.json`, decl.entrypoint],
        cwd: ROOT,
        env: { ...env, DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}`, NO_COLOR: "1" },
        stdin: "null",
        stdout: log ? "piped" : "null",
        stderr: log ? "piped" : "null",
      }).spawn();
      // Both streams into the one file (a WritableStream takes one pipe at a time: write chunk by chunk).
      if (log) { for (const stream of [child.stdout, child.stderr]) copies.push(copyInto(stream, log)); }
      children.push({ decl, port, child });
    }
    await Promise.all(children.map((c) => waitForPort(c.port, c.child, 60_000)));
  } catch (e) {
    await stopChildren();
    throw e;
  }

  const operators = opts.operators ?? [];
  async function token(req: Request): Promise<Response> {
    const grant = new URL(req.url).searchParams.get("grant_type");
    if (grant !== "password") return authError(400, "unsupported_grant_type", "only grant_type=password is served");
    let body: { email?: unknown; password?: unknown };
    try {
      body = await req.json();
    } catch {
      return authError(400, "bad_json", "the body is not valid JSON");
    }
    const op = operators.find((o) => o.email === body.email);
    const ok = op !== undefined && typeof body.password === "string" && body.password === op.password;
    if (!op || !ok) return authError(400, "invalid_credentials", "Invalid login credentials");
    const now = Math.floor(Date.now() / 1000);
    const id = await operatorId(op.email);
    const app_metadata = { provider: "email", providers: ["email"], sync_role: op.sync_role };
    const access = await signEs256(
      {
        iss: `${url}/auth/v1`,
        sub: id,
        aud: "authenticated",
        role: "authenticated",
        email: op.email,
        app_metadata,
        user_metadata: {},
        iat: now,
        exp: now + 3600,
        session_id: crypto.randomUUID(),
      },
      pair.privateKey,
      kid,
    );
    const created = new Date(0).toISOString();
    return Response.json({
      access_token: access,
      token_type: "bearer",
      expires_in: 3600,
      expires_at: now + 3600,
      refresh_token: encodeBase64Url(crypto.getRandomValues(new Uint8Array(16))),
      user: {
        id,
        aud: "authenticated",
        role: "authenticated",
        email: op.email,
        email_confirmed_at: created,
        app_metadata,
        user_metadata: {},
        identities: [],
        created_at: created,
        updated_at: created,
      },
    });
  }

  async function proxy(req: Request, name: string, rest: string): Promise<Response> {
    const target = children.find((c) => c.decl.name === name);
    if (!target) return Response.json({ code: "NOT_FOUND", message: `function ${name} not found` }, { status: 404 });
    if (target.decl.verifyJwt) {
      const h = req.headers.get("authorization")?.match(/^Bearer\s+(\S+)$/i);
      try {
        if (!h) throw new Error("no bearer");
        await verifyJwt(h[1], { jwtSecret: env.SUPABASE_JWT_SECRET, supabaseUrl: env.SUPABASE_URL });
      } catch {
        return Response.json({ code: 401, message: "Invalid JWT" }, { status: 401 });
      }
    }
    const u = new URL(req.url);
    const headers = new Headers(req.headers);
    headers.delete("host");
    const res = await fetch(`http://127.0.0.1:${target.port}${rest}${u.search}`, {
      method: req.method,
      headers,
      body: req.body,
      redirect: "manual",
    });
    return new Response(res.body, { status: res.status, headers: res.headers });
  }

  /** A file of the dashboard's bundle; `config.js` names this gateway and its publishable key. */
  async function dashboard(name: string): Promise<Response> {
    const file = name === "" ? "index.html" : name;
    const headers = { "content-type": contentType(file), "cache-control": "no-cache" };
    if (file === "config.js") {
      return new Response(configJs({ url, publishableKey: opts.keys.PUBLISHABLE_KEY }), { headers });
    }
    const body = await readDashboardFile(file);
    if (!body) return Response.json({ message: `no dashboard file ${file}` }, { status: 404 });
    return new Response(body, { headers });
  }

  const server = Deno.serve({ hostname: "127.0.0.1", port: opts.port, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    try {
      if (req.method === "OPTIONS") return new Response(null, { status: 204, headers: cors() });
      if (path === "/auth/v1/.well-known/jwks.json" && req.method === "GET") return Response.json(jwks);
      if (path === "/auth/v1/token" && req.method === "POST") return await token(req);
      const fn = path.match(/^\/functions\/v1\/([A-Za-z0-9_-]+)(\/.*)?$/);
      if (fn) return await proxy(req, fn[1], `/${fn[1]}${fn[2] ?? ""}`);
      if (path === "/dashboard") return Response.redirect(`${url}/dashboard/`, 301);
      if (path.startsWith("/dashboard/") && req.method === "GET") return await dashboard(path.slice(11));
      return Response.json({ message: `no route ${req.method} ${path}` }, { status: 404 });
    } catch (e) {
      console.error("gateway:", e instanceof Error ? e.message : e);
      return Response.json({ message: "gateway error" }, { status: 502 });
    }
  });

  return {
    url,
    jwks,
    close: async () => {
      await server.shutdown();
      await stopChildren();
    },
  };
}

/** Copies a child's output stream into an append-mode log file until the stream ends. */
async function copyInto(stream: ReadableStream<Uint8Array>, file: Deno.FsFile): Promise<void> {
  try {
    for await (const chunk of stream) {
      for (let off = 0; off < chunk.length;) off += await file.write(chunk.subarray(off));
    }
  } catch { /* the file was closed at shutdown */ }
}

function cors(): Headers {
  return new Headers({
    "access-control-allow-origin": "*",
    "access-control-allow-headers": "authorization, x-client-info, apikey, content-type",
    "access-control-allow-methods": "GET, POST, PATCH, PUT, DELETE, OPTIONS",
  });
}
