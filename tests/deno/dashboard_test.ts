/**
 * The dashboard (dashboard/, served by the gateway at /dashboard/) in a real browser: Debian's Chromium driven by
 * playwright-core, against the real gateway and `sync` function on a fresh target+legacy pair. An admin signs in
 * and sees the API's own numbers (status, queue depths, open alerts, the newest run); "Run now" starts a manual
 * incremental run under the admin's id that then shows on the page; a viewer gets no write control; the page
 * never holds a secret. Leaves a screenshot at tests/artifacts/dashboard.png and prints the page's load time.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { type Browser, chromium, type Page } from "playwright-core";
import { ROOT } from "../../scripts/lib/stack.ts";
import { ADMIN, VIEWER, withApi } from "./_api.ts";
import { sleep } from "./_helpers.ts";

const SCREENSHOT = `${ROOT}/tests/artifacts/dashboard.png`;
const OFFICES =
  `insert into dispatch_office (name, phone, address, city, state, zip_code, is_active, created_at, updated_at)`;
/** The first health render has happened (app.js stamps it on <html>). */
const RENDERED = "html[data-first-render-ms]";

async function signInOnPage(page: Page, url: string, op: typeof ADMIN | typeof VIEWER): Promise<void> {
  await page.goto(url);
  await page.fill('[data-test="email"]', op.email);
  await page.fill('[data-test="password"]', op.password);
  await page.click('[data-test="signin"]');
  await page.waitForSelector(RENDERED, { state: "attached", timeout: 15_000 });
}

const text = async (page: Page, test: string) => (await page.textContent(`[data-test="${test}"]`))?.trim();

