-- Polling capture against a real legacy clone from which the capture schema was dropped (its owner,
-- legacy_owner_url): nothing is installed, the engine reads as the reader (SELECT on the tables
-- only), the application writes as legacy_app (dblink sessions, commits interleaved at will).
-- Runs without an enclosing transaction: every tick must see a new remote snapshot.
select plan(26);
\ir ../../../sql/oracle/oracle.sql

select dblink_connect('owner', :'legacy_owner_url');
select dblink_exec('owner', 'drop schema sync_capture cascade');
-- What polling asks of the source's DBA: SELECT on the registered tables for the reader, nothing else.
select dblink_exec('owner', format('grant usage on schema public to sync_reader; grant select on %s to sync_reader',
                                   (select string_agg(source_table, ', ' order by name) from sync.entities)));
select dblink_connect('early', :'legacy_app_conninfo');
select dblink_connect('late', :'legacy_app_conninfo');
-- What exists on the source that is not the application's: nothing but the reader's SELECT grants.
create temp view source_footprint as
select * from dblink('owner', $$
    select (select count(*) from pg_namespace where nspname not in ('public', 'extensions', 'information_schema')
                                                and nspname not like 'pg\_%'),
           (select count(*) from pg_trigger where not tgisinternal),
           (select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'public'),
           (select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
             where n.nspname = 'public' and c.relkind in ('r', 'v', 'm', 'i', 'S')) $$)
    as f (schemas bigint, triggers bigint, public_functions bigint, public_relations bigint);
create temp table footprint_before as select * from source_footprint;

select sync.set_config('{"capture": "polling", "batch_size": 2, "verify_after_run": false,
                         "polling": {"overlap_seconds": 300, "reconcile_minutes": 1440}}');
-- A poll column that is not there is refused, naming entity and column.
update sync.entities set poll_column = 'modified' where name = 'orders';
select alike(sync.connect_source(:'legacy_conninfo') #>> '{error,message}',
             'source %: entity orders: poll column modified is not a column of public.dispatch_order on the source: set sync.entities.poll_column to a timestamptz column the application sets on every write, or to NULL',
             'connect refuses a poll column the source table does not have, naming it');
update sync.entities set poll_column = 'updated_at' where name = 'orders';
select is(sync.connect_source(:'legacy_conninfo') - 'source' - 'tables',
          '{"connected": true, "capture": "polling", "capture_version": null, "unavailable": []}'::jsonb,
          'connect_source in polling mode succeeds on a source where nothing is installed');
select is((select array_agg(c.relname || ':' || c.relkind::text order by c.relname) from pg_class c
            where c.relnamespace = 'sync_src_capture'::regnamespace),
          array['current_snapshot:v', 'pg_database:f'],
                  'only the source''s pg_database is read besides its tables (the snapshot view is local)');
select is((select identity from sync.source),
          (select jsonb_build_object('database', datname::text, 'database_oid', oid::bigint)
             from dblink('owner', 'select datname, oid from pg_database where datname = current_database()') as d (datname name, oid oid)),
          'the identity is the source database''s name and oid');
select results_eq($$ select entity from sync.poll_watermarks order by 1 $$,
                  $$ values ('cases'::text), ('offices'), ('orders'), ('patients'), ('treatment_plans') $$,
                  'the pack polls the five tables whose updated_at Django sets on every write');

call sync.backfill(null, null);
call sync.tick(50, null);
select is((select count(*)::integer from jsonb_each((select summary -> 'reconcile' from sync.runs where mode = 'incremental'
                                                      order by id desc limit 1)) r
            where (r.value ->> 'missing')::integer = 0 and (r.value ->> 'orphaned')::integer = 0
              and (r.value ->> 'drifted')::integer = 0),
          (select count(*)::integer from sync.entities),
          'the first tick reconciles every entity (a round is due at connect), finding nothing after the backfill');
select is_empty($$ select * from oracle.diff() $$, 'exact after backfill and reconciliation');

-- Ties at a page boundary: five rows with one timestamp, pages of one row per polled entity.
select dblink_exec('late', $$insert into dispatch_office (id, name, phone, address, city, state, zip_code, is_active, created_at, updated_at)
                             select g, 'Tie ' || g, '', '', '', '', '', true, now(), now() from generate_series(9101, 9105) g$$);
create temp table mark as select coalesce(max(id), 0) as batch from sync.batches;
call sync.tick(50, null);
select results_eq($$ select legacy_office_id, name from public.offices where legacy_office_id between 9101 and 9105 order by 1 $$,
                  $$ select g::bigint, 'Tie ' || g from generate_series(9101, 9105) g $$,
                  'rows sharing one timestamp across page boundaries are all pulled');
select ok((select max(rows) <= 2 and count(*) >= 5 from sync.batches where id > (select batch from mark)),
          'in batches of at most batch_size rows');

-- A transaction that wrote first (older timestamp) commits after a later one was pulled.
select dblink_exec('early', 'begin');
select dblink_exec('early', $$update dispatch_office set name = 'Early', updated_at = now() where id = 1$$);
select dblink_exec('late', $$update dispatch_office set name = 'Late', updated_at = now() where id = 2$$);
call sync.tick(50, null);
select results_eq($$ select legacy_office_id, name from public.offices where legacy_office_id in (1, 2) and name in ('Early', 'Late') $$,
                  $$ values (2::bigint, 'Late'::text) $$, 'the later commit is pulled, the open transaction not yet');
