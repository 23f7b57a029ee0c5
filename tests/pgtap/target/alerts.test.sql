-- sync.evaluate_alerts: each condition of engine.md §9 fires at its threshold, with its severity and
-- without row values, and resolves itself when it clears (a critical one says so with an info
-- `recovery`); info alerts acknowledge themselves after 30 days; thresholds are validated by name;
-- sync.prune keeps what is younger than the retention ages.
begin;
select plan(18);

delete from sync.runs where true;
select sync.set_config('{"alerts": {"thresholds": {"consecutive_failures": 2, "no_success_minutes": 30}}}');

-- Three failed runs after the last success, which ended 40 minutes ago.
insert into sync.runs (mode, status, started_at, ended_at, created_at)
values ('incremental', 'succeeded', now() - interval '41 minutes', now() - interval '40 minutes', now() - interval '41 minutes'),
       ('incremental', 'failed', now() - interval '3 minutes', now() - interval '3 minutes', now() - interval '3 minutes'),
       ('incremental', 'failed', now() - interval '2 minutes', now() - interval '2 minutes', now() - interval '2 minutes'),
       ('incremental', 'failed', now() - interval '1 minutes', now() - interval '1 minutes', now() - interval '1 minutes');
insert into sync.conflicts (entity, legacy_id, op, strategy, status, columns) values ('offices', 7, 'upsert', 'manual', 'open', '{name}');

select is(sync.evaluate_alerts(), '{"no_success": "firing", "conflicts_waiting": "firing", "consecutive_failures": "firing"}',
          'failures, no success and a waiting conflict fire');
select is((select jsonb_agg(jsonb_build_array(kind, severity, message) order by kind) from sync.alerts where resolved_at is null),
          '[["config_changed", "info", "configuration changed by postgres: alerts"],
            ["conflicts_waiting", "warning", "1 conflicts wait for a decision"],
            ["consecutive_failures", "critical", "3 runs failed in a row"],
            ["no_success", "critical", "no successful run for 40 minutes"]]',
          'with their severities and messages (the thresholds set above raised an info config_changed: keys, not values)');
select is(sync.evaluate_alerts(), '{"no_success": "firing", "conflicts_waiting": "firing", "consecutive_failures": "firing"}',
          'evaluating again fires the same');
select is((select max(occurrences) from sync.alerts), 2, 'deduplicated: one alert each, seen twice');

-- A run succeeds and the conflict is decided: both critical alerts resolve, and say so.
insert into sync.runs (mode, status, started_at, ended_at) values ('incremental', 'succeeded', now(), now());
update sync.conflicts set status = 'resolved', decision = 'keep_target', resolved_at = now() where true;
select is(sync.evaluate_alerts(), '{"no_success": "resolved", "conflicts_waiting": "resolved", "consecutive_failures": "resolved"}',
          'they resolve when their conditions clear');
select is((select jsonb_agg(jsonb_build_array(kind, details ->> 'resolved') order by kind) from sync.alerts where resolved_at is not null),
          '[["conflicts_waiting", "no conflict waits"], ["consecutive_failures", "a run succeeded"], ["no_success", "a run succeeded"]]',
          'each says why');
select is((select jsonb_agg(message order by message) from sync.alerts where kind = 'recovery' and resolved_at is null),
          '["recovered: consecutive_failures (a run succeeded)", "recovered: no_success (a run succeeded)"]',
          'a resolved critical alert raises an info recovery');
select is(sync.evaluate_alerts(), '{}', 'nothing fires or changes after that');

-- Parked too long; verification gaps above the threshold; a reseed-looking id map.
insert into sync.inbox (entity, legacy_id, op, source_version, captured_at, status, created_at)
values ('patients', 5, 'upsert', 1, now(), 'parked', now() - interval '2 hours');
insert into sync.runs (mode, status, started_at, ended_at, summary)
values ('verify', 'succeeded', now(), now(), '{"ok": false, "repaired": {}, "entities": {
          "offices": {"ok": false, "gaps": {"missing": 4, "orphaned": 3}, "counts": {"mapped": 10},
                      "integrity": {"map_without_target": 6, "reseeded": 5}}}}');
