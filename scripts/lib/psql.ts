/** Runs SQL through psql (files and short statements) with errors that stop at once. */
import { PG_BIN } from "./install.ts";
import { run } from "./run.ts";

/** Options for {@link psql}. */
export interface PsqlOptions {
  /** psql variables (`-v name=value`). */
  vars?: Record<string, string>;
  /** Print psql's own output. */
  inherit?: boolean;
}

/**
 * Runs SQL files and/or commands against a database URL, stopping at the first error.
 * @returns psql's stdout in unaligned, tuples-only form.
 * @throws Error with psql's message when a statement fails.
 */
export async function psql(
  url: string,
  sql: { files?: string[]; command?: string },
  opts: PsqlOptions = {},
): Promise<string> {
  const args = [`${PG_BIN}/psql`, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url];
  for (const [k, v] of Object.entries(opts.vars ?? {})) args.push("-v", `${k}=${v}`);
  for (const f of sql.files ?? []) args.push("-f", f);
  if (sql.command) args.push("-c", sql.command);
  const out = await run(args, { inherit: opts.inherit, env: { PGOPTIONS: "--client-min-messages=warning" } });
  return out.stdout.trim();
}

/** Replaces the database name in a libpq URL. */
export function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

/** Hides the password of a libpq URL, for messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return url.replace(/password=\S+/g, "password=***");
  }
}
