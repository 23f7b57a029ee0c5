/** The function's one database client: postgres.js through the transaction-mode pooler, no prepared statements. */
import postgres from "postgres";

let client: postgres.Sql | undefined;

/** The client, made on first use from `SYNC_DB_URL`, else `SUPABASE_DB_URL`. */
export function db(): postgres.Sql {
  if (client) return client;
  const url = Deno.env.get("SYNC_DB_URL") || Deno.env.get("SUPABASE_DB_URL");
  if (!url) throw new Error("neither SYNC_DB_URL nor SUPABASE_DB_URL is set");
  client = postgres(url, {
    prepare: false,
    max: 3,
    idle_timeout: 20,
    onnotice: () => {},
    connection: { application_name: "sync-function" },
  });
  return client;
}
