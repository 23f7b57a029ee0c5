-- sync.get_config / sync.set_config: defaults, merge patch, validation naming the key, audit.
-- A refused patch writes nothing, not even a write that its error rolls back afterwards:
-- throws_ok's savepoint would undo an audit row written before the refusal, so counting
-- sync.config_audit afterwards proves nothing. Instead, an after-statement trigger on sync.config
-- and sync.config_audit draws from a sequence, which no rollback undoes: every write statement
-- that completed shows, whatever error came after it (a CHECK constraint that refuses the write
-- itself aborts the statement first, so it does not count).
begin;
select plan(20);

create sequence test.config_writes;
create function test.count_config_write() returns trigger language plpgsql as $$
begin
    perform nextval('test.config_writes');
    return null;
end;
$$;
create trigger count_writes after insert or update or delete on sync.config
    for each statement execute function test.count_config_write();
create trigger count_writes after insert or update or delete on sync.config_audit
    for each statement execute function test.count_config_write();

select is(sync.get_config() - 'entities' - 'alerts',
          '{"batch_size": 5000, "backfill_batch_size": 20000, "tick_budget_seconds": 50, "schedule_interval": "1 minute", "transport": "fdw",
            "capture": "trigger", "polling": {"overlap_seconds": 300, "reconcile_minutes": 10}, "auto_repair": true, "auto_rebuild_mappings": false, "verify_after_run": true, "retry": {"attempts": 5, "backoff_ms": 200, "max_backoff_ms": 30000},
            "retention": {"inbox_days": 7, "runs_days": 90, "audit_days": 90, "conflicts_days": 90, "alerts_days": 90, "logs_days": 2}, "quarantine_retry_minutes": [5, 15, 60, 240], "manual_runs_per_minute": 6,
            "source_load": {"max_rows_per_second": null, "pause_ms": 0}}'::jsonb,
          'defaults as api.md lists them');
select is(sync.get_config() -> 'entities' -> 'patients',
          '{"enabled": true, "conflict_strategy": "source_wins", "tie": "source"}'::jsonb,
          'every registered entity has its defaults');

select throws_ok($$ select sync.set_config('{"batch_sise": 10}') $$, 'SY400', 'unknown configuration key "batch_sise"',
                 'an unknown key is refused, named');
select throws_ok($$ select sync.set_config('{"batch_size": 0}') $$, 'SY400', 'batch_size must be an integer from 1 to 100000, got 0',
                 'a bad value is refused, named');
select throws_ok($$ select sync.set_config('{"batch_size": "big"}') $$, 'SY400', 'batch_size must be an integer from 1 to 100000, got "big"',
                 'a value of the wrong type is refused');
select throws_ok($$ select sync.set_config('{"entities": {"widgets": {"enabled": false}}}') $$, 'SY400',
                 'unknown entity "widgets" in entities', 'an unknown entity is refused');
select throws_ok($$ select sync.set_config('{"entities": {"patients": {"conflict_strategy": "newest"}}}') $$, 'SY400',
                 'entities.patients.conflict_strategy must be source_wins, target_wins, merge, newest_wins or manual, got "newest"',
                 'an unknown strategy is refused');
select throws_ok($$ select sync.set_config('{"entities": {"profiles": {"conflict_strategy": "newest_wins"}}}') $$, 'SY400',
                 'entities.profiles.conflict_strategy newest_wins needs a timestamp on both sides (the legacy row''s updated_at and the target''s); profiles has none: use source_wins, target_wins, merge or manual',
                 'newest_wins is refused for an entity without timestamps on both sides');
select throws_ok($$ select sync.set_config('{"schedule_interval": "7 minutes"}') $$, 'SY400',
                 'a schedule in minutes must divide an hour (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60), got 7',
                 'schedule_interval is refused by the scheduler''s own rule');
select throws_ok($$ select sync.set_config('{"retry": {"backoff_ms": 50000}}') $$, 'SY400',
                 'retry.max_backoff_ms must not be below retry.backoff_ms', 'cross-field rules hold');
select throws_ok($$ select sync.set_config('{"alerts": {"destinations": {"webhook_url": "ftp://x"}}}') $$, 'SY400',
                 'alerts.destinations.webhook_url is not a valid http(s) URL: "ftp://x"', 'destinations are validated');
select throws_ok($$ select sync.set_config('{"source_load": {"max_rows_per_second": 0}}') $$, 'SY400',
                 'source_load.max_rows_per_second must be null (unlimited) or a number >= 1, got 0', 'source_load is validated');
select throws_ok($$ select sync.set_config('{"source_load": {"pause": 10}}') $$, 'SY400',
                 'unknown configuration key "source_load.pause"', 'source_load takes its two keys only');
select is(pg_sequence_last_value('test.config_writes'), null, 'refused patches write nothing, not even a write rolled back later');
select results_eq($$ select settings, (select count(*)::integer from sync.config_audit) from sync.config $$,
                  $$ values ('{}'::jsonb, 0) $$, 'refused patches change nothing and audit nothing');

select is(sync.set_config('{"batch_size": 200, "entities": {"patients": {"conflict_strategy": "merge"}}}', 'ops@example.com')
              -> 'entities' -> 'patients' ->> 'conflict_strategy', 'merge', 'a valid patch applies');
select is((sync.get_config() ->> 'batch_size')::integer, 200, 'and is read back');
select is(pg_sequence_last_value('test.config_writes'), 2::bigint, 'a valid patch writes twice: the configuration and its audit');
select is(sync.set_config('{"batch_size": null}') ->> 'batch_size', '5000', 'null in a merge patch restores the default');
select results_eq($$ select changed_by, patch from sync.config_audit order by id $$,
                  $$ values ('ops@example.com'::text, '{"batch_size": 200, "entities": {"patients": {"conflict_strategy": "merge"}}}'::jsonb),
                            (session_user::text collate "default", '{"batch_size": null}'::jsonb) $$,
                  'every change is audited with who made it');

select * from finish();
rollback;
