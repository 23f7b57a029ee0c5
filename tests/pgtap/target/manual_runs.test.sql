-- sync.start_run: a second incremental trigger while the first is queued answers already_running with it;
-- a dry run reports what an apply would do and leaves the inbox, the id map and the target untouched;
-- the per-caller rate limit (SY429 with retry_after); bad input (SY400) and unbuilt modes (SY501).
begin;
select plan(17);

select sync.set_config('{"transport": "http", "manual_runs_per_minute": 3}');

select is(sync.start_run('incremental', caller => 'ann') -> 'status', '"accepted"', 'the first trigger is accepted');
select is(sync.start_run('incremental', caller => 'bob') -> 'run' -> 'id',
          (select to_jsonb(max(id)) from sync.runs where mode = 'incremental' and status = 'queued'),
          'a second trigger while the first is queued names the queued run');
select is(sync.start_run('incremental', caller => 'bob') ->> 'status', 'already_running', 'and says already_running');

insert into sync.inbox (entity, legacy_id, op, image, source_version, captured_at)
values ('offices', 41, 'upsert', '{"id": 41, "name": "North", "phone": "", "address": "1 Main", "city": "Humble", "state": "TX",
        "zip_code": "", "is_active": true, "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}', 1, now()),
       ('offices', 42, 'delete', null, 1, now());
select is(jsonb_path_query_array(sync.start_run('dry_run', caller => 'ann'), '$.run.result.samples.offices[*].change'),
          '["insert", "unchanged"]', 'a dry run samples each change with what it would do (a delete of a row never synced: nothing)');
select is(sync.get_run((select max(id) from sync.runs where mode = 'dry_run')) -> 'counts',
          '{"offices": {"inserted": 1}}', 'and counts what the apply would do');
select is((select jsonb_agg(jsonb_build_object('id', i.legacy_id, 'status', i.status) order by i.legacy_id) from sync.inbox i),
          '[{"id": 41, "status": "pending"}, {"id": 42, "status": "pending"}]', 'the inbox is untouched');
select is((select count(*) from public.offices) + (select count(*) from sync.id_map), 0::bigint, 'nothing was written');

-- An update: the columns it would change, per row and counted per entity.
delete from sync.inbox;
select test.change('offices', 43, '{"id": 43, "name": "South", "phone": "1", "address": "2 Main", "city": "Humble", "state": "TX",
        "zip_code": "", "is_active": true, "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}', '2026-01-01', 1);
select test.apply('offices');
select test.change('offices', 43, '{"id": 43, "name": "South Side", "phone": "2", "address": "2 Main", "city": "Humble", "state": "TX",
        "zip_code": "", "is_active": true, "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}', '2026-01-01', 2);
select is((sync.start_run('dry_run', caller => 'dee') #> '{run,result}') - 'changes' - 'pulled',
          jsonb_build_object('all', false, 'complete', true, 'counts', '{"offices": {"updated": 1}}'::jsonb, 'quarantined', '{}'::jsonb,
                             'columns', '{"offices": {"name": 1, "phone": 1}}'::jsonb,
                             'samples', jsonb_build_object('offices', jsonb_build_array(jsonb_build_object(
                                 'legacy_id', 43, 'change', 'update', 'columns', '["name", "phone"]'::jsonb,
                                 'target', (select sync._target_image('offices', id) || '{"name": "South Side", "phone": "2"}'
                                              from public.offices where legacy_office_id = 43))))),
          'an update names the columns it would change');
select is((select name from public.offices where legacy_office_id = 43), 'South', 'and changes nothing');
delete from sync.inbox;

-- A change that would be quarantined (with its reason) and one that would park.
select test.change('operations', 9, '{"order_id": null, "transaction_type": 1, "price": "12,50", "card_brand": "VISA",
        "card_last4": "1111", "is_office_card": false, "created_at": "2026-01-01T00:00:00Z"}');
select test.change('patients', 7, '{"office_id": 999, "user_id": null, "doctor_id": null, "patient_number": "P7", "first_name": "A",
        "last_name": "B", "birthdate": null, "email": "", "status_id": 1, "medical_notes": null,
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}');
select is((sync.start_run('dry_run', caller => 'eve') #> '{run,result}') - 'changes' - 'pulled' - 'samples' - 'columns',
          '{"all": false, "complete": true, "counts": {"patients": {"parked": 1}, "operations": {"quarantined": 1}},
            "quarantined": {"operations": {"invalid_amount": 1}}}',
          'quarantines are counted by reason, parked changes by entity');
delete from sync.inbox;

select lives_ok($$select sync.start_run('dry_run', caller => 'ann')$$, 'a third run in a minute is allowed');
select throws_ok($$select sync.start_run('dry_run', caller => 'ann')$$, 'SY429', null, 'the fourth run in a minute is refused');
select lives_ok($$select sync.start_run('dry_run', caller => 'cy')$$, 'another caller has a budget of its own');
select throws_ok($$select sync.start_run('sideways')$$, 'SY400',
                 'mode must be incremental, backfill, verify, repair or dry_run, got sideways', 'an unknown mode');
select throws_ok($$select sync.start_run('backfill', legacy_ids => '{"offices": [1]}')$$, 'SY400',
                 'legacy_ids, since and until belong to repair runs, not to backfill', 'repair-only arguments');
select throws_ok($$select sync.start_run('repair', caller => 'dee')$$, 'SY400',
                 'a repair takes legacy_ids ({entity: [ids]}) or a since/until window, one of them', 'a repair needs its rows');
select throws_like($$select sync.start_run('repair', since => '2026-03-01', "until" => '2026-01-01', caller => 'dee')$$,
                   'since (2026-03-01 % must be before until (2026-01-01 %', 'a window ends after it starts');

select * from finish();
rollback;
