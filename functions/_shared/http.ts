/** HTTP errors and the one place that maps any thrown value to the API's JSON error shape. */
import { ZodError } from "zod";

/** An error that carries its HTTP status and API error code. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** `{error: {code, message}}` with the status, plus extra top-level fields (e.g. the running run of a 409). */
export function errorResponse(status: number, code: string, message: string, extra: Record<string, unknown> = {}) {
  return Response.json({ error: { code, message }, ...extra }, { status });
}

/** The API error code of each status that SQL raises as `SYnnn`. */
const SQL_ERROR_CODES: Record<number, string> = {
  400: "invalid_input",
  404: "not_found",
  409: "conflict",
  429: "rate_limited",
};

/**
 * Maps a thrown value: HttpError as is, ZodError → 400, SQLSTATE `SYnnn` → nnn with the database's message,
 * anything else → 500 without internals (logged, never returned).
 */
export function toErrorResponse(e: unknown): Response {
  if (e instanceof HttpError) return errorResponse(e.status, e.code, e.message, e.extra);
  if (e instanceof ZodError) {
    const msg = e.issues.map((i) => `${i.path.length ? i.path.join(".") : "body"}: ${i.message}`).join("; ");
    return errorResponse(400, "invalid_input", msg);
  }
  const code = (e as { code?: unknown })?.code;
  if (typeof code === "string") {
    const m = code.match(/^SY(\d{3})$/);
    if (m) {
      const status = Number(m[1]);
      const res = errorResponse(status, SQL_ERROR_CODES[status] ?? "error", String((e as Error).message));
      // SY429 carries `retry_after <seconds>` in its DETAIL.
      const retry = String((e as { detail?: unknown }).detail ?? "").match(/^retry_after (\d+)$/);
      if (retry) res.headers.set("Retry-After", retry[1]);
      return res;
    }
  }
  console.error("sync: internal error:", e instanceof Error ? `${e.name} ${(e as { code?: string }).code ?? ""}` : e);
  return errorResponse(500, "internal", "internal server error");
}
