-- Capture v2 on the legacy source (sql/capture/install.sql, installed on the legacy template):
-- privileges (PUBLIC and an application role get nothing in sync_capture, yet the role's writes,
-- truncate included, are logged), replica-role writes, truncate, json/point/xml columns added
-- after capture started, bounded function names, the identity view, enable/disable as single
-- calls, refused tables and the reader grants. Roles are created here (rolled back at the end).
begin;
set local client_min_messages = warning;
select plan(39);

-- Roles: an application role with DML grants only, and an engine reader.
do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'capture_test_app') then
        create role capture_test_app nologin;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'capture_test_reader') then
        create role capture_test_reader nologin;
    end if;
end;
$$;
-- SET ROLE needs membership when the test does not run as a superuser.
grant capture_test_app, capture_test_reader to current_user;

-- Runs a statement as a role; returns 'ok' or the SQLSTATE and message of its error.
create function pg_temp.run_as(p_role text, p_sql text)
returns text
language plpgsql
as $$
begin
    execute format('set local role %I', p_role);
    execute p_sql;
    reset role;
    return 'ok';
exception when others then
    return sqlstate || ' ' || sqlerrm;
end;
$$;

-- The log rows written so far (and removes them, so that each step checks its own rows).
create function pg_temp.take_log()
returns table (tbl text, pk bigint, op "char")
language sql
as $$
    delete from sync_capture.log returning tbl, pk, op;
$$;

create table public.cap_app_t (id integer primary key, v text not null);
insert into public.cap_app_t values (1, 'a'), (2, 'b'), (3, 'c');
grant usage on schema public to capture_test_app;
grant select, insert, update, delete, truncate on public.cap_app_t to capture_test_app;
insert into sync_capture.tables (tbl) values ('public.cap_app_t');
select is_empty($$ select * from pg_temp.take_log() $$, 'enabling capture logs nothing');

-- 1. Privileges.
select is_empty(
    $$ select 'schema', n.nspname::text, a.privilege_type
         from pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
        where n.nspname = 'sync_capture' and a.grantee = 0
       union all
       select 'relation', c.relname::text, a.privilege_type
         from pg_class c, aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
        where c.relnamespace = 'sync_capture'::regnamespace and a.grantee = 0
       union all
       select 'function', p.proname::text, a.privilege_type
         from pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
        where p.pronamespace = 'sync_capture'::regnamespace and a.grantee = 0 $$,
    'PUBLIC holds no privilege on the schema, a table, a view or a function of sync_capture');
select results_eq(
    $$ select p.proname::text collate "default", p.prosecdef, p.proconfig collate "default"
         from pg_trigger t join pg_proc p on p.oid = t.tgfoid
        where t.tgrelid = 'public.cap_app_t'::regclass order by t.tgname $$,
    $$ values ('cap_public_cap_app_t_' || left(md5('public.cap_app_t'), 8), true, array['search_path=""']),
              ('cap_public_cap_app_t_' || left(md5('public.cap_app_t'), 8), true, array['search_path=""']),
              ('cap_public_cap_app_t_' || left(md5('public.cap_app_t'), 8), true, array['search_path=""']),
              ('cap_public_cap_app_t_' || left(md5('public.cap_app_t'), 8), true, array['search_path=""']) $$,
    'the four capture triggers run one security definer function with an empty search_path');
select results_eq(
    $$ select pg_temp.run_as('capture_test_app', s)
         from unnest(array['select sync_capture.disable(''public.cap_app_t'')',
                           'select sync_capture.enable(''public.cap_app_t'')',
                           'update sync_capture.tables set enabled = false',
                           'delete from sync_capture.log',
                           'insert into sync_capture.log (tbl, pk, op) values (''x'', 1, ''I'')',
                           'select count(*) from sync_capture.log']) with ordinality u (s, i) order by i $$,
    $$ values ('42501 permission denied for schema sync_capture'), ('42501 permission denied for schema sync_capture'),
              ('42501 permission denied for schema sync_capture'), ('42501 permission denied for schema sync_capture'),
              ('42501 permission denied for schema sync_capture'), ('42501 permission denied for schema sync_capture') $$,
    'the application role can neither switch capture off nor touch the log');
