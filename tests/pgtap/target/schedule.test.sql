-- sync.schedule's interval rules (pg_cron 1.4 takes minutes, 1.5+ seconds too) and its refusal
-- where pg_cron does not live (a test clone is not cron.database_name).
begin;
select plan(11);

select is(sync._cron_schedule('1 minute', '1.4-1'), '* * * * *', 'one minute');
select is(sync._cron_schedule('5 minutes', '1.4-1'), '*/5 * * * *', 'every five minutes');
select is(sync._cron_schedule('60 minutes', '1.4-1'), '0 * * * *', 'hourly');
select is(sync._cron_schedule('10 seconds', '1.6.4'), '10 seconds', 'seconds on pg_cron 1.5+');
select throws_ok($$ select sync._cron_schedule('10 seconds', '1.4-1') $$, 'SY400',
    'pg_cron 1.4-1 takes minutes only (seconds need pg_cron 1.5+, as on hosted Supabase): use ''1 minute''',
    'seconds refused on pg_cron 1.4');
select throws_ok($$ select sync._cron_schedule('7 minutes', '1.6') $$, 'SY400',
    'a schedule in minutes must divide an hour (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60), got 7', 'minutes that do not divide an hour');
select throws_ok($$ select sync._cron_schedule('soon', '1.6') $$, 'SY400',
    'the schedule must look like ''10 seconds'' or ''1 minute'', got ''soon''', 'not an interval');
select throws_ok($$ select sync.schedule('1 minute') $$, 'SY409',
    format('pg_cron is not installed in this database (%s): run the statements of this error''s detail in the database where pg_cron lives',
           current_database()), 'no pg_cron here: refused, named');
create function pg_temp.detail_of(p_sql text) returns text language plpgsql as $f$
declare v text;
begin
    execute p_sql;
    return null;
exception when others then
    get stacked diagnostics v = pg_exception_detail;
    return v;
end;
$f$;
select is((select array_agg(substring(l from '^select cron\.schedule_in_database\(''([a-z-]+)'', ''([^'']+)''') order by l)
             from regexp_split_to_table(pg_temp.detail_of($$select sync.schedule('10 seconds')$$), e'\n') l
            where l like 'select cron.schedule_in_database(%'),
          array['legacy-sync-alerts', 'legacy-sync-cleanup', 'legacy-sync-daily', 'legacy-sync-tick'],
          'the detail gives the four jobs to create with cron.schedule_in_database where pg_cron lives');
select ok(pg_temp.detail_of($$select sync.schedule('10 seconds')$$) like
              format('%%select cron.schedule_in_database(''legacy-sync-tick'', ''10 seconds'', %%, %L);%%', current_database()),
          'the tick every 10 seconds, running in this database');
select is(sync.unschedule() -> 'removed', '[]'::jsonb, 'unschedule without pg_cron removes nothing');

select * from finish();
rollback;
