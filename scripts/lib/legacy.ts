/** The demo legacy database: schema, generator and live stream (sql/legacy). */
import { psql } from "./psql.ts";
import { ROOT } from "./stack.ts";

/** Row counts per legacy table, as the generator reports them. */
export type Counts = Record<string, number>;

/**
 * Drops and recreates schema public of a legacy database with the Django schema, then fills it
 * deterministically at a scale. Destroys what the database held.
 */
export async function buildLegacy(url: string, scale: number, seed: number): Promise<Counts> {
  await psql(url, {
    command: "drop schema if exists public cascade; drop schema if exists demo_gen cascade; create schema public",
  });
  await psql(url, {
    files: [`${ROOT}/sql/legacy/schema.sql`, `${ROOT}/sql/legacy/generate.sql`, `${ROOT}/sql/legacy/stream.sql`],
  });
  const out = await psql(url, {
    command: `select table_name || '=' || row_count from demo_gen.generate(${Number(scale)}, ${Math.trunc(seed)})`,
  });
  await psql(url, { command: "vacuum analyze" });
  return Object.fromEntries(
    out.split("\n").map((l) => {
      const [k, v] = l.split("=");
      return [k, Number(v)];
    }),
  );
}
