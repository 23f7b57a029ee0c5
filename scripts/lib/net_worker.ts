/**
 * The local stand-in for pg_net's background worker: drains `net.http_request_queue` of one database the way
 * pg_net does, so that `net.http_post` (and the pg_cron job that calls it) works unchanged on the local stack.
 *
 * Each round takes up to `batchSize` requests in id order with one `delete … returning` (a request is taken by
 * exactly one worker, once: pg_net deletes it when it takes it, too), performs them concurrently with `fetch`
 * (`timeout_milliseconds` bounds the whole exchange, redirects are followed, `User-Agent: pg_net/…`), and writes
 * one `net._http_response` row under the request's id: on an answer `status_code`, `content` (null when empty),
 * `headers`, `content_type`, `timed_out = false`; on a timeout `timed_out = true` and `error_msg` "Timeout of N ms
 * reached…"; on any other failure `timed_out = false` and the error in `error_msg`. An empty queue is polled
 * again after `pollMs` (100 ms). Until `db:setup` has made the queue, the worker waits for it.
 *
 * It connects as the URL's role: locally `postgres`, which supabase_compat.sql grants all on schema `net`'s
 * tables (no superuser). On hosted Supabase the real pg_net worker, the platform's, does this job.
 *
 * Log lines are JSON, one per request: its id, method, the URL without its query, status, duration; never a
 * header or a body (the cron job's headers carry the secret key).
 */
import postgres from "postgres";

/** Options of {@link startNetWorker}. */
export interface NetWorkerOptions {
  /** The database whose queue it drains (the one where pg_cron runs the jobs). */
  dbUrl: string;
  /** The pause when the queue is empty, in ms (default 100). */
  pollMs?: number;
  /** Requests taken per round (pg_net's `pg_net.batch_size` default: 200). */
  batchSize?: number;
  /** Requests in flight at most (default 64); the rest wait in the queue. */
  maxInFlight?: number;
  /** Where the JSON log lines go (default: stdout). */
  log?: (line: Record<string, unknown>) => void;
}

/** A running worker. */
export interface NetWorker {
  /** Requests performed so far (responses written). */
  performed: () => number;
  /** Stops taking requests, ends those in flight (their responses say so), closes its connections. */
  close: () => Promise<void>;
}

interface QueuedRequest {
  id: string;
  method: string;
  url: string;
  headers: Record<string, unknown> | null;
  body: Uint8Array | null;
  timeout_milliseconds: number;
}

interface Outcome {
  status_code: number | null;
  content: string | null;
  headers: Record<string, string> | null;
  content_type: string | null;
  timed_out: boolean;
  error_msg: string | null;
}

const USER_AGENT = "pg_net/local-worker";
const METHODS = ["GET", "POST", "DELETE"];

/** The URL without its query and fragment, for log lines. */
function logUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return "(invalid url)";
  }
}

/** Performs one request as pg_net does (curl with CURLOPT_TIMEOUT_MS: the whole exchange, body included). */
async function perform(req: QueuedRequest, stop: AbortSignal): Promise<Outcome> {
  const method = req.method.toUpperCase();
  const failed = (msg: string, timed_out = false): Outcome => ({
    status_code: null,
    content: null,
    headers: null,
    content_type: null,
    timed_out,
    error_msg: msg,
  });
  if (!METHODS.includes(method)) return failed(`Unsupported request method ${req.method}`);
  if (!(req.timeout_milliseconds > 0)) {
    return failed(`timeout_milliseconds must be positive, got ${req.timeout_milliseconds}`);
  }
  const headers = new Headers({ "User-Agent": USER_AGENT });
  for (const [k, v] of Object.entries(req.headers ?? {})) {
    if (v === null) continue;
    const value = typeof v === "string" ? v : JSON.stringify(v);
    // A header with a CR or LF could smuggle another header in: pg_net refuses it, naming the header only.
    if (/[\r\n]/.test(value)) return failed(`header "${k}" contains a carriage return or line feed`);
    headers.set(k, value);
  }
  const ac = new AbortController();
  const t0 = performance.now();
  const timer = setTimeout(() => ac.abort(), req.timeout_milliseconds);
  try {
    const res = await fetch(req.url, {
      method,
      headers,
      // fetch sends no body with GET (pg_net would); nothing here queues one.
      body: req.body && method !== "GET" ? new Uint8Array(req.body) : undefined,
      redirect: "follow",
      signal: AbortSignal.any([ac.signal, stop]),
    });
    const content = await res.text();
    return {
      status_code: res.status,
      content: content === "" ? null : content,
      headers: Object.fromEntries(res.headers),
      content_type: res.headers.get("content-type"),
      timed_out: false,
      error_msg: null,
    };
  } catch (e) {
    if (stop.aborted) return failed("the local pg_net worker stopped before the response came");
    if (ac.signal.aborted) {
      const total = (performance.now() - t0).toFixed(0);
      return failed(`Timeout of ${req.timeout_milliseconds} ms reached. Total time: ${total} ms`, true);
    }
    // fetch says "fetch failed" and puts the reason (refused, DNS, TLS) in its cause, as curl_easy_strerror names it.
    const cause = e instanceof Error && e.cause instanceof Error ? `: ${e.cause.message}` : "";
    return failed(e instanceof Error ? `${e.message}${cause}` : String(e));
  } finally {
    clearTimeout(timer);
  }
}

