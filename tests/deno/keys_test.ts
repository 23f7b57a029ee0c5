import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { decodeBase64Url } from "../../scripts/lib/b64.ts";
import { makeKeys } from "../../scripts/lib/keys.ts";

Deno.test("makeKeys signs anon and service_role JWTs with the JWT secret", async () => {
  const k = await makeKeys();
  for (const [token, role] of [[k.ANON_KEY, "anon"], [k.SERVICE_ROLE_KEY, "service_role"]]) {
    const [h, p, s] = token.split(".");
    deepStrictEqual(JSON.parse(new TextDecoder().decode(decodeBase64Url(h))), { alg: "HS256", typ: "JWT" });
    strictEqual(JSON.parse(new TextDecoder().decode(decodeBase64Url(p))).role, role);
    const key = await crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(k.JWT_SECRET),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["verify"],
    );
    ok(await crypto.subtle.verify("HMAC", key, decodeBase64Url(s), new TextEncoder().encode(`${h}.${p}`)));
  }
  ok(k.SECRET_KEY.startsWith("sb_secret_"));
  ok(k.PUBLISHABLE_KEY.startsWith("sb_publishable_"));
});
