/** The local stack's keys: a JWT secret, the legacy anon/service_role JWTs and the new-style API keys. */
import { encodeBase64Url } from "./b64.ts";

/** The keys a stack hands out, with the names `supabase status -o env` uses. */
export interface StackKeys {
  JWT_SECRET: string;
  ANON_KEY: string;
  SERVICE_ROLE_KEY: string;
  SECRET_KEY: string;
  PUBLISHABLE_KEY: string;
}

function randomToken(bytes: number): string {
  return encodeBase64Url(crypto.getRandomValues(new Uint8Array(bytes)));
}

/** Signs a JWT with HS256. */
export async function signJwt(payload: Record<string, unknown>, secret: string): Promise<string> {
  const enc = new TextEncoder();
  const head = encodeBase64Url(enc.encode(JSON.stringify({ alg: "HS256", typ: "JWT" })));
  const body = encodeBase64Url(enc.encode(JSON.stringify(payload)));
  const key = await crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const sig = new Uint8Array(await crypto.subtle.sign("HMAC", key, enc.encode(`${head}.${body}`)));
  return `${head}.${body}.${encodeBase64Url(sig)}`;
}

/** Makes a fresh set of keys, as `supabase start` does for a new local project. */
export async function makeKeys(): Promise<StackKeys> {
  const secret = randomToken(32);
  const iat = Math.floor(Date.now() / 1000);
  const exp = iat + 10 * 365 * 24 * 3600;
  return {
    JWT_SECRET: secret,
    ANON_KEY: await signJwt({ iss: "supabase-local", role: "anon", iat, exp }, secret),
    SERVICE_ROLE_KEY: await signJwt({ iss: "supabase-local", role: "service_role", iat, exp }, secret),
    SECRET_KEY: `sb_secret_${randomToken(24)}`,
    PUBLISHABLE_KEY: `sb_publishable_${randomToken(24)}`,
  };
}
