/** `secretKeys`: the forms of SUPABASE_SECRET_KEYS (hosted's JSON dictionary, an array, a comma-separated list). */
import { deepStrictEqual } from "node:assert/strict";
import { secretKeys } from "../../functions/_shared/auth.ts";

Deno.test("auth: SUPABASE_SECRET_KEYS as hosted's JSON dictionary, a JSON array or a comma-separated list", () => {
  deepStrictEqual(secretKeys('{"default": "sb_secret_a", "ci": "sb_secret_b"}'), ["sb_secret_a", "sb_secret_b"]);
  deepStrictEqual(secretKeys('["sb_secret_a", " sb_secret_b "]'), ["sb_secret_a", "sb_secret_b"]);
  deepStrictEqual(secretKeys("sb_secret_a, sb_secret_b,"), ["sb_secret_a", "sb_secret_b"]);
  deepStrictEqual(secretKeys('{"default": 42, "x": ""}'), []);
  deepStrictEqual(secretKeys("{not json"), []);
  deepStrictEqual(secretKeys(""), []);
});
