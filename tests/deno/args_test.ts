import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { option, positionals, taskArgs } from "../../scripts/lib/args.ts";

Deno.test("taskArgs drops one leading --", () => {
  deepStrictEqual(taskArgs(["--", "-o", "env"]), ["-o", "env"]);
  deepStrictEqual(taskArgs(["-o", "env"]), ["-o", "env"]);
  deepStrictEqual(taskArgs(["--", "--", "x"]), ["--", "x"]);
});

Deno.test("option reads --name value and --name=value", () => {
  strictEqual(option(["--scale", "0.5"], "scale"), "0.5");
  strictEqual(option(["--scale=0.5"], "scale"), "0.5");
  strictEqual(option([], "scale", "1"), "1");
});

Deno.test("positionals skips options and their values", () => {
  deepStrictEqual(positionals(["postgres://x", "--capture", "logical"], ["capture"]), ["postgres://x"]);
  deepStrictEqual(positionals(["--capture=logical", "postgres://x"]), ["postgres://x"]);
});
