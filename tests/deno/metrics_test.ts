/**
 * GET /sync/metrics is valid Prometheus text: parsed by a real parser (parse-prometheus-text-format from npm), every
 * family typed and documented, with the values of the database's state after a run that applied and quarantined rows.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { withApi } from "./_api.ts";

interface Family {
  name: string;
  help: string;
  type: string;
  metrics: { value: string; labels?: Record<string, string> }[];
}

Deno.test("metrics: Prometheus text that a real parser reads, with the database's numbers", async () => {
  await withApi("metrics", async (api) => {
    const { keys, pair, gw } = api;
    await pair.target`select sync.connect_source(${pair.legacyConninfo})`;
    await pair.legacy`insert into dispatch_office (name, phone, address, city, state, zip_code, is_active, created_at,
                                                   updated_at)
                      select 'Office ' || g, '', '', 'Humble', 'TX', '', true, now(), now() from generate_series(1, 3) g`;
    await pair.target`call sync.tick(20, null)`;
    await pair.target`with i as (insert into sync.inbox (entity, legacy_id, op, source_version, captured_at, status)
                                 values ('offices', 99, 'upsert', 1, now(), 'quarantined') returning id)
                      insert into sync.quarantine (entity, legacy_id, inbox_id, reason, message)
                      select 'offices', 99, i.id, 'apply_error', 'refused' from i`;
    await pair
      .target`insert into sync.alerts (kind, severity, dedup_key, message) values ('lag', 'warning', 'lag', 'slow')`;

    const res = await fetch(`${gw.url}/functions/v1/sync/metrics`, { headers: { apikey: keys.SECRET_KEY } });
    strictEqual(res.status, 200);
    const text = await res.text();
    api.bodies.push(text);
    const families = parsePrometheusTextFormat(text) as Family[];
    const byName = new Map(families.map((f) => [f.name, f]));
    deepStrictEqual([...byName.keys()].sort(), [
      "sync_alerts_open",
      "sync_circuit_open",
      "sync_conflicts_open",
      "sync_inbox_changes",
      "sync_lag_seconds",
      "sync_quarantine_open",
      "sync_run_errors_total",
      "sync_run_phase_seconds",
      "sync_runs_total",
      "sync_source_failures",
      "sync_throughput_rows_per_second",
    ]);
    for (const f of families) ok(f.help.length > 0 && ["gauge", "counter"].includes(f.type.toLowerCase()), f.name);
    const value = (name: string, labels: Record<string, string> = {}) =>
      byName.get(name)!.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))?.value;
    deepStrictEqual(value("sync_runs_total", { mode: "incremental", status: "succeeded" }), "1");
    deepStrictEqual(value("sync_quarantine_open", { reason: "apply_error" }), "1");
    deepStrictEqual(value("sync_alerts_open", { severity: "warning" }), "1");
    deepStrictEqual(value("sync_alerts_open", { severity: "critical" }), "0");
    deepStrictEqual(value("sync_inbox_changes", { status: "pending" }), "0");
    deepStrictEqual(value("sync_inbox_changes", { status: "quarantined" }), "1");
    deepStrictEqual(value("sync_conflicts_open"), "0");
    deepStrictEqual(value("sync_run_errors_total", { category: "network" }), "0");
    ok(Number(value("sync_throughput_rows_per_second")) > 0);
    deepStrictEqual(byName.get("sync_run_phase_seconds")!.metrics.map((m) => m.labels?.phase).sort(), [
      "apply",
      "backfill",
      "pull",
      "total",
      "verify",
    ]);
  });
});
