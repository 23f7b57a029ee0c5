-- sync.health() and sync.metrics() over fixed run records, inbox rows, source state and alerts.
begin;
select plan(9);

select is(sync.health() ->> 'status', 'not_connected', 'no source: not connected');

insert into sync.source (server_name, conninfo_redacted, last_pull_at) values ('sync_source', 'host=x', now());
insert into sync.runs (mode, status, trigger, started_at, ended_at, timings, summary) values
    ('incremental', 'succeeded', 'schedule', now() - interval '3 hours', now() - interval '3 hours' + interval '2 seconds',
     '{"pull_ms": 100, "apply_ms": 300}', '{"rows": 10, "lag_ms": {"p50": 200, "p99": 900}}'),
    ('incremental', 'failed', 'schedule', now() - interval '2 hours', now() - interval '2 hours' + interval '1 second',
     '{"pull_ms": 50, "apply_ms": 0}', '{"rows": 0}'),
    ('incremental', 'succeeded', 'schedule', now() - interval '10 minutes', now() - interval '10 minutes' + interval '1 second',
     '{"pull_ms": 120, "apply_ms": 480}', '{"rows": 5, "lag_ms": {"p50": 300, "p99": 1500}}');
insert into sync.inbox (entity, legacy_id, op, source_version, captured_at, status)
values ('profiles', 1, 'upsert', 1, now(), 'pending'), ('profiles', 2, 'upsert', 1, now(), 'parked'),
       ('profiles', 3, 'upsert', 1, now(), 'parked');
select sync._alert('source_unreachable', 'warning', 'source_unreachable', 'the source failed 2 ticks in a row (network); ticks back off');

select is(sync.health() ->> 'status', 'ok', 'the last run succeeded, nothing quarantined: ok');
select is(sync.health() -> 'success_rate', '{"h24": 0.667, "d7": 0.667}'::jsonb, 'two of three runs succeeded');
select is(sync.health() -> 'queue', '{"pending": 1, "parked": 2, "quarantined": 0, "conflicts": 0}'::jsonb, 'queue depths');
select is(sync.health() -> 'lag_ms', '{"p50": 300, "p99": 1500}'::jsonb, 'the lag of the last successful run');
insert into sync.runs (mode, status, started_at, ended_at, summary)
values ('verify', 'succeeded', now(), now(), '{"ok": false, "deep": true, "repaired": {"orders": {}},
        "entities": {"offices": {"gaps": {"missing": 2, "orphaned": 1}}, "orders": {"gaps": {"missing": 5, "orphaned": 0}}}}');
select is((sync.health() -> 'verification') - 'run_id' - 'at', '{"ok": false, "deep": true, "gaps": 3}'::jsonb,
          'the last verification and its unrepaired gaps');
delete from sync.runs where mode = 'verify';
select is((select jsonb_agg(a - 'id' - 'last_seen_at') from jsonb_array_elements(sync.health() -> 'alerts') a),
          '[{"kind": "source_unreachable", "severity": "warning", "occurrences": 1,
             "message": "the source failed 2 ticks in a row (network); ticks back off"}]'::jsonb, 'open alerts');
update sync.source set failures = 2, open_until = now() + interval '1 minute';
select is(sync.health() ->> 'status', 'degraded', 'an open circuit breaker degrades');

select is(array(select l from regexp_split_to_table(sync.metrics(), e'\n') l where l !~ '^#' and l <> '' order by l),
          array['sync_alerts_open{severity="critical"} 0', 'sync_alerts_open{severity="info"} 0', 'sync_alerts_open{severity="warning"} 1',
                'sync_circuit_open 1', 'sync_conflicts_open 0', 'sync_inbox_changes{status="conflict"} 0', 'sync_inbox_changes{status="parked"} 2',
                'sync_inbox_changes{status="pending"} 1', 'sync_inbox_changes{status="quarantined"} 0',
                'sync_lag_seconds{quantile="0.5"} 0.3', 'sync_lag_seconds{quantile="0.99"} 1.5',
                'sync_run_errors_total{category="conflict"} 0', 'sync_run_errors_total{category="database"} 0',
                'sync_run_errors_total{category="network"} 0', 'sync_run_errors_total{category="source"} 0',
                'sync_run_errors_total{category="validation"} 0',
                'sync_run_phase_seconds{phase="apply"} 0.48', 'sync_run_phase_seconds{phase="pull"} 0.12',
                'sync_runs_total{mode="incremental",status="failed"} 1', 'sync_runs_total{mode="incremental",status="succeeded"} 2',
                'sync_source_failures 2', 'sync_throughput_rows_per_second 0'],
          'the metrics, in Prometheus text format');

select * from finish();
rollback;
