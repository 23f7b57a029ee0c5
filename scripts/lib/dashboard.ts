/**
 * The dashboard's static bundle (dashboard/): which files it has, their content types, where supabase-js's UMD
 * bundle comes from (Deno's npm cache, the version pinned in deno.json) and the `config.js` that tells the page
 * the API's URL and publishable key. The gateway serves it at `/dashboard/`; `deno task dashboard:build` writes it
 * to dist/dashboard/ for a static host.
 */
import { ROOT } from "./stack.ts";

/** The bundle's files, relative to `dashboard/` (config.js and vendor/supabase.js are made, not stored). */
export const DASHBOARD_FILES = ["index.html", "app.js", "charts.js", "style.css"] as const;

/** The vendored supabase-js, relative to the bundle's root. */
export const VENDOR_FILE = "vendor/supabase.js";

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
};

/** The content type of a bundle file, by its extension. */
export function contentType(name: string): string {
  return TYPES[name.slice(name.lastIndexOf(".") + 1)] ?? "application/octet-stream";
}

/**
 * The path of `@supabase/supabase-js/dist/umd/supabase.js` in Deno's npm cache: the package deno.json pins,
 * resolved the way Deno resolves it (the gateway imports supabase-js, so it is cached wherever the gateway runs).
 */
export function vendorPath(): string {
  const main = import.meta.resolve("@supabase/supabase-js");
  if (!main.startsWith("file:")) {
    throw new Error(`@supabase/supabase-js resolves to ${main}, not a file: run 'deno install' first`);
  }
  return new URL("./umd/supabase.js", main).pathname;
}

/** The page's `config.js`: an ES module exporting the API's URL and the publishable key (public by design). */
export function configJs(config: { url: string; publishableKey: string }): string {
  const body = JSON.stringify({ url: config.url, publishableKey: config.publishableKey }, null, 2);
  return `// Written for this deployment: the API's URL and its publishable key.\nexport default ${body};\n`;
}

/** The text of a bundle file (`config.js` excluded), or undefined for a name outside the bundle. */
export async function readDashboardFile(name: string): Promise<Uint8Array<ArrayBuffer> | undefined> {
  if (name === VENDOR_FILE) return await Deno.readFile(vendorPath());
  if ((DASHBOARD_FILES as readonly string[]).includes(name)) return await Deno.readFile(`${ROOT}/dashboard/${name}`);
  return undefined;
}