select results_eq(
    $$ select has_function_privilege('capture_test_app', 'sync_capture.enable(regclass, text)', 'execute'),
              has_function_privilege('capture_test_app', 'sync_capture.disable(regclass)', 'execute'),
              has_function_privilege('capture_test_app', 'sync_capture.on_tables_change()', 'execute'),
              has_table_privilege('capture_test_app', 'sync_capture.tables', 'insert, update, delete, truncate'),
              has_table_privilege('capture_test_app', 'sync_capture.log', 'select, insert, update, delete, truncate') $$,
    $$ values (false, false, false, false, false) $$,
    'the application role holds no execute on enable/disable/on_tables_change and no write on tables or log');

-- 2. An application role with DML grants only writes the captured table: every change logged.
select is(pg_temp.run_as('capture_test_app', $$insert into public.cap_app_t values (4, 'd'), (5, 'e')$$), 'ok',
          'the application role inserts without any grant on sync_capture');
select results_eq($$ select * from pg_temp.take_log() order by 1, 2 $$,
                  $$ values ('public.cap_app_t'::text, 4::bigint, 'I'::"char"), ('public.cap_app_t', 5, 'I') $$,
                  'its insert is logged, one row per inserted key');
select is(pg_temp.run_as('capture_test_app', $$update public.cap_app_t set v = 'B' where id = 2$$), 'ok',
          'the application role updates');
select is(pg_temp.run_as('capture_test_app', $$update public.cap_app_t set v = v where id in (1, 3)$$), 'ok',
          'the application role updates without changing anything');
select is(pg_temp.run_as('capture_test_app', $$update public.cap_app_t set id = 6 where id = 5$$), 'ok',
          'the application role changes a key');
select results_eq($$ select * from pg_temp.take_log() order by 1, 2, 3 $$,
                  $$ values ('public.cap_app_t'::text, 2::bigint, 'U'::"char"), ('public.cap_app_t', 5, 'D'),
                            ('public.cap_app_t', 6, 'U') $$,
                  'a real update is logged, a no-op update is not, a key change is a delete and an update');
select is(pg_temp.run_as('capture_test_app', $$delete from public.cap_app_t where id in (1, 4)$$), 'ok',
          'the application role deletes');
select results_eq($$ select * from pg_temp.take_log() order by 1, 2 $$,
                  $$ values ('public.cap_app_t'::text, 1::bigint, 'D'::"char"), ('public.cap_app_t', 4, 'D') $$,
                  'its delete is logged, one row per deleted key');

-- 3. Truncate: every removed row is a delete, cascades included.
select is(pg_temp.run_as('capture_test_app', 'truncate public.cap_app_t'), 'ok', 'the application role truncates');
select results_eq($$ select * from pg_temp.take_log() order by 1, 2 $$,
                  $$ values ('public.cap_app_t'::text, 2::bigint, 'D'::"char"), ('public.cap_app_t', 3, 'D'),
                            ('public.cap_app_t', 6, 'D') $$,
                  'truncate logs one delete per removed row');
create table public.cap_parent (id integer primary key);
create table public.cap_child (id bigint primary key, parent_id integer not null references public.cap_parent);
insert into public.cap_parent values (1), (2);
insert into public.cap_child values (10, 1), (11, 2), (12, 2);
insert into sync_capture.tables (tbl) values ('public.cap_parent'), ('public.cap_child');
truncate public.cap_parent cascade;
select results_eq($$ select * from pg_temp.take_log() order by 1, 2 $$,
                  $$ values ('public.cap_child'::text, 10::bigint, 'D'::"char"), ('public.cap_child', 11, 'D'),
                            ('public.cap_child', 12, 'D'), ('public.cap_parent', 1, 'D'), ('public.cap_parent', 2, 'D') $$,
                  'truncate ... cascade logs the rows of every truncated captured table');

