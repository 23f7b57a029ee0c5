-- The logical pull's rules (sync._pull_logical), with the decoded stream stood in: the legacy clone is
-- connected for real (its rows are read through postgres_fdw), but the slot's objects are local tables
-- here, so that the stream, the transaction ids and the snapshot are exactly the ones each test names.
-- The real slot, wal2json and the confirmation are exercised end to end by tests/deno/logical_test.ts.
begin;
select plan(25);

select is(sync.connect_source(:'legacy_conninfo') ->> 'connected', 'true', 'connect_source reaches the legacy clone');
select sync.set_config('{"capture": "logical"}');
update sync.source set capture_mode = 'logical';

-- The stand-ins: the snapshot S (xmin 1000, xmax 1005, 1003 in progress), the control row, the stream.
drop foreign table sync_src_capture.current_snapshot;
create table sync_src_capture.current_snapshot (snap text, identity jsonb);
insert into sync_src_capture.current_snapshot select '1000:1005:1003', s.identity from sync.source s;
create table sync_src_capture.logical (slot name, upto_nchanges integer, confirmed_lsn pg_lsn, confirmed_at timestamptz);
insert into sync_src_capture.logical (slot, upto_nchanges) values ('sync_test', 10);
create table sync_src_capture.logical_status as
select 'sync_test'::text as slot, 'logical'::text as wal_level, 'sync_reader'::text as reader, true as can_replicate,
       true as slot_exists, 'wal2json'::text as plugin, 'reserved'::text as wal_status, false as active,
       null::pg_lsn as confirmed_flush_lsn, null::pg_lsn as restart_lsn, 0::bigint as retained_bytes,
       null::bigint as safe_wal_size, null::pg_lsn as confirmed_lsn, null::timestamptz as confirmed_at;
create table sync_src_capture.logical_changes (commit_lsn pg_lsn, end_lsn pg_lsn, xid bigint, committed_at timestamptz, pos bigint,
                                               tbl text, pk bigint, op text);
-- A: 1001 inserts user 1, updates user 2. B: 1002 deletes 999999 (no row), updates user 1. C: 1003 (in
-- progress in S) updates user 3. D: 1004 updates user 4.
insert into sync_src_capture.logical_changes values
    ('0/100', '0/110', 1001, '2026-01-01 10:00', 0, null, null, 'C'),
    ('0/100', '0/110', 1001, '2026-01-01 10:00', 1, 'public.auth_user', 1, 'I'),
    ('0/100', '0/110', 1001, '2026-01-01 10:00', 2, 'public.auth_user', 2, 'U'),
    ('0/200', '0/210', 1002, '2026-01-01 10:01', 0, null, null, 'C'),
    ('0/200', '0/210', 1002, '2026-01-01 10:01', 1, 'public.auth_user', 999999, 'D'),
    ('0/200', '0/210', 1002, '2026-01-01 10:01', 2, 'public.auth_user', 1, 'U'),
    ('0/300', '0/310', 1003, '2026-01-01 10:02', 0, null, null, 'C'),
    ('0/300', '0/310', 1003, '2026-01-01 10:02', 1, 'public.auth_user', 3, 'U'),
    ('0/400', '0/410', 1004, '2026-01-01 10:03', 0, null, null, 'C'),
    ('0/400', '0/410', 1004, '2026-01-01 10:03', 1, 'public.auth_user', 4, 'U');

-- The 32-bit xids wal2json reports, widened against the snapshot's xmax.
select is(sync._xid8_near(1001, '1005'), '1001'::xid8, 'an xid below xmax keeps its value');
select is(sync._xid8_near(4294967295, '4294967300'), '4294967295'::xid8, 'an xid just before the wraparound is in the previous epoch');
select is(sync._xid8_near(2, '4294967295'), '4294967298'::xid8, 'an xid after xmax stays after it (next epoch)');

create temporary table pulls (n serial, r jsonb);
insert into pulls (r) select sync._pull_logical(null, 100);
select is((select (r ->> 'changes')::integer from pulls where n = 1), 4,
          'the first pull takes the transactions visible in S before the first one that is not (A and B: 4 changes)');
select results_eq($$ select legacy_id, op, captured_at from sync.inbox where batch_id = (select (r ->> 'batch_id')::bigint from pulls where n = 1)
                     order by legacy_id $$,
                  $$ values (1::bigint, 'upsert'::text, '2026-01-01 10:01'::timestamptz), (2, 'upsert', '2026-01-01 10:00'),
                            (999999, 'delete', '2026-01-01 10:01') $$,
                  'net effect per row: one inbox row per key, a key without a row is a delete');
select is((select logical_lsn::text from sync.source), '0/210', 'the cursor moves to the end of the last commit taken');
select is((select confirmed_lsn from sync_src_capture.logical), null, 'nothing was committed before: nothing confirmed');
select is((select upto_nchanges from sync_src_capture.logical), 302, 'the peek is bounded by 3 * batch_size + 2 decoded rows');
select is((select (r ->> 'more')::boolean from pulls where n = 1), true, 'decoded transactions remain: more');

insert into pulls (r) select sync._pull_logical(null, 100);
select is((select confirmed_lsn::text from sync_src_capture.logical), '0/210',
          'the next pull confirms the committed cursor first');
select is((select (r ->> 'changes')::integer from pulls where n = 2), 0,
          'commits before the cursor (decoded again) are skipped, and 1003 is still not visible: nothing taken');
select is((select logical_lsn::text from sync.source), '0/210', 'the cursor stays');