select ok((select high_ts from sync.poll_watermarks where entity = 'offices')
          > (select t from dblink('late', 'select updated_at from dispatch_office where id = 2') as x (t timestamptz)) - interval '1 ms',
          'the watermark has passed the open transaction''s timestamp');
select dblink_exec('early', 'commit');
call sync.tick(50, null);
select results_eq($$ select name from public.offices where legacy_office_id = 1 $$, $$ values ('Early'::text) $$,
                  'the row committed late with an older timestamp (within the overlap) is pulled, never skipped');

-- An idle tick: nothing changes on the source, nothing is written here.
create temp table before_idle as select test.state() as s, (select count(*) from sync.inbox) as inbox, (select count(*) from sync.batches) as batches;
call sync.tick(50, null);
select is((select summary -> 'rows' from sync.runs where mode = 'incremental' order by id desc limit 1), '0'::jsonb,
          'an idle tick pulls no change');
select ok((select s = test.state() and inbox = (select count(*) from sync.inbox) from before_idle),
          'and writes nothing: every target row, its physical version and the id map are as they were');

-- Beyond the stated limits: seen at the next reconciliation only.
select sync.set_config('{"polling": {"overlap_seconds": 1}}');
select dblink_exec('early', 'begin');
select dblink_exec('early', $$insert into dispatch_office (id, name, phone, address, city, state, zip_code, is_active, created_at, updated_at)
                              values (9201, 'Too late', '', '', '', '', '', true, now(), now())$$);
select pg_sleep(1.5);
select dblink_exec('late', $$update dispatch_office set name = 'Later', updated_at = now() where id = 2$$);
call sync.tick(50, null);
select dblink_exec('early', 'commit');
select dblink_exec('late', $$delete from dispatch_office where id = 9105$$);
create temp table gone_comment as select id from dblink('late', 'select max(id) from dispatch_comment') as x (id bigint);
select dblink_exec('late', format('delete from dispatch_comment where id = %s', (select id from gone_comment)));
select dblink_exec('late', $$update auth_user set first_name = 'Untimed' where id = 5$$);
select dblink_exec('late', $$update dispatch_patient set email = 'quiet@update.example' where id = 7$$);
call sync.tick(50, null);
call sync.tick(50, null);
select results_eq($$ select distinct entity, legacy_id, problem from oracle.diff() order by 1, 2 $$,
                  $$ values ('case_messages'::text, (select id from gone_comment), 'unexpected'::text), ('offices', 9105, 'unexpected'),
                            ('offices', 9201, 'missing'), ('patients', 7, 'differs'), ('profiles', 5, 'differs') $$,
                  'before the reconciliation, exactly these are not seen: a row committed later than the overlap, deletes, an un-timestamped table''s update, an update that left updated_at alone');
select is((select count(*)::integer from sync.runs where mode = 'incremental' and summary -> 'reconcile' <> 'null'), 1,
          'no reconciliation ran since the first');

update sync.poll_state set reconciled_at = reconciled_at - interval '2 days';
call sync.tick(50, null);
select is((select count(*)::integer from jsonb_object_keys((select summary -> 'reconcile' from sync.runs where mode = 'incremental'
                                                             order by id desc limit 1))),
          (select count(*)::integer from sync.entities), 'the reconciliation due runs a whole round in one tick, reported in its summary');
select is((select (summary #> '{reconcile,offices}') - 'ms' - 'repaired' from sync.runs where mode = 'incremental' order by id desc limit 1),
          '{"missing": 1, "orphaned": 1, "drifted": 0, "capped": false}'::jsonb, 'naming what it found per entity');
select is((select (summary #>> '{reconcile,profiles,drifted}')::integer + (summary #>> '{reconcile,patients,drifted}')::integer
             from sync.runs where mode = 'incremental' order by id desc limit 1),
          2, 'the two quiet updates are found as drift');
select is_empty($$ select * from oracle.diff() $$, 'after the reconciliation the target is exact');
select is((select reconciled_at > now() - interval '1 minute' and round_left is null from sync.poll_state), true,
          'the round is complete');
select is((select count(*)::integer from sync.runs where status <> 'succeeded' and mode = 'incremental'), 0, 'every tick succeeded');

-- A reconciliation that fails for one entity is reported, and neither the round nor polling stops.
alter foreign table sync_src.dispatch_file rename to dispatch_file_away;
update sync.poll_state set reconciled_at = reconciled_at - interval '2 days';
select dblink_exec('late', $$update dispatch_office set name = 'During', updated_at = now() where id = 2$$);
call sync.tick(50, null);
alter foreign table sync_src.dispatch_file_away rename to dispatch_file;
select results_eq($$ select r.key, r.value #>> '{error,phase}' from sync.runs x, jsonb_each(x.summary -> 'reconcile') r
                      where x.id = (select max(id) from sync.runs where mode = 'incremental') and r.value ? 'error' $$,
                  $$ values ('files'::text, 'reconcile'::text) $$,
                  'an entity whose reconciliation fails is reported with its error');
select is((select count(*)::integer from jsonb_object_keys((select summary -> 'reconcile' from sync.runs where mode = 'incremental'
                                                             order by id desc limit 1))),
          (select count(*)::integer from sync.entities), 'the round reconciles every other entity');
select results_eq($$ select name from public.offices where legacy_office_id = 2 $$, $$ values ('During'::text) $$,
                  'and polling goes on');
select is((select row(f.*)::text from source_footprint f), (select row(b.*)::text from footprint_before b),
          'nothing was installed on the source: no schema, trigger, function or relation');

select * from finish();