-- 4. Writes under session_replication_role = replica (restores, bulk loads) are captured.
create function pg_temp.replica_writes()
returns boolean
language plpgsql
as $$
begin
    if not ((select rolsuper from pg_roles where rolname = current_user)
            or has_parameter_privilege('session_replication_role', 'set')) then
        return false;
    end if;
    perform set_config('session_replication_role', 'replica', true);
    insert into public.cap_parent values (7), (8);
    update public.cap_parent set id = id where id = 7;
    update public.cap_parent set id = 9 where id = 8;
    delete from public.cap_parent where id = 7;
    truncate public.cap_parent cascade;
    perform set_config('session_replication_role', 'origin', true);
    return true;
end;
$$;
select case when pg_temp.replica_writes()
            then results_eq($$ select * from pg_temp.take_log() order by 1, 2, 3 $$,
                            $$ values ('public.cap_parent'::text, 7::bigint, 'D'::"char"), ('public.cap_parent', 7, 'I'),
                                      ('public.cap_parent', 8, 'D'), ('public.cap_parent', 8, 'I'),
                                      ('public.cap_parent', 9, 'D'), ('public.cap_parent', 9, 'U') $$,
                            'inserts, updates, deletes and truncate under the replica role are captured')
            else skip('setting session_replication_role needs a superuser or SET on the parameter', 1) end;

-- 5. Any column type: json, point and xml have no equality operator, and arrive after capture started.
create table public.cap_types (id integer primary key, v text);
insert into sync_capture.tables (tbl) values ('public.cap_types');
insert into public.cap_types values (1, 'a');
alter table public.cap_types add column j json, add column p point, add column x xml;
update public.cap_types set j = '{"a": 1}', p = '(1,2)', x = '<a/>' where id = 1;
select results_eq($$ select * from pg_temp.take_log() order by 1, 2, 3 $$,
                  $$ values ('public.cap_types'::text, 1::bigint, 'I'::"char"), ('public.cap_types', 1, 'U') $$,
                  'an update of json, point and xml columns added after capture started is logged');
update public.cap_types set j = '{"a": 1}', p = '(1,2)', x = '<a/>', v = 'a' where id = 1;
select is_empty($$ select * from pg_temp.take_log() $$, 'an update that changes no json, point or xml value is not logged');
update public.cap_types set p = '(1,3)' where id = 1;
update public.cap_types set x = '<b/>' where id = 1;
select results_eq($$ select * from pg_temp.take_log() order by 1, 2, 3 $$,
                  $$ values ('public.cap_types'::text, 1::bigint, 'U'::"char"), ('public.cap_types', 1, 'U') $$,
                  'a change of a point or an xml value alone is logged');

-- 6. Function names: two tables whose v1 names (cap_<schema>_<table>) collide at 63 characters.
create table public.cap_a_table_name_long_enough_that_capture_v1_function_names_one (id integer primary key);
create table public.cap_a_table_name_long_enough_that_capture_v1_function_names_two (id integer primary key);
select is(left('cap_public_cap_a_table_name_long_enough_that_capture_v1_function_names_one', 63),
          left('cap_public_cap_a_table_name_long_enough_that_capture_v1_function_names_two', 63),
          'the two tables'' v1 function names are the same after truncation to 63 characters');
insert into sync_capture.tables (tbl)
values ('public.cap_a_table_name_long_enough_that_capture_v1_function_names_one'),
       ('public.cap_a_table_name_long_enough_that_capture_v1_function_names_two');
select results_eq(
    $$ select t.tgrelid::regclass::text, p.proname::text collate "default"
         from pg_trigger t join pg_proc p on p.oid = t.tgfoid
        where t.tgname = 'sync_capture_ins' and t.tgrelid::regclass::text like 'cap\_a\_table\_name%' order by 1 $$,
    $$ values ('cap_a_table_name_long_enough_that_capture_v1_function_names_one',
               'cap_public_cap_a_table_name_long_enough_that_' || left(md5('public.cap_a_table_name_long_enough_that_capture_v1_function_names_one'), 8)),
              ('cap_a_table_name_long_enough_that_capture_v1_function_names_two',
               'cap_public_cap_a_table_name_long_enough_that_' || left(md5('public.cap_a_table_name_long_enough_that_capture_v1_function_names_two'), 8)) $$,
    'each table gets its own bounded, hashed capture function');
