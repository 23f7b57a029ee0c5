/** What a route handler gets: the request, the verified caller, the path's parameters and the database. */
import type postgres from "postgres";
import type { Caller } from "../_shared/auth.ts";

export interface Ctx {
  req: Request;
  caller: Caller;
  params: Record<string, string>;
  query: URLSearchParams;
  /** The request body parsed as JSON (`{}` when empty). */
  body: () => Promise<unknown>;
  sql: postgres.Sql;
}

/** A route: method, path pattern (`:name` segments), the role it needs, its handler. */
export interface Route {
  method: string;
  path: string;
  role: "admin" | "viewer";
  handle: (ctx: Ctx) => Promise<Response>;
}