update sync_src_capture.current_snapshot set snap = '1005:1005:';
insert into pulls (r) select sync._pull_logical(null, 100);
select is((select (r ->> 'changes')::integer from pulls where n = 3), 2, 'once 1003 is visible, C and D are taken');
select is((select logical_lsn::text from sync.source), '0/410', 'the cursor moves past D');

-- Batch bound: E and F of 3 changes, G of 7, with batch_size 5.
insert into sync_src_capture.logical_changes
select l, e, x, '2026-01-01 11:00'::timestamptz, 0::bigint, null::text, null::bigint, 'C'::text from (values ('0/500'::pg_lsn, '0/510'::pg_lsn, 1005), ('0/600', '0/610', 1006), ('0/700', '0/710', 1007)) v (l, e, x)
union all select '0/500', '0/510', 1005, '2026-01-01 11:00', g::bigint, 'public.auth_user', 4 + g, 'U' from generate_series(1, 3) g
union all select '0/600', '0/610', 1006, '2026-01-01 11:00', g::bigint, 'public.auth_user', 7 + g, 'U' from generate_series(1, 3) g
union all select '0/700', '0/710', 1007, '2026-01-01 11:00', g::bigint, 'public.auth_user', 10 + g, 'U' from generate_series(1, 7) g;
update sync_src_capture.current_snapshot set snap = '1010:1010:';
insert into pulls (r) select sync._pull_logical(null, 5);
insert into pulls (r) select sync._pull_logical(null, 5);
insert into pulls (r) select sync._pull_logical(null, 5);
select results_eq($$ select (r ->> 'changes')::integer, r ->> 'lsn' from pulls where n > 3 order by n $$,
                  $$ values (3, '0/510'), (3, '0/610'), (7, '0/710') $$,
                  'whole transactions within batch_size; a transaction larger than batch_size alone');

-- A truncate: every key mapped or waiting in the inbox is read again (absent = delete).
insert into sync.id_map (entity, legacy_id, target_id) values ('profiles', 1, gen_random_uuid()), ('profiles', 888888, gen_random_uuid());
insert into sync_src_capture.logical_changes values
    ('0/800', '0/810', 1010, '2026-01-01 12:00', 0, null, null, 'C'),
    ('0/800', '0/810', 1010, '2026-01-01 12:00', 1, 'public.auth_user', null, 'T');
update sync_src_capture.current_snapshot set snap = '1011:1011:';
insert into pulls (r) select sync._pull_logical(null, 100);
select results_eq($$ select legacy_id, op from sync.inbox where batch_id = (select (r ->> 'batch_id')::bigint from pulls where n = 7)
                      and legacy_id in (1, 17, 888888, 999999) order by legacy_id $$,
                  $$ values (1::bigint, 'upsert'::text), (17, 'upsert'), (888888, 'delete'), (999999, 'delete') $$,
                  'a truncate reads every mapped and pending key again: present rows upsert, the others delete');
select is((select count(*)::integer from sync.inbox where batch_id = (select (r ->> 'batch_id')::bigint from pulls where n = 7)),
          (select count(*)::integer from (select legacy_id from sync.id_map where entity = 'profiles'
                                          union select legacy_id from sync.inbox where entity = 'profiles' and status = 'pending'
                                            and batch_id <> (select (r ->> 'batch_id')::bigint from pulls where n = 7)) k),
          'one inbox row per mapped or pending key of the truncated table');
select is((select (r ->> 'changes')::integer from pulls where n = 7), 1, 'the truncate is one change');

-- The checks' messages.
select throws_ok($$ select sync._logical_check('{"slot": "s", "wal_level": "replica", "can_replicate": true, "slot_exists": true, "plugin": "wal2json"}', 400) $$,
                 'SY400', 'the source runs with wal_level = replica; logical capture needs wal_level = logical (set it on the source and restart it, then deno task source:install -- <legacy-db-url> --capture logical --reader <role>)',
                 'wal_level not logical is named with what to do');
select throws_ok($$ select sync._logical_check('{"slot": "s", "wal_level": "logical", "reader": "r1", "can_replicate": false, "slot_exists": true, "plugin": "wal2json"}', 400) $$,
                 'SY400', 'the reader role r1 lacks the REPLICATION attribute that logical decoding needs; as a superuser on the source: alter role r1 replication',
                 'a reader without REPLICATION is named with what to do');
select throws_ok($$ select sync._logical_check('{"slot": "s", "wal_level": "logical", "can_replicate": true, "slot_exists": true, "wal_status": "lost", "plugin": "wal2json"}', 409) $$,
                 'SY409', 'the decoding slot s on the source is lost (its WAL was removed): logical capture cannot continue',
                 'a lost slot stops the pull');
update sync_src_capture.logical_status set slot_exists = false;
select throws_ok($$ select sync._pull_logical(null, 100) $$,
                 'SY409', 'the decoding slot sync_test on the source is missing: logical capture cannot continue',
                 'a missing slot stops the pull with what to do');
update sync_src_capture.logical_status set slot_exists = true;

update sync_src_capture.current_snapshot set identity = '{"database": "another"}';
select is(sync._pull_logical(null, 100) ->> 'refused', 'source_changed', 'another source is refused');
-- Re-baselined on that source (a full backfill records its identity): the old source's cursor is no position there.
update sync.source set identity = '{"database": "another"}';
select is((sync._pull_logical(null, 100) ->> 'changes')::integer, 20,
          'a cursor recorded on another source is ignored: every decoded change of the new one is taken');

select * from finish();
rollback;