/** Starts draining the queue of `opts.dbUrl`; returns at once. */
export function startNetWorker(opts: NetWorkerOptions): NetWorker {
  const pollMs = opts.pollMs ?? 100;
  const batchSize = opts.batchSize ?? 200;
  const maxInFlight = opts.maxInFlight ?? 64;
  const log = opts.log ?? ((line) => console.log(JSON.stringify(line)));
  const sql = postgres(opts.dbUrl, {
    max: 2,
    idle_timeout: 60,
    onnotice: () => {},
    connection: { application_name: "pg_net worker (local)" },
  });
  const inFlight = new Set<Promise<void>>();
  const stop = new AbortController();
  let performed = 0;
  let closing = false;
  let wake: (() => void) | undefined;
  let waiting: string | undefined;

  const sleep = (ms: number) =>
    new Promise<void>((r) => {
      const t = setTimeout(() => {
        wake = undefined;
        r();
      }, ms);
      wake = () => {
        clearTimeout(t);
        wake = undefined;
        r();
      };
    });

  const handle = async (req: QueuedRequest) => {
    const t0 = performance.now();
    const out = await perform(req, stop.signal);
    try {
      await sql`insert into net._http_response (id, status_code, content, headers, content_type, timed_out, error_msg)
                values (${req.id}, ${out.status_code}, ${out.content}, ${out.headers ? sql.json(out.headers) : null},
                        ${out.content_type}, ${out.timed_out}, ${out.error_msg})`;
      performed++;
    } catch (e) {
      log({
        at: new Date().toISOString(),
        component: "net_worker",
        request: Number(req.id),
        error: `response not written: ${(e as Error).message}`,
      });
    }
    log({
      at: new Date().toISOString(),
      component: "net_worker",
      request: Number(req.id),
      method: req.method.toUpperCase(),
      url: logUrl(req.url),
      status: out.status_code,
      timed_out: out.timed_out,
      error: out.error_msg ?? undefined,
      ms: Math.round(performance.now() - t0),
    });
  };

  const loop = async () => {
    while (!closing) {
      const room = Math.min(batchSize, maxInFlight - inFlight.size);
      let taken: QueuedRequest[] = [];
      if (room > 0) {
        try {
          taken = [
            ...await sql<QueuedRequest[]>`
            delete from net.http_request_queue q
             where q.id in (select r.id from net.http_request_queue r order by r.id limit ${room} for update skip locked)
            returning q.id::text as id, q.method, q.url, q.headers, q.body, q.timeout_milliseconds`,
          ]
            .sort((a, b) => Number(a.id) - Number(b.id));
          if (waiting) {
            log({ at: new Date().toISOString(), component: "net_worker", state: "draining net.http_request_queue" });
            waiting = undefined;
          }
        } catch (e) {
          // Before db:setup (no schema net yet) or while the database restarts: wait, say so once.
          const msg = e instanceof postgres.PostgresError && ["3F000", "42P01"].includes(e.code)
            ? "net.http_request_queue does not exist yet (run db:setup)"
            : `cannot read the queue: ${(e as Error).message}`;
          if (waiting !== msg) log({ at: new Date().toISOString(), component: "net_worker", state: msg });
          waiting = msg;
          await sleep(1000);
          continue;
        }
      }
      for (const req of taken) {
        const p = handle(req).finally(() => {
          inFlight.delete(p);
          wake?.(); // room again: take more at once
        });
        inFlight.add(p);
      }
      if (taken.length === 0) await sleep(pollMs);
    }
  };
  const running = loop();

  return {
    performed: () => performed,
    close: async () => {
      closing = true;
      wake?.();
      await running;
      stop.abort();
      await Promise.all(inFlight);
      await sql.end();
    },
  };
}
