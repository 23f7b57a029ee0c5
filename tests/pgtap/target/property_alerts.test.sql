-- Properties 27 and 44 of tests/PROPERTIES.md: sync.evaluate_alerts warns of a run much slower than
-- the 7-day median of runs that moved rows, naming the phase furthest above its own median, and
-- resolves it when a run is back to normal (engine.md §9: "a run 50 % slower than its 7-day
-- median": the default slow_run_factor, 0.5); and the gaps threshold is the configured one, not a constant.
begin;
select plan(9);

delete from sync.runs where true;
select is(sync.get_config() #> '{alerts,thresholds,slow_run_factor}', '0.5'::jsonb, 'a run is slow from 50 % over the median');

-- Ten ordinary runs over the last days: 1 s each, 0.2 s pulling and 0.8 s applying.
insert into sync.runs (id, mode, status, started_at, ended_at, timings, summary)
select g, 'incremental', 'succeeded', now() - g * interval '6 hours', now() - g * interval '6 hours' + interval '1 second',
       '{"pull_ms": 200, "apply_ms": 800, "verify_ms": 0, "total_ms": 1000}', '{"rows": 5}'
  from generate_series(1, 10) g;

-- 1.4 times the median: not slow.
insert into sync.runs (id, mode, status, started_at, ended_at, timings, summary)
values (11, 'incremental', 'succeeded', now() - interval '2 minutes', now() - interval '2 minutes' + interval '1.4 seconds',
        '{"pull_ms": 280, "apply_ms": 1120, "verify_ms": 0, "total_ms": 1400}', '{"rows": 5}');
select is(sync.evaluate_alerts() -> 'slow_run', null::jsonb, 'a run 1.4 times the median is not slow');

-- 1.6 times the median, the apply phase furthest above its median (1.625×; pull 1.5×).
insert into sync.runs (id, mode, status, started_at, ended_at, timings, summary)
values (12, 'incremental', 'succeeded', now() - interval '1 minute', now() - interval '1 minute' + interval '1.6 seconds',
        '{"pull_ms": 300, "apply_ms": 1300, "verify_ms": 0, "total_ms": 1600}', '{"rows": 5}');
select is(sync.evaluate_alerts() -> 'slow_run', '"firing"', 'a run more than 1.5 times the median fires slow_run');
select results_eq(
    $$ select severity, message, details from sync.alerts where kind = 'slow_run' and resolved_at is null $$,
    $$ values ('warning'::text, 'run 12 took 1600 ms, 1.6× the 7-day median of 1000 ms; slowest against its median: apply_ms'::text,
               '{"run_id": 12, "phase": "apply_ms"}'::jsonb) $$,
    'a warning naming the run, its time, the median and the phase to blame'
);

-- Runs that moved no rows do not count; a normal run that moved rows resolves it.
insert into sync.runs (id, mode, status, started_at, ended_at, timings, summary)
values (13, 'incremental', 'succeeded', now(), now(), '{"pull_ms": 10, "apply_ms": 0, "verify_ms": 0, "total_ms": 10}', '{"rows": 0}');
select is(sync.evaluate_alerts() -> 'slow_run', '"firing"', 'an idle run neither resolves nor skews it');
insert into sync.runs (id, mode, status, started_at, ended_at, timings, summary)
values (14, 'incremental', 'succeeded', now(), now(), '{"pull_ms": 200, "apply_ms": 800, "verify_ms": 0, "total_ms": 1000}', '{"rows": 5}');
select is(sync.evaluate_alerts() -> 'slow_run', '"resolved"', 'a normal run resolves it');

-- The gaps threshold is the configured one: 7 unrepaired gaps, thresholds 10 and then 6.
insert into sync.runs (id, mode, status, started_at, ended_at, summary)
values (15, 'verify', 'succeeded', now(), now(), '{"ok": false, "repaired": {}, "entities": {
          "offices": {"ok": false, "gaps": {"missing": 4, "orphaned": 3}}}}');
select sync.set_config('{"alerts": {"thresholds": {"gaps": 10}}}');
select is(sync.evaluate_alerts() ? 'gaps', false, '7 gaps under a threshold of 10 do not fire');
select sync.set_config('{"alerts": {"thresholds": {"gaps": 6}}}');
select is(sync.evaluate_alerts() -> 'gaps', '"firing"', '7 gaps over a threshold of 6 fire');
select is((select message from sync.alerts where kind = 'gaps' and resolved_at is null),
          'verification found 7 gaps it did not repair', 'with the count');

select * from finish();
rollback;
