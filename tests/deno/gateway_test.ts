/**
 * The test stack's own gateway (started by `deno task test`, stopped after; SYNC_TEST_API_URL): supabase-js
 * `signInWithPassword` with the stack's seeded operators works unchanged, the access token is ES256 under the
 * served JWKS with `sub`, `exp`, `role` and `app_metadata.sync_role`, and a wrong password is refused.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { createClient } from "@supabase/supabase-js";
import { decodeBase64Url } from "../../scripts/lib/b64.ts";
import { operators } from "../../scripts/lib/gateway_process.ts";
import { keys, TEST } from "../../scripts/lib/stack.ts";

const API_URL = Deno.env.get("SYNC_TEST_API_URL");

Deno.test({
  name: "the test stack's gateway signs operators in with ES256 tokens that its JWKS verifies",
  ignore: !API_URL,
  fn: async () => {
    const k = await keys(TEST);
    const ops = await operators(TEST);
    const jwks = await (await fetch(`${API_URL}/auth/v1/.well-known/jwks.json`)).json();
    strictEqual(jwks.keys.length, 1);
    strictEqual("d" in jwks.keys[0], false, "the JWKS publishes the private key");
    for (const op of ops) {
      const client = createClient(API_URL!, k.PUBLISHABLE_KEY, { auth: { persistSession: false } });
      const { data, error } = await client.auth.signInWithPassword({ email: op.email, password: op.password });
      ok(!error, String(error));
      const [h, p, s] = data.session!.access_token.split(".");
      const head = JSON.parse(new TextDecoder().decode(decodeBase64Url(h)));
      const claims = JSON.parse(new TextDecoder().decode(decodeBase64Url(p)));
      deepStrictEqual([head.alg, head.kid], ["ES256", jwks.keys[0].kid]);
      deepStrictEqual([claims.role, claims.sub, claims.app_metadata.sync_role], [
        "authenticated",
        data.user!.id,
        op.sync_role,
      ]);
      ok(claims.exp > Date.now() / 1000);
      const { kty, crv, x, y } = jwks.keys[0];
      const key = await crypto.subtle.importKey(
        "jwk",
        { kty, crv, x, y },
        { name: "ECDSA", namedCurve: "P-256" },
        false,
        [
          "verify",
        ],
      );
      ok(
        await crypto.subtle.verify(
          { name: "ECDSA", hash: "SHA-256" },
          key,
          decodeBase64Url(s) as BufferSource,
          new TextEncoder().encode(`${h}.${p}`),
        ),
      );
    }
    const client = createClient(API_URL!, k.PUBLISHABLE_KEY, { auth: { persistSession: false } });
    const bad = await client.auth.signInWithPassword({ email: ops[0].email, password: "wrong" });
    strictEqual(bad.error?.status, 400);
    strictEqual(bad.data.session, null);
    // The function behind it answers in the API's shape (the stack's database has no engine: only auth is asked).
    const anon = createClient(API_URL!, k.ANON_KEY).functions.invoke("sync/config", { method: "GET" });
    const r = await anon;
    strictEqual(r.error?.context.status, 403);
    deepStrictEqual(await r.error?.context.json(), {
      error: { code: "forbidden", message: "the anon key cannot call this API" },
    });
  },
});