select is(sync.evaluate_alerts() - 'no_success', '{"gaps": "firing", "parked_stale": "firing", "verification_failed": "firing",
                                                    "target_reseeded:offices": "firing"}',
          'parked rows, gaps, a failed verification and a reseed fire');
select is((select jsonb_agg(jsonb_build_array(kind, severity, message) order by kind) from sync.alerts
            where resolved_at is null and kind in ('gaps', 'parked_stale', 'target_reseeded', 'verification_failed')),
          '[["gaps", "warning", "verification found 7 gaps it did not repair"],
            ["parked_stale", "warning", "1 changes parked for more than 60 minutes (their parents never came)"],
            ["target_reseeded", "info", "offices: 5 mapped rows are gone from the target while rows with the same legacy ids exist under new UUIDs (a reseed): run sync.rebuild_mappings()"],
            ["verification_failed", "warning", "verification found problems it did not repair in offices"]]',
          'named exactly, without row values');

-- Info alerts acknowledge themselves after 30 days.
update sync.alerts set created_at = now() - interval '31 days' where kind = 'recovery';
select sync.evaluate_alerts();
select is((select count(*)::int from sync.alerts where kind = 'recovery' and acknowledged_by = 'sync (info, 30 days)'), 2,
          'info alerts are acknowledged after 30 days');

-- Thresholds by name.
select throws_ok($$select sync.set_config('{"alerts": {"thresholds": {"lag_secs": 5}}}')$$, 'SY400',
                 'unknown configuration key "alerts.thresholds.lag_secs"', 'an unknown threshold is refused, named');
select throws_ok($$select sync.set_config('{"alerts": {"destinations": {"email_min_severity": "loud"}}}')$$, 'SY400',
                 'alerts.destinations.email_min_severity must be info, warning or critical, got "loud"', 'a bad minimum severity');

-- The digest groups the day's alerts by severity.
select is(sync.digest() -> 'alerts_opened', '{"critical": 2, "warning": 4, "info": 2}', 'the digest groups alerts by severity');

-- Retention: old done inbox rows, audit rows and acknowledged alerts go; recent ones and open work stay.
insert into sync.inbox (entity, legacy_id, op, source_version, captured_at, status, created_at)
values ('offices', 1, 'upsert', 1, now(), 'applied', now() - interval '8 days'),
       ('offices', 2, 'upsert', 1, now(), 'applied', now() - interval '6 days'),
       ('offices', 3, 'upsert', 1, now(), 'pending', now() - interval '30 days');
insert into sync.audit (kind, subject, caller, at) values ('x', 'y', 'z', now() - interval '91 days'), ('x', 'y', 'z', now());
update sync.alerts set acknowledged_at = now() - interval '100 days' where kind = 'recovery';
select is(sync.prune() - 'runs' - 'cron_job_run_details' - 'net_http_response' - 'empty_batches',
          '{"inbox": 1, "alerts": 2, "audit": 1, "conflicts": 0, "quarantine": 0}', 'prune deletes exactly what is past its age');
select is((select jsonb_agg(legacy_id order by legacy_id) from sync.inbox where entity = 'offices'), '[2, 3]',
          'a recent done change and an open old one stay');
select is((select count(*)::int from sync.audit where kind = 'x'), 1, 'the recent audit row stays');

-- A repair that could not write what it re-read (the target refused it) leaves the problem: reported now.
insert into sync.runs (mode, status, started_at, ended_at, summary)
values ('verify', 'succeeded', now(), now(), '{"ok": false, "repaired": {"operations": {"quarantined": 1}}, "entities": {
          "operations": {"ok": false, "gaps": {"missing": 6, "orphaned": 0}, "counts": {"mapped": 10}, "integrity": {}}}}');
select sync.evaluate_alerts();
select is((select jsonb_agg(jsonb_build_array(kind, message) order by kind) from sync.alerts
            where resolved_at is null and kind in ('gaps', 'verification_failed')),
          '[["gaps", "verification found 6 gaps it did not repair"],
            ["verification_failed", "verification found problems it did not repair in operations"]]',
          'a failed repair does not count as repaired');

select * from finish();
rollback;
