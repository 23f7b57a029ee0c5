-- sync.ingest_batch, the target side of the HTTP bridge, fed by the source side
-- (sync_capture.read_batch, sync_capture.prune_log) exactly as the sync Edge Function does: the
-- source read through dblink as the engine's reader in a REPEATABLE READ transaction, the
-- application's writes through dblink as legacy_app. No FDW connection: transport http. Runs
-- without an enclosing transaction (every read needs a new source snapshot).
select plan(24);

select sync.set_config('{"transport": "http"}');
select dblink_connect('src', :'legacy_conninfo');
select dblink_connect('app', :'legacy_app_conninfo');

-- What the bridge does: one read in a REPEATABLE READ transaction on the source.
create function pg_temp.read(p_request jsonb) returns jsonb language plpgsql as $$
declare
    v_batch jsonb;
begin
    perform dblink_exec('src', 'begin isolation level repeatable read read only');
    select b::jsonb into v_batch
      from dblink('src', format('select sync_capture.read_batch(%L::jsonb)::text', p_request)) as t (b text);
    perform dblink_exec('src', 'commit');
    return v_batch;
end;
$$;
create function pg_temp.prune(p_state jsonb) returns bigint language sql as $$
    select n from dblink('src', format('select sync_capture.prune_log(%L::jsonb)', p_state)) as t (n bigint);
$$;
create function pg_temp.log_rows() returns bigint language sql as $$
    select n from dblink('src', 'select count(*) from sync_capture.log') as t (n bigint);
