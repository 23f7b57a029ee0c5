/** Process helpers: run a command, capture its output, fail loudly with what it printed. */

/** Result of a finished command. */
export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options for {@link run}. */
export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Input written to the command's stdin. */
  stdin?: string;
  /** Do not throw on a non-zero exit. */
  allowFail?: boolean;
  /** Let the command print to this process's stdout and stderr. */
  inherit?: boolean;
}

/**
 * Runs a command and returns its output.
 * @throws Error naming the command and its stderr when it exits non-zero (unless `allowFail`).
 */
export async function run(cmd: string[], opts: RunOptions = {}): Promise<Ran> {
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    cwd: opts.cwd,
    env: opts.env,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: opts.inherit ? "inherit" : "piped",
    stderr: opts.inherit ? "inherit" : "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  const ran = {
    code: out.code,
    stdout: opts.inherit ? "" : dec.decode(out.stdout),
    stderr: opts.inherit ? "" : dec.decode(out.stderr),
  };
  if (ran.code !== 0 && !opts.allowFail) {
    throw new Error(
      `${cmd[0]} ${cmd.slice(1, 3).join(" ")} exited ${ran.code}: ${ran.stderr.trim() || ran.stdout.trim()}`,
    );
  }
  return ran;
}

/** True when an executable exists at the path. */
export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
