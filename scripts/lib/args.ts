/**
 * Command-line helpers shared by the tasks.
 *
 * `deno task x -- a` passes the `--` through, `deno task x a` does not; every task accepts both.
 */

/** Returns the arguments without a leading `--`. */
export function taskArgs(args: readonly string[] = Deno.args): string[] {
  return args[0] === "--" ? args.slice(1) : [...args];
}

/** Reads `--name value` or `--name=value` from the arguments, or returns the fallback. */
export function option(args: readonly string[], name: string, fallback?: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === `--${name}`) return args[i + 1];
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return fallback;
}

/** True when the flag `--name` is present. */
export function flag(args: readonly string[], name: string): boolean {
  return args.includes(`--${name}`);
}

/** The arguments that are neither options nor their values. */
export function positionals(args: readonly string[], valued: readonly string[] = []): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a.startsWith("--")) {
      if (!a.includes("=") && valued.includes(a.slice(2))) i++;
      continue;
    }
    if (a.startsWith("-") && a.length === 2) {
      i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

/** Prints a message to stderr and exits with status 1. */
export function fail(message: string): never {
  console.error(`error: ${message}`);
  Deno.exit(1);
}