insert into public.cap_a_table_name_long_enough_that_capture_v1_function_names_one values (1);
insert into public.cap_a_table_name_long_enough_that_capture_v1_function_names_two values (2);
select results_eq($$ select * from pg_temp.take_log() order by 1, 2 $$,
                  $$ values ('public.cap_a_table_name_long_enough_that_capture_v1_function_names_one'::text, 1::bigint, 'I'::"char"),
                            ('public.cap_a_table_name_long_enough_that_capture_v1_function_names_two', 2, 'I') $$,
                  'each table''s writes are logged under its own name');

-- 7. The identity view: snap first, then the identity that the target records and checks.
select results_eq(
    $$ select attname::text collate "default", format_type(atttypid, atttypmod) from pg_attribute
        where attrelid = 'sync_capture.current_snapshot'::regclass and attnum > 0 order by attnum $$,
    $$ values ('snap', 'text'), ('identity', 'jsonb') $$,
    'current_snapshot has snap text and identity jsonb, in that order');
select results_eq(
    $$ select identity, snap::pg_snapshot is not null from sync_capture.current_snapshot $$,
    $$ select jsonb_build_object('system_identifier', (select system_identifier::text from pg_control_system()),
                                 'timeline', (select timeline_id from pg_control_checkpoint()),
                                 'database', current_database(),
                                 'database_oid', (select oid::bigint from pg_database where datname = current_database())),
              true $$,
    'identity holds the system identifier (text), timeline, database name and oid; snap is a pg_snapshot');
select results_eq(
    $$ select key, jsonb_typeof(value) from sync_capture.current_snapshot, jsonb_each(identity) order by 1 $$,
    $$ values ('database', 'string'), ('database_oid', 'number'), ('system_identifier', 'string'), ('timeline', 'number') $$,
    'identity has exactly these four keys and types');

-- 8. enable and disable are single calls; a second call changes nothing.
select sync_capture.enable('public.dispatch_office');
select results_eq(
    $$ select tgname::text collate "default", tgenabled::text, tgfoid::regproc::text from pg_trigger
        where tgrelid = 'public.dispatch_office'::regclass and tgname like 'sync\_capture\_%' order by 1 $$,
    $$ select n, 'A', 'sync_capture.cap_public_dispatch_office_' || left(md5('public.dispatch_office'), 8)
         from unnest(array['sync_capture_del', 'sync_capture_ins', 'sync_capture_trunc', 'sync_capture_upd']) n $$,
    'enable adds four triggers, enabled always, on one function');
-- A rewritten catalog row gets a new ctid (same oid, same transaction): compare the row versions.
create temp table office_capture as
    select 'trigger' as kind, oid, ctid::text as version from pg_trigger where tgrelid = 'public.dispatch_office'::regclass
    union all
    select 'function', p.oid, p.ctid::text from pg_proc p where p.proname like 'cap\_public\_dispatch\_office\_%';
select sync_capture.enable('public.dispatch_office');
select set_eq($$ select 'trigger' as kind, oid, ctid::text as version from pg_trigger where tgrelid = 'public.dispatch_office'::regclass
                 union all
                 select 'function', p.oid, p.ctid::text from pg_proc p where p.proname like 'cap\_public\_dispatch\_office\_%' $$,
              $$ select * from office_capture $$,
              'enable again rewrites neither the triggers nor the function');
select sync_capture.disable('public.dispatch_office');
select sync_capture.disable('public.dispatch_office');
select results_eq(
    $$ select (select count(*)::integer from pg_trigger where tgrelid = 'public.dispatch_office'::regclass and tgname like 'sync\_capture\_%'),
              (select count(*)::integer from pg_proc where proname like 'cap\_public\_dispatch\_office\_%') $$,
    $$ values (0, 0) $$,
    'disable (twice) removes the triggers and the capture function');
update sync_capture.tables set enabled = false where tbl = 'public.cap_types';
delete from sync_capture.tables where tbl = 'public.cap_parent';
select results_eq(
    $$ select c.relname::text collate "default", count(t.oid)::integer from pg_class c
         left join pg_trigger t on t.tgrelid = c.oid and t.tgname like 'sync\_capture\_%'
        where c.relname in ('cap_types', 'cap_parent', 'cap_child') group by 1 order by 1 $$,
    $$ values ('cap_child', 4), ('cap_parent', 0), ('cap_types', 0) $$,
    'writing sync_capture.tables (enabled = false, delete) removes capture from exactly that table');

