-- Properties 13, 15, 18, 21, 22 of tests/PROPERTIES.md: what sync.health() tells an operator over
-- fixed run records (the last run, the last successful run, the next scheduled run from the pg_cron
-- job, open alerts with their time and severity, runs per hour), and the backfill's progress figures
-- (done, total, rate, ETA) that GET /sync/runs/:id shows. pg_cron does not live in a test clone: a
-- table shaped like pg_cron's cron.job stands in for it.
begin;
select plan(9);

delete from sync.runs where true;
-- Four incremental runs in two whole hours before this one, and one still running: per hour one
-- succeeded and one failed. Times are fixed against the hour, so the buckets do not move.
create temp table h (at timestamptz);
insert into h values (date_trunc('hour', now()) - interval '2 hours');
insert into sync.runs (id, mode, status, trigger, started_at, ended_at, summary) values
    (101, 'incremental', 'succeeded', 'schedule', (select at from h) + interval '10 minutes',
     (select at from h) + interval '10 minutes 2 seconds', '{"rows": 10, "lag_ms": {"p50": 200, "p99": 900}}'),
    (102, 'incremental', 'failed', 'schedule', (select at from h) + interval '20 minutes',
     (select at from h) + interval '20 minutes 1 second', '{"rows": 0}'),
    (103, 'incremental', 'succeeded', 'manual', (select at from h) + interval '65 minutes',
     (select at from h) + interval '65 minutes 3 seconds', '{"rows": 5, "lag_ms": {"p50": 300, "p99": 1500}}'),
    (104, 'incremental', 'failed', 'schedule', (select at from h) + interval '90 minutes',
     (select at from h) + interval '90 minutes 1 second', '{"rows": 0}'),
    (105, 'backfill', 'running', 'manual', (select at from h) + interval '95 minutes', null, null);

select results_eq(
    $$ select (sync.health() #>> '{last_run,id}')::bigint, sync.health() #>> '{last_run,status}',
              (sync.health() #>> '{last_success,id}')::bigint, (sync.health() #>> '{last_success,ended_at}')::timestamptz $$,
    $$ values (104::bigint, 'failed'::text, 103::bigint, (select at from h) + interval '65 minutes 3 seconds') $$,
    'health names the last run and, apart from it, the last successful run and when it ended'
);
select results_eq(
    $$ select (t ->> 'hour')::timestamptz, (t ->> 'runs')::int, (t ->> 'failed')::int, (t ->> 'rows')::int, (t ->> 'lag_p99_ms')::int
         from jsonb_array_elements(sync.health() -> 'trend') t $$,
    $$ values ((select at from h), 2, 1, 10, 900), ((select at from h) + interval '1 hour', 2, 1, 5, 1500) $$,
    'the trend: per hour of the last 24, runs, failed runs, rows and the worst lag'
);

-- The next scheduled run: the tick's pg_cron job, where pg_cron lives.
select is(sync.health() -> 'next_run', 'null'::jsonb, 'without pg_cron there is no next run to name');
create schema cron;
create table cron.job (jobid bigserial primary key, schedule text not null, command text not null, jobname text,
                       active boolean not null default true);
insert into cron.job (schedule, command, jobname) values
    ('17 * * * *', 'select sync.prune();', 'legacy-sync-cleanup'),
    ('* * * * *', 'select net.http_post(...)', 'legacy-sync-tick');
select is(sync.health() -> 'next_run', '{"job": "legacy-sync-tick", "schedule": "* * * * *", "active": true}'::jsonb,
          'with the tick job scheduled, health names it with its schedule');

-- Open alerts: each with its severity and when it was last seen; acknowledged and resolved ones are not listed.
select sync._alert('lag', 'warning', 'lag', 'lag p99 90 s (threshold 60 s)');
select sync._alert('source_changed', 'critical', 'source_changed', 'the source database changed identity');
select sync._alert('recovery', 'info', 'recovery:x', 'recovered: x');
update sync.alerts set last_seen_at = now() - interval '5 minutes', created_at = now() - interval '5 minutes' where kind = 'lag';
update sync.alerts set acknowledged_at = now(), acknowledged_by = 'ops' where kind = 'recovery';
select results_eq(
    $$ select a ->> 'kind', a ->> 'severity', a ->> 'message', (a ->> 'last_seen_at')::timestamptz
         from jsonb_array_elements(sync.health() -> 'alerts') a $$,
    $$ values ('source_changed'::text, 'critical'::text, 'the source database changed identity'::text, now()),
              ('lag', 'warning', 'lag p99 90 s (threshold 60 s)', now() - interval '5 minutes') $$,
    'open alerts, newest first, each with its severity and the time it was last seen'
);

-- Backfill progress: done and total over the entities, the rate since the start and the ETA.
select is(sync._backfill_progress('{"offices": {"done": 200, "total": 1000}, "profiles": {"done": 300, "total": 1000}}',
                                  clock_timestamp() - interval '10 seconds') - 'entities',
          '{"done": 500, "total": 2000, "rate": 50.0, "eta_seconds": 30}'::jsonb,
          'backfill progress: 500 of 2000 rows in 10 s is 50 rows/s, 30 s to go');
select is(sync._backfill_progress('{"offices": {"done": 0, "total": 1000}}', clock_timestamp() - interval '10 seconds') - 'entities',
          '{"done": 0, "total": 1000, "rate": 0, "eta_seconds": null}'::jsonb,
          'before the first chunk: no rate, no ETA guessed');
update sync.runs set progress = sync._backfill_progress('{"offices": {"done": 200, "total": 1000}}', started_at) where id = 105;
select is(sync.get_run(105) #> '{progress,done}', '200'::jsonb, 'the run shows its progress');
select is(sync.backfill_status() -> 'progress', (select progress from sync.runs where id = 105),
          'and so does the backfill status of health and the dashboard');

select * from finish();
rollback;
