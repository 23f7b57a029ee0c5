-- Properties 8, 25, 26 of tests/PROPERTIES.md: a run's error is categorised by its SQLSTATE
-- (network, source, validation, database; interrupted), carries phase, SQLSTATE and message but
-- never the DETAIL (a constraint's DETAIL echoes the row), and the metrics count failed runs per
-- category.
begin;
select plan(4);

select results_eq(
    $$ select s, sync._run_error('pull', s, 'm', d) ->> 'category'
         from (values ('08006', null), ('08001', 'could not connect: Connection refused'), ('HV00N', null), ('57P01', null),
                      ('08001', 'FATAL:  password authentication failed for user "sync_reader"'), ('28P01', null),
                      ('42501', null), ('SY409', null),
                      ('23514', null), ('22P02', null), ('SY400', null),
                      ('57014', null),
                      ('40001', null), ('55000', null), ('XX000', null)) v (s, d) $$,
    $$ values ('08006'::text, 'network'::text), ('08001', 'network'), ('HV00N', 'network'), ('57P01', 'network'),
              ('08001', 'source'), ('28P01', 'source'), ('42501', 'source'), ('SY409', 'source'),
              ('23514', 'validation'), ('22P02', 'validation'), ('SY400', 'validation'),
              ('57014', 'interrupted'),
              ('40001', 'database'), ('55000', 'database'), ('XX000', 'database') $$,
    'errors are categorised: a lost connection is network, a refused login or privilege is source, bad data is validation'
);
select is(sync._run_error('apply', '23514', 'new row for relation "patients" violates check constraint "c"',
                          'Failing row contains (Allergic to penicillin).'),
          '{"phase": "apply", "sqlstate": "23514", "category": "validation",
            "message": "new row for relation \"patients\" violates check constraint \"c\""}'::jsonb,
          'a run error names phase, SQLSTATE, category and message, and leaves the DETAIL (the row''s values) out');

delete from sync.runs where true;
insert into sync.runs (mode, status, started_at, ended_at, error)
select 'incremental', 'failed', now(), now(), sync._run_error('pull', s, 'm')
  from unnest(array['08006', 'HV00N', '28P01', '23514', '40001', '40001', '40001']) s;
insert into sync.runs (mode, status, started_at, ended_at) values ('incremental', 'succeeded', now(), now());
select is(array(select l from regexp_split_to_table(sync.metrics(), e'\n') l where l like 'sync_run_errors_total{%' order by l),
          array['sync_run_errors_total{category="conflict"} 0', 'sync_run_errors_total{category="database"} 3',
                'sync_run_errors_total{category="network"} 2', 'sync_run_errors_total{category="source"} 1',
                'sync_run_errors_total{category="validation"} 1'],
          'the metrics count failed runs per error category');
select is(array(select l from regexp_split_to_table(sync.metrics(), e'\n') l where l like 'sync_runs_total{%' order by l),
          array['sync_runs_total{mode="incremental",status="failed"} 7', 'sync_runs_total{mode="incremental",status="succeeded"} 1'],
          'and runs per mode and status');

select * from finish();
rollback;
