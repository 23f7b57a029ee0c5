-- Health and metrics, first version (engine.md §9): what the API's GET /sync/health and
-- GET /sync/metrics return, read from the run records, the inbox, the source and the alerts.
-- Never a row value: alerts and run errors carry none.

-- The next scheduled tick, where pg_cron lives here: the job and its schedule (dynamic SQL, so
-- this compiles without pg_cron).
create function sync._next_tick()
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
    v jsonb;
begin
    execute format('select jsonb_build_object(''job'', jobname, ''schedule'', schedule, ''active'', active) from %I.job where jobname = $1',
                   'cron') into v using 'legacy-sync-tick';
    return v;
end;
$$;

-- Source schema drift's part of the health summary: {paused: [entities], open: [changes]} (the drift
-- migration, 20261128001600, fills it in).
create function sync._health_drift()
returns jsonb
language sql
stable
set search_path = ''
as $$
    select '{"paused": [], "open": []}'::jsonb;
$$;
revoke execute on function sync._health_drift() from public;

create function sync.health()
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
    with runs as (
        select r.* from sync.runs r where r.mode = 'incremental' and r.ended_at is not null
    ), last_run as (
        select r.id, r.status, r.trigger, r.started_at, r.ended_at, r.summary -> 'lag_ms' as lag_ms, r.error
          from sync.runs r where r.mode = 'incremental' order by r.id desc limit 1
    ), last_ok as (
        select r.id, r.ended_at, r.summary -> 'lag_ms' as lag_ms from runs r where r.status = 'succeeded' order by r.id desc limit 1
    ), queue as (
        select count(*) filter (where i.status = 'pending') as pending, count(*) filter (where i.status = 'parked') as parked,
               count(*) filter (where i.status = 'quarantined') as quarantined,
               count(*) filter (where i.status = 'conflict') as conflicts
          from sync.inbox i where i.status in ('pending', 'parked', 'quarantined', 'conflict')
    )
    select jsonb_build_object(
        'status', case
            when not exists (select 1 from sync.source) then 'not_connected'
            when (select l.status from last_run l) = 'failed'
                 and coalesce((select o.ended_at from last_ok o), '-infinity') < now() - interval '30 minutes' then 'failing'
            when (select s.open_until from sync.source s) > now() or (select l.status from last_run l) in ('failed', 'partial')
                 or (select q.quarantined + q.conflicts from queue q) > 0
                 or jsonb_array_length(sync._health_drift() -> 'paused') > 0 then 'degraded'
            else 'ok' end,
        'last_run', (select to_jsonb(l) from last_run l),
        'last_success', (select to_jsonb(o) - 'lag_ms' from last_ok o),
        'lag_ms', (select o.lag_ms from last_ok o),
        'next_run', case when to_regclass('cron.job') is not null then sync._next_tick() end,
        'success_rate', jsonb_build_object(
            'h24', (select round(avg((r.status = 'succeeded')::integer), 3) from runs r where r.ended_at > now() - interval '24 hours'),
            'd7', (select round(avg((r.status = 'succeeded')::integer), 3) from runs r where r.ended_at > now() - interval '7 days')),
        'queue', (select to_jsonb(q) from queue q),
        'throughput', (select (r.summary ->> 'throughput')::numeric from runs r where r.status = 'succeeded' order by r.id desc limit 1),
        -- The last verification: its gaps (both ways, not repaired) and whether it was clean.
        'verification', (select jsonb_build_object('run_id', v.id, 'at', v.ended_at, 'deep', (v.summary ->> 'deep')::boolean,
                                                   'ok', (v.summary ->> 'ok')::boolean,
                                                   'gaps', (select coalesce(sum(coalesce((e.value #>> '{gaps,missing}')::bigint, 0)
                                                                              + coalesce((e.value #>> '{gaps,orphaned}')::bigint, 0)), 0)
                                                              from jsonb_each(v.summary -> 'entities') e
                                                             where not (v.summary -> 'repaired') ? e.key))
                           from sync.runs v where v.mode = 'verify' and v.status = 'succeeded' order by v.id desc limit 1),
        'source', (select jsonb_build_object('connected', true, 'last_pull_at', s.last_pull_at, 'failures', s.failures,
                                             'circuit', case when s.open_until > now() then 'open' else 'closed' end,
                                             'open_until', s.open_until)
                     from sync.source s),
        'backfill', sync.backfill_status(),
        -- Source schema drift: the paused entities and the open changes that pause them.
        'source_drift', sync._health_drift(),
        'alerts', coalesce((select jsonb_agg(jsonb_build_object('id', a.id, 'kind', a.kind, 'severity', a.severity, 'message', a.message,
                                                                'occurrences', a.occurrences, 'last_seen_at', a.last_seen_at)
                                             order by a.last_seen_at desc)
                              from (select * from sync.alerts a where a.acknowledged_at is null and a.resolved_at is null order by a.last_seen_at desc limit 10) a), '[]'),
        'trend', coalesce((select jsonb_agg(t order by t.hour)
                             from (select date_trunc('hour', r.started_at) as hour, count(*) as runs,
                                          count(*) filter (where r.status = 'failed') as failed,
                                          coalesce(sum((r.summary ->> 'rows')::bigint), 0) as rows,
                                          max((r.summary #>> '{lag_ms,p99}')::numeric) as lag_p99_ms
                                     from runs r where r.started_at > now() - interval '24 hours' group by 1) t), '[]'));
$$;
comment on function sync.health() is
    'The health summary: status, last and last successful run, lag, next scheduled run, success rates 24 h and 7 d, queue depths, throughput, the last verification and its gaps, source and circuit breaker, backfill, open alerts, runs per hour. Read-only.';

-- The metrics in Prometheus' text format (GET /sync/metrics).
create function sync.metrics()
returns text
language sql
stable
security definer
set search_path = ''
as $$
    with last_ok as (
        select r.summary from sync.runs r where r.mode = 'incremental' and r.status = 'succeeded' order by r.id desc limit 1
    ), last_run as (
        select r.timings from sync.runs r where r.mode = 'incremental' and r.ended_at is not null order by r.id desc limit 1
    )
    select string_agg(line, e'\n' order by ord) || e'\n' from (
        select 1 as ord, '# HELP sync_lag_seconds Source commit to target apply, over the last successful run.' as line
        union all select 2, '# TYPE sync_lag_seconds gauge'
        union all select 3, format('sync_lag_seconds{quantile="0.5"} %s', coalesce((select trim_scale(round((l.summary #>> '{lag_ms,p50}')::numeric / 1000, 3)) from last_ok l), 0))
        union all select 4, format('sync_lag_seconds{quantile="0.99"} %s', coalesce((select trim_scale(round((l.summary #>> '{lag_ms,p99}')::numeric / 1000, 3)) from last_ok l), 0))
        union all select 10, '# HELP sync_inbox_changes Changes in the inbox by status.'
        union all select 11, '# TYPE sync_inbox_changes gauge'
        union all select 12 + o, format('sync_inbox_changes{status="%s"} %s', s, (select count(*) from sync.inbox i where i.status = s))
          from unnest(array['pending', 'parked', 'quarantined', 'conflict']) with ordinality x (s, o)
        union all select 20, '# HELP sync_runs_total Runs by mode and status.'
        union all select 21, '# TYPE sync_runs_total counter'
        union all select 22, format('sync_runs_total{mode="%s",status="%s"} %s', r.mode, r.status, r.n)
          from (select mode, status, count(*) as n from sync.runs group by 1, 2) r
        union all select 30, '# HELP sync_run_phase_seconds Duration of each phase of the last finished incremental run.'
        union all select 31, '# TYPE sync_run_phase_seconds gauge'
        union all select 32, format('sync_run_phase_seconds{phase="%s"} %s', replace(t.key, '_ms', ''), trim_scale(round(t.value::numeric / 1000, 3)))
          from last_run l, jsonb_each_text(l.timings) t
        union all select 40, '# HELP sync_source_failures Consecutive ticks whose pull failed; sync_circuit_open is 1 while ticks back off.'
        union all select 41, '# TYPE sync_source_failures gauge'
        union all select 42, format('sync_source_failures %s', coalesce((select s.failures from sync.source s), 0))
        union all select 43, '# HELP sync_circuit_open 1 while ticks back off from a failing source.'
        union all select 43.5, '# TYPE sync_circuit_open gauge'
        union all select 44, format('sync_circuit_open %s', coalesce((select (s.open_until > now())::integer from sync.source s), 0))
        union all select 45, '# HELP sync_throughput_rows_per_second Rows applied per second over the last successful run.'
        union all select 46, '# TYPE sync_throughput_rows_per_second gauge'
        union all select 47, format('sync_throughput_rows_per_second %s', coalesce((select (l.summary ->> 'throughput')::numeric from last_ok l), 0))
        union all select 60, '# HELP sync_run_errors_total Failed or partial runs by error category (network, source, validation, conflict, database).'
        union all select 61, '# TYPE sync_run_errors_total counter'
        union all select 62 + o, format('sync_run_errors_total{category="%s"} %s', c,
                                        (select count(*) from sync.runs r where r.error ->> 'category' = c))
          from unnest(array['network', 'source', 'validation', 'conflict', 'database']) with ordinality x (c, o)
        union all select 70, '# HELP sync_quarantine_open Quarantined changes not released, by reason.'
        union all select 71, '# TYPE sync_quarantine_open gauge'
        union all select 72, format('sync_quarantine_open{reason="%s"} %s', q.reason, q.n)
          from (select q.reason, count(*) as n from sync.quarantine q where q.released_at is null group by 1) q
        union all select 80, '# HELP sync_conflicts_open Conflicts waiting for a decision.'
        union all select 81, '# TYPE sync_conflicts_open gauge'
        union all select 82, format('sync_conflicts_open %s', (select count(*) from sync.conflicts c where c.status = 'open'))
        union all select 50, '# HELP sync_alerts_open Open alerts by severity.'
        union all select 51, '# TYPE sync_alerts_open gauge'
        union all select 52 + o, format('sync_alerts_open{severity="%s"} %s', s,
                                        (select count(*) from sync.alerts a where a.acknowledged_at is null and a.resolved_at is null and a.severity = s))
          from unnest(array['critical', 'warning', 'info']) with ordinality x (s, o)
    ) m;
$$;
comment on function sync.metrics() is 'The metrics in Prometheus text format: lag, throughput, inbox depth by status, runs by mode and status, errors by category, phase durations, source failures and circuit, open quarantine, conflicts and alerts. Read-only.';

revoke execute on function sync.health(), sync._next_tick(), sync.metrics() from public;
