/**
 * Caller authentication for the Edge Functions (api.md "Auth"), with WebCrypto only.
 *
 * The decision is made on the `Authorization: Bearer` token (supabase-js always also sends `apikey`; a secret
 * key may come in either header): secret API keys `sb_secret_…` are compared in constant time with the
 * `SUPABASE_SECRET_KEYS` (hosted: a JSON dictionary; locally a comma-separated list); JWTs are verified (HS256 with
 * `SUPABASE_JWT_SECRET`, ES256 with `SUPABASE_JWKS` where hosted provides it, else the project's JWKS fetched from
 * `${SUPABASE_URL}/auth/v1/.well-known/jwks.json`, cached per isolate) and must carry `exp`.
 * The legacy `service_role` JWT and secret keys are admins; people need `app_metadata.sync_role`.
 */
import { HttpError } from "./http.ts";

/** Who is calling, once authenticated. */
export interface Caller {
  /** JWT `sub`, or "service_role" / "secret_key" for machine callers. */
  id: string;
  role: "admin" | "viewer";
  kind: "secret_key" | "service_role" | "user";
}

const enc = new TextEncoder();

function unauthorized(message: string): HttpError {
  return new HttpError(401, "unauthorized", message);
}

function forbidden(message: string): HttpError {
  return new HttpError(403, "forbidden", message);
}

function b64urlDecode(s: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) throw new Error("not base64url");
  const pad = s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4);
  const bin = atob(pad);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** Equality in time independent of where the inputs differ (both sides are hashed to equal lengths). */
async function constantTimeEqual(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([
    crypto.subtle.digest("SHA-256", enc.encode(a)),
    crypto.subtle.digest("SHA-256", enc.encode(b)),
  ]);
  const u = new Uint8Array(x), v = new Uint8Array(y);
  let diff = 0;
  for (let i = 0; i < u.length; i++) diff |= u[i] ^ v[i];
  return diff === 0;
}

/**
 * The project's secret keys from `SUPABASE_SECRET_KEYS`: hosted provides a JSON dictionary (`{"default": "sb_secret_…"}`);
 * a JSON array or a comma-separated list works too (the local gateway's form).
 */
export function secretKeys(raw = Deno.env.get("SUPABASE_SECRET_KEYS") ?? ""): string[] {
  const text = raw.trim();
  let keys: unknown[] = text.split(",");
  if (text.startsWith("{") || text.startsWith("[")) {
    try {
      const parsed = JSON.parse(text);
      keys = Array.isArray(parsed) ? parsed : Object.values(parsed);
    } catch {
      keys = [];
    }
  }
  return keys.filter((k): k is string => typeof k === "string").map((k) => k.trim()).filter((k) => k);
}

async function isSecretKey(key: string): Promise<boolean> {
  let match = false;
  for (const k of secretKeys()) if (await constantTimeEqual(k, key)) match = true;
  return match;
}

interface Jwk extends JsonWebKey {
  kid?: string;
}

/** Per isolate, per project URL: the JWKS and when it was fetched. */
const jwksCache = new Map<string, { at: number; keys: Jwk[] }>();

async function jwks(base: string | undefined, refresh: boolean): Promise<Jwk[]> {
  // Hosted provides the project's JWKS as SUPABASE_JWKS; it is the first place to look.
  const provided = Deno.env.get("SUPABASE_JWKS");
  if (provided && !refresh) {
    try {
      return (JSON.parse(provided) as { keys?: Jwk[] }).keys ?? [];
    } catch {
      console.error("auth: SUPABASE_JWKS is not a JSON Web Key Set; fetching the JWKS instead");
    }
  }
  if (!base) return [];
  const cached = jwksCache.get(base);
  if (cached && (!refresh || Date.now() - cached.at < 30_000)) return cached.keys;
  const res = await fetch(`${base.replace(/\/$/, "")}/auth/v1/.well-known/jwks.json`);
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`JWKS fetch answered ${res.status}`);
  }
  const body = await res.json() as { keys?: Jwk[] };
  jwksCache.set(base, { at: Date.now(), keys: body.keys ?? [] });
  return body.keys ?? [];
}

async function es256Key(base: string | undefined, kid: string | undefined): Promise<CryptoKey | undefined> {
  for (const refresh of [false, true]) {
    const jwk = (await jwks(base, refresh)).find((k) => k.kty === "EC" && k.crv === "P-256" && (!kid || k.kid === kid));
    if (jwk) {
      const { kty, crv, x, y } = jwk;
      return await crypto.subtle.importKey("jwk", { kty, crv, x, y }, { name: "ECDSA", namedCurve: "P-256" }, false, [
        "verify",
      ]);
    }
  }
  return undefined;
}