-- 9. Refused tables: capture never lands where it would break writes or recurse.
create table public.cap_no_id (code text primary key);
select throws_ok($$ select sync_capture.enable('public.cap_no_id') $$, '42703',
                 'capture needs an integer key column id on table public.cap_no_id',
                 'a table without an integer key column is refused');
select throws_ok($$ select sync_capture.enable('sync_capture.log', 'pk') $$, '42501',
                 'capture refuses table sync_capture.log (schema sync_capture)', 'the capture log itself is refused');
select throws_ok($$ insert into sync_capture.tables (tbl) values ('sync_capture.current_snapshot') $$, '42809',
                 'capture works on ordinary tables only: sync_capture.current_snapshot is not one', 'a view is refused');

-- 10. The engine's reader: exactly its grants, and a table added later through sync_capture.tables.
select throws_ok($$ select sync_capture._grant_reader('capture_test_nobody') $$, '42704',
                 'reader role "capture_test_nobody" does not exist', 'a missing reader role is a clear error');
delete from sync_capture.tables where tbl like 'public.cap\_a\_table%';
select results_eq(
    $$ select * from sync_capture._grant_reader('capture_test_reader') $$,
    $$ values ('grant usage on schema sync_capture to capture_test_reader'),
              ('grant select, delete on table sync_capture.log to capture_test_reader'),
              ('grant select, insert, update on table sync_capture.tables to capture_test_reader'),
              ('grant select on table sync_capture.version to capture_test_reader'),
              ('grant select on table sync_capture.current_snapshot to capture_test_reader'),
              ('grant execute on function sync_capture.prune_log(jsonb) to capture_test_reader'),
              ('grant execute on function sync_capture.read_batch(jsonb) to capture_test_reader'),
              ('grant usage on schema public to capture_test_reader'),
              ('grant select on table public.cap_app_t to capture_test_reader'),
              ('grant select on table public.cap_child to capture_test_reader'),
              ('grant select on table public.cap_types to capture_test_reader') $$,
    'the reader is granted the capture objects it uses and the registered tables');
create table public.cap_reader_t (id integer primary key);
select is(pg_temp.run_as('capture_test_reader', $$insert into sync_capture.tables (tbl) values ('public.cap_reader_t')$$),
          'ok', 'the reader adds a table to capture through sync_capture.tables');
select results_eq(
    $$ select c.oid::regclass::text, a.privilege_type::text
         from pg_class c, aclexplode(c.relacl) a
        where a.grantee = 'capture_test_reader'::regrole
          and (c.relnamespace = 'sync_capture'::regnamespace or c.relname like 'cap\_%')
        order by 1, 2 $$,
    $$ values ('cap_app_t', 'SELECT'), ('cap_child', 'SELECT'), ('cap_reader_t', 'SELECT'), ('cap_types', 'SELECT'),
              ('sync_capture.current_snapshot', 'SELECT'), ('sync_capture.log', 'DELETE'), ('sync_capture.log', 'SELECT'),
              ('sync_capture.tables', 'INSERT'), ('sync_capture.tables', 'SELECT'), ('sync_capture.tables', 'UPDATE'),
              ('sync_capture.version', 'SELECT') $$,
    'the reader holds exactly these table privileges, the table it added included');
select results_eq(
    $$ select pg_temp.run_as('capture_test_reader', s)
         from unnest(array['select sync_capture.enable(''public.cap_reader_t'')',
                           'select sync_capture.disable(''public.cap_reader_t'')',
                           'select count(*) from public.cap_no_id']) with ordinality u (s, i) order by i $$,
    $$ values ('42501 permission denied for function enable'), ('42501 permission denied for function disable'),
              ('42501 permission denied for table cap_no_id') $$,
    'the reader cannot call enable or disable, nor read a table that is not captured');
insert into public.cap_reader_t values (1);
select results_eq($$ select * from pg_temp.take_log() order by 1, 2 $$,
                  $$ values ('public.cap_reader_t'::text, 1::bigint, 'I'::"char") $$,
                  'the table the reader added is captured');

select * from finish();
rollback;