Deno.test({
  name: "dashboard: admin sees the API's numbers and starts a run, a viewer has no write controls",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await withApi("dashboard", async (api) => {
      const { call, keys, pair, gw } = api;
      const S = keys.SECRET_KEY;
      const url = `${gw.url}/dashboard/`;
      await pair.target`select sync.connect_source(${pair.legacyConninfo})`;
      await pair.legacy.unsafe(`${OFFICES} select 'Office ' || g, '', '', 'Humble', 'TX', '', true, now(), now()
                                           from generate_series(1, 5) g`);
      const first = await call(S, "sync/runs", { body: { mode: "incremental" } });
      strictEqual(first.status, 202, JSON.stringify(first.body));
      let run: Record<string, unknown> = {};
      for (let i = 0; i < 100 && run.status !== "succeeded" && run.status !== "failed"; i++) {
        await sleep(100);
        run = (await call(S, `sync/runs/${first.body.id}`, { method: "GET" })).body;
      }
      strictEqual(run.status, "succeeded");
      const { id: adminId } = await api.signIn(ADMIN);

      // The bundle's files, with their content types; config.js names this gateway and the publishable key.
      for (
        const [path, type] of [["", "text/html"], ["app.js", "text/javascript"], [
          "vendor/supabase.js",
          "text/javascript",
        ]]
      ) {
        const r = await fetch(`${url}${path}`);
        await r.body?.cancel();
        deepStrictEqual([r.status, r.headers.get("content-type")?.split(";")[0]], [200, type]);
      }
      const config = await (await fetch(`${url}config.js`)).text();
      ok(config.includes(`"url": "${gw.url}"`) && config.includes(`"publishableKey": "${keys.PUBLISHABLE_KEY}"`));

      const browser: Browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
      try {
        const admin = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
        const errors: string[] = [];
        admin.on("pageerror", (e) => errors.push(e.message));

        // A wrong password: the form says so.
        await admin.goto(url);
        await admin.fill('[data-test="email"]', ADMIN.email);
        await admin.fill('[data-test="password"]', "wrong");
        await admin.click('[data-test="signin"]');
        await admin.waitForSelector('[data-test="signin-error"]:not([hidden])');
        strictEqual(await text(admin, "signin-error"), "Invalid login credentials");

        await signInOnPage(admin, url, ADMIN);
        strictEqual(await text(admin, "who"), `${ADMIN.email} · admin`);

        // Load time: a reload with the stored session, navigation to the first health render.
        const t0 = performance.now();
        await admin.reload();
        await admin.waitForSelector(RENDERED, { state: "attached" });
        const wall = performance.now() - t0;
        const inPage = Number(await admin.getAttribute("html", "data-first-render-ms"));
        console.log(
          `dashboard load: first health render ${inPage} ms after navigation start (${wall.toFixed(0)} ms wall)`,
        );

        // The page shows the API's numbers.
        const health = (await call(S, "sync/health", { method: "GET" })).body as {
          status: string;
          queue: Record<string, number>;
          alerts: unknown[];
          success_rate: { h24: number };
        };
        const runs = (await call(S, "sync/runs?limit=50", { method: "GET" })).body.items as {
          id: number;
          status: string;
        }[];
        deepStrictEqual([health.status, health.queue, health.alerts.length, health.success_rate.h24], [
          "ok",
          { pending: 0, parked: 0, quarantined: 0, conflicts: 0 },
          0,
          1,
        ]);
        deepStrictEqual([runs[0].id, runs[0].status], [first.body.id, "succeeded"]);
        deepStrictEqual(
          {
            status: await admin.getAttribute('[data-test="status"]', "data-status"),
            pending: await text(admin, "queue-pending"),
            parked: await text(admin, "queue-parked"),
            quarantined: await text(admin, "queue-quarantined"),
            conflicts: await text(admin, "queue-conflicts"),
            alerts: await text(admin, "alerts-count"),
            success24h: await text(admin, "success-24h"),
            runId: await text(admin, "run-id"),
            runStatus: await text(admin, "run-status"),
            runRows: await admin.locator('[data-test="run"]').count(),
          },
          {
            status: health.status,
            pending: String(health.queue.pending),
            parked: String(health.queue.parked),
            quarantined: String(health.queue.quarantined),
            conflicts: String(health.queue.conflicts),
            alerts: String(health.alerts.length),
            success24h: `${health.success_rate.h24 * 100} %`,
            runId: String(runs[0].id),
            runStatus: runs[0].status,
            runRows: runs.length,
          },
        );

        // "Run now": a manual incremental run under the admin's id, then on the page.
        ok((await admin.locator("[data-write]").count()) >= 2, "an admin has write controls");
        await admin.click('[data-test="run-now"]');
        let started: Record<string, unknown>[] = [];
        for (let i = 0; i < 100 && started.length === 0; i++) {
          started = await pair.target`select id, mode, trigger, caller from sync.runs where id > ${runs[0].id}`;
          if (started.length === 0) await sleep(100);
        }
        deepStrictEqual(started.map((r) => [r.mode, r.trigger, r.caller]), [["incremental", "manual", adminId]]);
        await admin.waitForFunction(
          `document.querySelector('[data-test="run-id"]')?.textContent === "${started[0].id}"`,
          undefined,
          { timeout: 10_000 },
        );
        await admin.waitForSelector('[data-test="message"]:not([hidden])');
        await admin.screenshot({ path: SCREENSHOT, fullPage: true });

        // No secret on the page, no script error.
        const html = await admin.content();
        for (const s of [keys.SECRET_KEY, keys.JWT_SECRET, keys.SERVICE_ROLE_KEY, "postgres://", "postgresql://"]) {
          ok(!html.includes(s), "the page holds a secret");
        }
        deepStrictEqual(errors, []);

        // A viewer: the same numbers, no write control at all.
        const viewer = await (await browser.newContext()).newPage();
        await signInOnPage(viewer, url, VIEWER);
        strictEqual(await text(viewer, "who"), `${VIEWER.email} · viewer`);
        strictEqual(await viewer.getAttribute('[data-test="status"]', "data-status"), health.status);
        strictEqual(await viewer.locator("[data-write]").count(), 0);
      } finally {
        await browser.close();
      }
    });

    // The screenshot: a PNG of a real page.
    const png = await Deno.readFile(SCREENSHOT);
    deepStrictEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    ok(png.length > 20_000, `the screenshot is ${png.length} bytes`);
  },
});
