-- The pull through postgres_fdw by source snapshots, against a real legacy clone with capture
-- installed. Runs without an enclosing transaction (each statement commits) because every tick
-- must see a new remote snapshot; dblink gives the concurrent source sessions (the application's
-- role, legacy_app_conninfo); the engine reads the source as the reader (legacy_conninfo).
select plan(12);

select is(sync.connect_source(:'legacy_conninfo') ->> 'connected', 'true', 'connect_source reaches the legacy clone as the reader');
select results_eq($$ select tbl, enabled from sync_src_capture.tables order by 1 $$,
                  $$ select source_table, true from sync.entities order by 1 $$,
                  'capture is enabled on exactly the registered tables');
call sync.tick();

select dblink_connect('early', :'legacy_app_conninfo');
select dblink_connect('late', :'legacy_app_conninfo');
select dblink_exec('early', 'begin');
select dblink_exec('early', $$update auth_user set first_name = 'Early' where id = 1$$);
select dblink_exec('late', $$update auth_user set first_name = 'Late' where id = 2$$);
call sync.tick();
select results_eq($$ select legacy_user_id, first_name from public.profiles where legacy_user_id in (1, 2) order by 1 $$,
                  $$ values (2::bigint, 'Late'::text) $$,
                  'a change committed by a transaction that started later is pulled first');
call sync.tick();
select is((select count(*)::integer from public.profiles where legacy_user_id = 1), 0,
          'a transaction still open across ticks is not pulled yet');
select dblink_exec('early', 'commit');
call sync.tick();
select results_eq($$ select legacy_user_id, first_name from public.profiles where legacy_user_id in (1, 2) order by 1 $$,
                  $$ values (1::bigint, 'Early'::text), (2, 'Late') $$,
                  'the change committed late by a transaction that took its id early is pulled, never skipped');

-- Net effect per row within one batch.
select dblink_exec('late', $$begin;
    insert into dispatch_office (id, name, phone, address, city, state, zip_code, is_active, created_at, updated_at)
    values (9001, 'First', '', '', '', '', '', true, '2024-01-01', '2024-01-01');
    update dispatch_office set name = 'Second' where id = 9001;
    update dispatch_office set name = 'Final' where id = 9001;
    insert into dispatch_office (id, name, phone, address, city, state, zip_code, is_active, created_at, updated_at)
    values (9002, 'Gone', '', '', '', '', '', true, '2024-01-01', '2024-01-01');
    delete from dispatch_office where id = 9002;
    commit$$);
select dblink_exec('late', $$update dispatch_office set name = 'One' where id = 1$$);
select dblink_exec('late', $$update dispatch_office set name = 'Two' where id = 1$$);
call sync.tick();
select results_eq($$ select legacy_id, op, image ->> 'name' from sync.inbox
                      where entity = 'offices' and batch_id = (select max(batch_id) from sync.inbox where entity = 'offices')
                      order by 1 $$,
                  $$ values (1::bigint, 'upsert'::text, 'Two'::text), (9001, 'upsert', 'Final'), (9002, 'delete', null) $$,
                  'each row appears once per batch with its image at the batch snapshot, or as a delete');
select results_eq($$ select legacy_office_id, name from public.offices where legacy_office_id in (1, 9001, 9002) order by 1 $$,
                  $$ values (1::bigint, 'Two'::text), (9001, 'Final') $$,
                  'the net effect is applied');

-- No-op updates are not logged; disabled tables are not captured.
select dblink_exec('late', $$update dispatch_office set name = name where id = 1$$);
select is((select count(*)::integer from sync_src_capture.log l where l.txid >= pg_snapshot_xmax((select cursor_snapshot from sync.source)::pg_snapshot)),
          0, 'an update that changes nothing is not logged');
select dblink_exec('late', $$update dispatch_auditlog set action = action || '!' where id = 1$$);
select dblink_exec('late', $$delete from django_session where session_key in (select session_key from django_session limit 1)$$);
select is((select count(*)::integer from sync_src_capture.log l where l.tbl not in (select source_table from sync.entities)), 0,
          'tables outside the registry are not captured');
update sync_src_capture.tables set enabled = false where tbl = 'public.dispatch_office';
select dblink_exec('late', $$update dispatch_office set name = 'Unseen' where id = 1$$);
select is((select count(*)::integer from sync_src_capture.log l where l.tbl = 'public.dispatch_office' and l.pk = 1
            and l.txid >= pg_snapshot_xmax((select cursor_snapshot from sync.source)::pg_snapshot)), 0,
          'disabling capture on a table is one call');
update sync_src_capture.tables set enabled = true where tbl = 'public.dispatch_office';

-- Pruning: consumed log rows are removed on the source after the target committed them.
call sync.tick();
call sync.tick();
select is((select count(*)::integer from sync_src_capture.log l
            where l.txid < pg_snapshot_xmin((select snapshot_from from sync.batches order by id desc limit 1)::pg_snapshot)), 0,
          'log rows the target has committed are pruned');
select is((select count(*)::integer from sync.runs where status <> 'succeeded'), 0, 'every tick succeeded');

select * from finish();
