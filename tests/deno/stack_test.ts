/** The local stack refuses a port that something else holds, with a message naming the fix. */
import { rejects } from "node:assert/strict";
import { start } from "../../scripts/lib/stack.ts";

Deno.test("start reports a taken port clearly", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  try {
    await rejects(start({ name: `porttest_${Deno.pid}`, port, fast: true }), (e: Error) => {
      return e.message ===
        `port ${port} on 127.0.0.1 is taken by another process; stop it or choose another port with SYNC_DB_PORT`;
    });
  } finally {
    l.close();
  }
});
