/**
 * The local gateway as a stack's background process: `start` launches it (pid file), `stop` stops exactly that
 * pid. The same process runs the stack's pg_net worker (scripts/gateway.ts), so one pid covers both. Port: `SYNC_API_PORT` (demo) / `SYNC_TEST_API_PORT` (test), else the stack's database port − 1 (54321 for
 * the demo's 54322, as Supabase's API port). Operators: one admin and one viewer, made once per stack and kept
 * in its keys.json (`OPERATORS`).
 */
import type { Operator } from "./gateway.ts";
import { exists } from "./run.ts";
import { paths, ROOT, type StackSpec } from "./stack.ts";

/** The gateway's port for a stack. */
export function apiPort(spec: StackSpec): number {
  const v = Deno.env.get(spec.name === "demo" ? "SYNC_API_PORT" : "SYNC_TEST_API_PORT");
  return v ? Number(v) : spec.port - 1;
}

/** The gateway's URL for a stack (what `status -o env` prints as API_URL). */
export function apiUrl(spec: StackSpec): string {
  return `http://127.0.0.1:${apiPort(spec)}`;
}

function gatewayFiles(spec: StackSpec) {
  const dir = paths(spec).dir;
  return { pid: `${dir}/gateway.pid`, log: `${dir}/gateway.log` };
}

/** The stack's operator accounts, made once (random passwords) and stored in its keys.json. */
export async function operators(spec: StackSpec): Promise<Operator[]> {
  const file = paths(spec).keys;
  const k = JSON.parse(await Deno.readTextFile(file));
  if (!Array.isArray(k.OPERATORS)) {
    const pw = () => crypto.randomUUID().replaceAll("-", "");
    k.OPERATORS = [
      { email: "admin@sync.local", password: pw(), sync_role: "admin" },
      { email: "viewer@sync.local", password: pw(), sync_role: "viewer" },
    ];
    await Deno.writeTextFile(file, JSON.stringify(k, null, 2), { mode: 0o600 });
  }
  return k.OPERATORS;
}

function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

async function answers(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}

function runningPid(spec: StackSpec): number | undefined {
  const f = gatewayFiles(spec).pid;
  if (!exists(f)) return undefined;
  const pid = Number(Deno.readTextFileSync(f).trim());
  return pid > 0 && alive(pid) ? pid : undefined;
}

/** The pid of the stack's gateway process (gateway and pg_net worker), or undefined when it is not running. */
export function gatewayPid(spec: StackSpec): number | undefined {
  return runningPid(spec);
}

/** True when the stack's gateway (by its pid file) is running. */
export function gatewayRunning(spec: StackSpec): boolean {
  return runningPid(spec) !== undefined;
}

/** Starts the stack's gateway in the background (reused when running); waits until it answers. */
export async function startGatewayProcess(spec: StackSpec): Promise<void> {
  await operators(spec);
  const port = apiPort(spec);
  if (gatewayRunning(spec) && await answers(port)) return;
  if (await answers(port)) {
    throw new Error(
      `port ${port} on 127.0.0.1 is taken by another process; choose another with ` +
        (spec.name === "demo" ? "SYNC_API_PORT" : "SYNC_TEST_API_PORT"),
    );
  }
  const f = gatewayFiles(spec);
  // A session of its own (setsid), so that the task's terminal (Ctrl-C) does not stop it; output to its log file,
  // not to a pipe that ends with this task. `exec` twice keeps one pid: sh becomes setsid becomes deno.
  const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const cmd = [
    Deno.execPath(),
    "run",
    "-A",
    `${ROOT}/scripts/gateway.ts`,
    "--stack",
    spec.name,
    "--port",
    String(port),
  ];
  const child = new Deno.Command("sh", {
    args: ["-c", `exec setsid ${cmd.map(q).join(" ")} >>${q(f.log)} 2>&1 </dev/null`],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  await Deno.writeTextFile(f.pid, String(child.pid));
  child.unref();
  const end = Date.now() + 60_000;
  while (!(await answers(port))) {
    if (Date.now() > end || !alive(child.pid)) {
      throw new Error(`the gateway did not start on port ${port}; see ${f.log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Stops the gateway that `startGatewayProcess` started (its pid file), and nothing else. */
export async function stopGatewayProcess(spec: StackSpec): Promise<boolean> {
  const f = gatewayFiles(spec);
  const pid = runningPid(spec);
  if (pid === undefined) {
    if (exists(f.pid)) await Deno.remove(f.pid);
    return false;
  }
  Deno.kill(pid, "SIGTERM");
  const end = Date.now() + 10_000;
  while (alive(pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  if (alive(pid)) Deno.kill(pid, "SIGKILL");
  await Deno.remove(f.pid);
  return true;
}
