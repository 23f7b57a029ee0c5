-- sync.get_run, sync.list_runs (filters, keyset cursor), sync.list_quarantine (images only when asked).
begin;
select plan(12);

delete from sync.runs where true;
insert into sync.runs (id, mode, status, created_at)
select g, 'incremental', case when g % 2 = 0 then 'succeeded' else 'failed' end, '2026-01-01'::timestamptz + g * interval '1 hour'
  from generate_series(1, 5) g;

select is(sync.get_run(3) ->> 'status', 'failed', 'get_run returns the run');
select ok(sync.get_run(3) ?& array['id', 'mode', 'status', 'trigger', 'caller', 'started_at', 'ended_at', 'progress',
                                   'counts', 'timings', 'error'], 'the run has the API fields');
select throws_ok('select sync.get_run(999)', 'SY404', 'run 999 does not exist', 'an unknown run is SY404');

select is(jsonb_path_query_array(sync.list_runs("limit" => 2), '$.items[*].id'), '[5, 4]', 'newest first, limited');
select is(sync.list_runs("limit" => 2) -> 'next_cursor', '4', 'next_cursor is the last id of a full page');
select is(jsonb_path_query_array(sync.list_runs("limit" => 2, cursor => 4), '$.items[*].id'), '[3, 2]', 'the cursor pages on');
select is(sync.list_runs("limit" => 10) -> 'next_cursor', 'null', 'no cursor after the last page');
select is(jsonb_path_query_array(sync.list_runs(status => 'succeeded'), '$.items[*].id'), '[4, 2]', 'status filter');
select is(jsonb_path_query_array(sync.list_runs("from" => '2026-01-01 02:00', "to" => '2026-01-01 04:00'), '$.items[*].id'),
          '[3, 2]', 'from inclusive, to exclusive');
select throws_ok('select sync.list_runs("limit" => 0)', 'SY400', 'limit must be between 1 and 500', 'a bad limit is SY400');

insert into sync.inbox (id, entity, legacy_id, op, image, source_version, captured_at, status)
values (900001, 'offices', 77, 'upsert', '{"id": 77, "name": "Secret Office"}', 1, now(), 'quarantined');
insert into sync.quarantine (entity, legacy_id, inbox_id, reason, message) values ('offices', 77, 900001, 'apply_error', 'x');
select is(sync.list_quarantine() #>> '{items,0,image}', null, 'no row image unless asked');
select is(sync.list_quarantine(images => true) #>> '{items,0,image,name}', 'Secret Office', 'the row image when asked');

select * from finish();
rollback;