/** Where JWTs are verified against: the HS256 secret and the project URL serving the JWKS. */
export interface JwtKeys {
  jwtSecret?: string;
  supabaseUrl?: string;
}

/**
 * Verifies a JWT's signature and `exp`; returns its claims. Throws a 401 HttpError otherwise.
 * Keys default to the function's env (`SUPABASE_JWT_SECRET`, `SUPABASE_URL`).
 */
export async function verifyJwt(token: string, keys: JwtKeys = {}): Promise<Record<string, unknown>> {
  const parts = token.split(".");
  if (parts.length !== 3) throw unauthorized("malformed token");
  let header: { alg?: string; kid?: string };
  let claims: Record<string, unknown>;
  let sig: Uint8Array;
  try {
    header = JSON.parse(new TextDecoder().decode(b64urlDecode(parts[0])));
    claims = JSON.parse(new TextDecoder().decode(b64urlDecode(parts[1])));
    sig = b64urlDecode(parts[2]);
  } catch {
    throw unauthorized("malformed token");
  }
  if (typeof claims !== "object" || claims === null || Array.isArray(claims)) throw unauthorized("malformed token");
  const data = enc.encode(`${parts[0]}.${parts[1]}`);
  let ok = false;
  if (header.alg === "HS256") {
    // Secrets named SUPABASE_* cannot be set on hosted: the legacy JWT secret comes as SYNC_JWT_SECRET there.
    const secret = keys.jwtSecret ?? Deno.env.get("SUPABASE_JWT_SECRET") ?? Deno.env.get("SYNC_JWT_SECRET");
    if (secret) {
      const key = await crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
        "verify",
      ]);
      ok = await crypto.subtle.verify("HMAC", key, sig as BufferSource, data);
    }
  } else if (header.alg === "ES256") {
    let key: CryptoKey | undefined;
    try {
      key = await es256Key(keys.supabaseUrl ?? Deno.env.get("SUPABASE_URL"), header.kid);
    } catch (e) {
      console.error("auth: JWKS unavailable:", e instanceof Error ? e.message : e);
      throw new HttpError(503, "auth_unavailable", "the signing keys could not be fetched");
    }
    if (key) ok = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, sig as BufferSource, data);
  } else {
    throw unauthorized(`unsupported token algorithm ${JSON.stringify(header.alg ?? null)}`);
  }
  if (!ok) throw unauthorized("invalid token signature");
  if (typeof claims.exp !== "number") throw unauthorized("token without exp");
  if (claims.exp <= Date.now() / 1000) throw unauthorized("token expired");
  return claims;
}

function bearerOf(req: Request): string | undefined {
  const h = req.headers.get("authorization");
  if (h === null) return undefined;
  const m = h.match(/^Bearer\s+(\S+)\s*$/i);
  if (!m) throw unauthorized("malformed Authorization header");
  return m[1];
}

/**
 * Authenticates a request: 401 for no credentials or bad ones (malformed, expired, foreign-signed token,
 * unknown secret key), 403 for the anon JWT, a publishable key, or a user without `app_metadata.sync_role`.
 */
export async function authenticate(req: Request): Promise<Caller> {
  const apikey = req.headers.get("apikey") ?? undefined;
  const bearer = bearerOf(req);
  // The bearer decides; a secret key in `apikey` counts when the bearer is absent or is that same key.
  const token = bearer ?? apikey;
  if (!token) throw unauthorized("no credentials: send a bearer token or an API key");
  if (token.startsWith("sb_secret_")) {
    if (await isSecretKey(token)) return { id: "secret_key", role: "admin", kind: "secret_key" };
    throw unauthorized("unknown secret key");
  }
  if (token.startsWith("sb_publishable_")) throw forbidden("a publishable key cannot call this API");
  const claims = await verifyJwt(token);
  if (claims.role === "service_role") return { id: "service_role", role: "admin", kind: "service_role" };
  if (claims.role === "anon") throw forbidden("the anon key cannot call this API");
  const meta = claims.app_metadata as Record<string, unknown> | undefined;
  const role = meta?.sync_role;
  if (role !== "admin" && role !== "viewer") throw forbidden("the user has no sync_role");
  if (typeof claims.sub !== "string" || claims.sub === "") throw unauthorized("token without sub");
  return { id: claims.sub, role, kind: "user" };
}

/** Throws 403 unless the caller holds `need` (admin covers viewer). */
export function requireRole(caller: Caller, need: "admin" | "viewer"): void {
  if (need === "admin" && caller.role !== "admin") throw forbidden("this route needs sync_role admin");
}