$$;
-- Waits (at most 60 s) until no transaction on the source cluster is older than the last logged
-- change: a write running in a parallel test holds the snapshot's xmin back, and prune_log rightly
-- keeps every log row from that xmin on. Once settled, every later snapshot's xmin is past the log.
create function pg_temp.settle() returns boolean language plpgsql as $$
begin
    for i in 1..600 loop
        if (select s from dblink('src', 'select coalesce(pg_snapshot_xmin(pg_current_snapshot()) > max(txid), true)
                                           from sync_capture.log') as t (s boolean)) then
            return true;
        end if;
        perform pg_sleep(0.1);
    end loop;
    return false;
end;
$$;
create table pg_temp.b (name text primary key, batch jsonb, result jsonb);

select results_eq($$ select r ->> 'cursor', (r ->> 'limit')::integer, jsonb_array_length(r -> 'tables'),
                            r -> 'tables' -> 0
                       from sync.get_bridge_request() r $$,
                  $$ values (null::text, 5000, (select count(*)::integer from sync.entities),
                             '{"key": "id", "table": "public.auth_user", "exclude": ["password"]}'::jsonb) $$,
                  'get_bridge_request: no cursor yet, batch_size, the captured tables with key and excluded columns');

-- The bridge enables capture on the registered tables (the reader writes sync_capture.tables).
select dblink_exec('src', format($q$insert into sync_capture.tables (tbl, enabled, changed_at)
                                    select t ->> 'table', true, now() from jsonb_array_elements(%L::jsonb -> 'tables') t
                                    on conflict (tbl) do update set enabled = true$q$, sync.get_bridge_request()));

-- The first batch connects the source and records its identity.
insert into pg_temp.b (name, batch) select 'first', pg_temp.read(sync.get_bridge_request());
update pg_temp.b set result = sync.ingest_batch(batch) where name = 'first';
select results_eq($$ select b.result ->> 'rows', b.result ->> 'more', s.server_name, s.identity = b.batch -> 'identity',
                            s.cursor_snapshot = b.batch ->> 'to', b.batch ->> 'from'
                       from pg_temp.b b, sync.source s where b.name = 'first' $$,
                  $$ values ('0'::text, 'false'::text, 'http'::text, true, true, null::text) $$,
                  'the first batch connects the source (identity recorded) and moves the cursor to its snapshot');

-- Changes, one transaction each; one of them nets out to a delete.
select dblink_exec('app', $$insert into dispatch_office (id, name, phone, address, city, state, zip_code, is_active, created_at, updated_at)
                            values (9001, 'First', '', '', '', '', '', true, '2024-01-01', '2024-01-01')$$);
select dblink_exec('app', $$begin;
    update dispatch_office set name = 'Final' where id = 9001;
    insert into dispatch_office (id, name, phone, address, city, state, zip_code, is_active, created_at, updated_at)
    values (9002, 'Gone', '', '', '', '', '', true, '2024-01-01', '2024-01-01');
    delete from dispatch_office where id = 9002;
    commit$$);
select dblink_exec('app', $$update auth_user set first_name = 'Bridge' where id = 1$$);

insert into pg_temp.b (name, batch) select 'second', pg_temp.read(sync.get_bridge_request());
select results_eq($$ select (r ->> 'changes')::integer, jsonb_array_length(r -> 'rows'), r -> 'page', r ->> 'from' = (select cursor_snapshot from sync.source)
                       from pg_temp.b b, lateral (select b.batch) x (r) where b.name = 'second' $$,
                  $$ values (5, 3, 'null'::jsonb, true) $$,
                  'read_batch: every logged change after the cursor (5), one row per key (3), not a page');
update pg_temp.b set result = sync.ingest_batch(batch) where name = 'second';
select results_eq($$ select i.entity, i.legacy_id, i.op, coalesce(i.image ->> 'name', i.image ->> 'first_name'), i.image ? 'password',
                            i.source_version = (b.batch ->> 'source_version')::bigint, i.status
                       from sync.inbox i, pg_temp.b b
                      where b.name = 'second' and i.batch_id = (b.result ->> 'batch_id')::bigint
                      order by 1, 2 $$,
                  $$ values ('offices'::text, 9001::bigint, 'upsert'::text, 'Final'::text, false, true, 'pending'::text),
                            ('offices', 9002, 'delete', null, null, true, 'pending'),
                            ('profiles', 1, 'upsert', 'Bridge', false, true, 'pending') $$,
                  'ingest_batch writes one inbox row per key: its image at the batch snapshot (no excluded column), or a delete');
select results_eq($$ select bt.snapshot_from = b.batch ->> 'from', bt.snapshot_to = b.batch ->> 'to', bt.changes, bt.rows, bt.run_id
                       from sync.batches bt, pg_temp.b b where b.name = 'second' and bt.id = (b.result ->> 'batch_id')::bigint $$,
                  $$ values (true, true, 5, 3, null::bigint) $$,
                  'the batch is recorded with its snapshot bounds and counts');
select results_eq($$ select (b.result ->> 'changes')::integer, (b.result ->> 'rows')::integer, (b.result ->> 'more')::boolean,
                            b.result -> 'next' = sync.get_bridge_request(), s.cursor_snapshot = b.batch ->> 'to'
                       from pg_temp.b b, sync.source s where b.name = 'second' $$,
                  $$ values (5, 3, false, true, true) $$,
                  'ingest_batch returns its counts and the next request; the cursor is at the batch''s bound');

-- Idempotent: the same batch again writes nothing.
create table pg_temp.before as select (select count(*) from sync.inbox) as inbox, (select count(*) from sync.batches) as batches,
                                      (select cursor_snapshot from sync.source) as cursor;
select is(sync.ingest_batch((select batch from pg_temp.b where name = 'second')) -> 'already_ingested', 'true'::jsonb,
          'the same batch twice: recognised as already ingested');
select results_eq($$ select (select count(*) from sync.inbox), (select count(*) from sync.batches), (select cursor_snapshot from sync.source) $$,
                  $$ select inbox, batches, cursor from pg_temp.before $$,
                  'the second ingest changed nothing (inbox, batches, cursor)');

-- Out of order: a batch that does not start at the cursor is refused.
select dblink_exec('app', $$update dispatch_office set name = 'Later' where id = 9001$$);
insert into pg_temp.b (name, batch) select 'stale', pg_temp.read((select b.result -> 'next' from pg_temp.b b where name = 'first'));
select throws_ok($$ select sync.ingest_batch((select batch from pg_temp.b where name = 'stale')) $$, 'SY409',
                 'the batch does not start at the cursor (out of order, or another bridge is pulling)',
                 'a batch from an older cursor is refused with SY409');
select results_eq($$ select (select count(*) from sync.inbox), (select count(*) from sync.batches), (select cursor_snapshot from sync.source) $$,
                  $$ select inbox, batches, cursor from pg_temp.before $$,
                  'the refused batch wrote nothing');

-- Another source: refused, alert source_changed, nothing written.
insert into pg_temp.b (name, batch) select 'next', pg_temp.read(sync.get_bridge_request());
select is(sync.ingest_batch(jsonb_set((select batch from pg_temp.b where name = 'next'), '{identity,system_identifier}', '"42"')) ->> 'refused',
          'source_changed', 'a batch from another source identity is refused');
select results_eq($$ select kind, severity, acknowledged_at, details -> 'found' ->> 'system_identifier' from sync.alerts where kind = 'source_changed' $$,
                  $$ values ('source_changed'::text, 'critical'::text, null::timestamptz, '42'::text) $$,
                  'the refusal raises the critical alert source_changed');
select results_eq($$ select (select count(*) from sync.inbox), (select count(*) from sync.batches), (select cursor_snapshot from sync.source) $$,
                  $$ select inbox, batches, cursor from pg_temp.before $$,
                  'the batch from another source wrote nothing');

-- Malformed rows are refused (SY400), naming the row, never its image.
select throws_ok($$ select sync.ingest_batch(jsonb_set((select batch from pg_temp.b where name = 'next'), '{rows,0,image}', 'null')) $$,
                 'SY400', 'the batch has a malformed row', 'an upsert without an image is refused with SY400');
select throws_ok($$ select sync.ingest_batch('{"to": "1:1:"}') $$, 'SY400', 'the batch is malformed',
                 'a batch without identity, rows and counts is refused with SY400');

-- The real one goes in; then the log rows the target committed are pruned on the source.
select is((sync.ingest_batch((select batch from pg_temp.b where name = 'next')) ->> 'rows')::integer, 1,
          'the next batch (the later update) goes in');
select is(pg_temp.log_rows() > 0, true, 'before the prune the consumed log rows are still on the source');
select pg_temp.settle();
insert into pg_temp.b (name, batch) select 'empty', pg_temp.read(sync.get_bridge_request());
update pg_temp.b set result = sync.ingest_batch(batch) where name = 'empty';
select is(pg_temp.prune((select result -> 'next' from pg_temp.b where name = 'empty')), 6::bigint,
          'prune_log deletes exactly the 6 consumed log rows once the cursor is past them');
select is(pg_temp.log_rows(), 0::bigint, 'nothing else is left in the log');

-- A backlog larger than batch_size is read in pages of log blocks under one bound; a block with more
-- changes than batch_size is read whole, never cut.
select sync.set_config('{"batch_size": 10}');
select dblink_exec('app', $$insert into dispatch_office (id, name, phone, address, city, state, zip_code, is_active, created_at, updated_at)
                            select 10000 + g, 'Bulk ' || g, '', '', '', '', '', true, '2024-01-01', '2024-01-01'
                              from generate_series(1, 400) g$$);
create table pg_temp.pages as select 0 as n, null::jsonb as last;
select pg_temp.settle();
do $$
declare
    v_batch jsonb;
    v_result jsonb;
begin
    -- One loop per batch, as the bridge does.
    loop
        v_batch := pg_temp.read(sync.get_bridge_request());
        v_result := sync.ingest_batch(v_batch);
        perform pg_temp.prune(v_result -> 'next');
        update pg_temp.pages set n = n + 1, last = v_batch where v_batch -> 'page' <> 'null';
        exit when (v_result ->> 'rows')::integer = 0 and not (v_result ->> 'more')::boolean;
    end loop;
end;
$$;
select results_eq($$ select count(distinct i.legacy_id)::integer, count(*)::integer, min(i.legacy_id), max(i.legacy_id)
                       from sync.inbox i where i.entity = 'offices' and i.legacy_id > 10000 $$,
                  $$ values (400, 400, 10001::bigint, 10400::bigint) $$,
                  'the backlog arrives whole: each of the 400 keys exactly once');
select results_eq($$ select n > 1, (last -> 'page' ->> 'blocks')::integer, (last -> 'page' ->> 'block')::integer + 1 = (last -> 'page' ->> 'end')::integer
                       from pg_temp.pages $$,
                  $$ values (true, 1, true) $$,
                  'it came in pages of one block each, the last ending at the log''s end');
select results_eq($$ select pending_snapshot, page_block, cursor_snapshot = (select last ->> 'to' from pg_temp.pages) from sync.source $$,
                  $$ values (null::text, null::bigint, false) $$,
                  'after the last page the cursor moved past the backlog''s bound (the empty batch after it)');
select is(pg_temp.log_rows(), 0::bigint, 'every page''s log rows were pruned');
select is((select max(b.changes) from sync.batches b where b.snapshot_to = (select last ->> 'to' from pg_temp.pages)) > 10, true,
          'a block with more changes than batch_size is read whole, never cut');

select dblink_disconnect('src');
select dblink_disconnect('app');
select * from finish();
