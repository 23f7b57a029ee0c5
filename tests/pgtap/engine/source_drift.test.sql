-- Source schema drift (sync._source_drift, before each pull), against a real legacy clone: the
-- baseline, a compatible retype of a used column and an added unused column absorbed (re-imported),
-- an excluded column renamed pausing only its entity (the credential column never imported under
-- its new name) until the registry excludes the new name, a mapping shipped ahead of its source
-- column pausing until the source has it, and the application's writes to the others flowing all
-- along. Runs without an enclosing transaction (every tick must see a new remote snapshot); the
-- schema changes run as the legacy tables' owner (the migration role, postgres), the writes as
-- legacy_app, both through dblink.
select plan(16);

select dblink_connect('owner', replace(replace(:'legacy_app_conninfo', 'user=legacy_app', 'user=postgres'),
                                       'password=legacy-app-pw', 'password=postgres'));
select dblink_connect('app', :'legacy_app_conninfo');
-- An unused column imported by connect_source and dropped before the first pull: reading the stale
-- foreign table would fail every pull.
select dblink_exec('owner', 'alter table dispatch_office add column legacy_fax text');
select is(sync.connect_source(:'legacy_conninfo') ->> 'connected', 'true', 'connected');
select dblink_exec('owner', 'alter table dispatch_office drop column legacy_fax');
call sync.tick();

select results_eq($$ select count(distinct entity)::integer, count(*) filter (where excluded)::integer from sync.source_shape $$,
                  $$ select count(*)::integer, 1 from sync.entities where available $$,
                  'the first pull records the shape of every registered source table (one excluded column)');
select results_eq($$ select sync._source_drift() $$, $$ values ('{}'::text[]) $$, 'nothing changed since: nothing paused');
select results_eq($$ select entity, kind, column_name, old_type, action, resolved_at is not null,
                            (select status from sync.runs order by id desc limit 1)
                       from sync.source_drift $$,
                  $$ values ('offices'::text, 'column_dropped'::text, 'legacy_fax'::text, 'text'::text, 'absorbed'::text, true,
                             'succeeded'::text) $$,
                  'a column dropped between the import and the first pull is absorbed (re-imported), and the pull succeeds');

-- Absorbed: a used column widened (integer → bigint: jsonb renders both alike), an unused column added.
select dblink_exec('owner', 'alter table dispatch_plan alter column version type bigint');
select dblink_exec('owner', 'alter table dispatch_office add column fax varchar(40)');
select dblink_exec('app', $$update dispatch_office set name = 'After fax' where id = 1$$);
call sync.tick();
select results_eq($$ select entity, kind, column_name, old_type, new_type, action, resolved_at is not null
                      from sync.source_drift where id > 1 order by id $$,
                  $$ values ('offices'::text, 'column_added'::text, 'fax'::text, null::text, 'character varying(40)'::text,
                             'absorbed'::text, true),
                            ('treatment_plans', 'column_retyped', 'version', 'integer', 'bigint', 'absorbed', true) $$,
                  'a compatible retype of a used column and an unused column added are recorded as absorbed');
select results_eq($$ select a.attname::text collate "default", format_type(a.atttypid, a.atttypmod) from pg_attribute a
                      where a.attrelid in ('sync_src.dispatch_office'::regclass, 'sync_src.dispatch_plan'::regclass)
                        and a.attname in ('fax', 'version') order by 1 $$,
                  $$ values ('fax'::text, 'character varying(40)'::text), ('version', 'bigint') $$,
                  'their foreign tables are re-imported');
select results_eq($$ select severity, message from sync.alerts where kind = 'source_drift' order by dedup_key $$,
                  $$ values ('info'::text, 'source table public.dispatch_office of entity offices changed in columns its mapping does not use (column_added fax); its foreign table was re-imported'::text),
                            ('info', 'source table public.dispatch_plan of entity treatment_plans changed in columns its mapping does not use (column_retyped version); its foreign table was re-imported') $$,
                  'each absorbed change is noted (info), without a row value');
select results_eq($$ select name from public.offices where legacy_office_id = 1 $$, $$ values ('After fax'::text) $$,
                  'the entity whose table changed keeps syncing');

-- Paused: the excluded credential column renamed. Only profiles stops; its changes wait, pending.
select dblink_exec('owner', 'alter table auth_user rename column password to pwd');
select dblink_exec('app', $$update auth_user set first_name = 'Paused' where id = 1$$);
select dblink_exec('app', $$update dispatch_office set name = 'Still flowing' where id = 1$$);
call sync.tick();
select results_eq($$ select entity, kind, column_name, new_name, action, resolved_at is null from sync.source_drift where id > 3 $$,
                  $$ values ('profiles'::text, 'column_renamed'::text, 'password'::text, 'pwd'::text, 'paused'::text, true) $$,
                  'an excluded column renamed pauses its entity (the registry must exclude the new name)');
select results_eq($$ select (select name from public.offices where legacy_office_id = 1),
                            (select first_name from public.profiles where legacy_user_id = 1) is distinct from 'Paused',
                            (select count(*)::integer from sync.inbox where entity = 'profiles' and status = 'pending' and legacy_id = 1) $$,
                  $$ values ('Still flowing'::text, true, 1) $$,
                  'the others keep syncing; the paused entity''s change is pulled and waits, pending');
select results_eq($$ select sync.health() #> '{source_drift,paused}', sync.health() ->> 'status' $$,
                  $$ values ('["profiles"]'::jsonb, 'degraded'::text) $$, 'health shows the paused entity');

update sync.entities set source_exclude = '{pwd}' where name = 'profiles';
call sync.tick();
call sync.tick();
select results_eq($$ select (select first_name from public.profiles where legacy_user_id = 1),
                            (select count(*)::integer from sync.source_drift where resolved_at is null),
                            (select count(*)::integer from pg_attribute where attrelid = 'sync_src.auth_user'::regclass
                                and attname in ('password', 'pwd') and not attisdropped) $$,
                  $$ values ('Paused'::text, 0, 0) $$,
                  'once the registry excludes the new name it resumes and catches up; the column is not imported');
select results_eq($$ select severity, resolved_at is not null from sync.alerts where dedup_key = 'source_drift:profiles' $$,
                  $$ values ('warning'::text, true) $$, 'its alert was raised and is resolved');

-- A mapping shipped ahead of its source migration: a used column the source does not have yet.
update sync.entities set source_columns = source_columns || '{checksum}' where name = 'files';
call sync.tick();
select results_eq($$ select entity, kind, column_name, action from sync.source_drift where resolved_at is null $$,
                  $$ values ('files'::text, 'column_missing'::text, 'checksum'::text, 'paused'::text) $$,
                  'a used column missing on the source pauses the entity');
select dblink_exec('owner', 'alter table dispatch_file add column checksum text');
call sync.tick();
select results_eq($$ select sync._drift_paused(), (select count(*)::integer from sync.source_drift where resolved_at is null) $$,
                  $$ values ('{}'::text[], 0) $$, 'the source migration satisfies it: it resumes');

-- A key column renamed: the application's writes keep working and are captured (capture v4).
select dblink_exec('owner', 'alter table dispatch_office rename column id to office_pk');
select dblink_exec('app', $$update dispatch_office set name = 'Renamed key' where office_pk = 1$$);
select results_eq($$ select tbl, pk, op::text from dblink('owner', 'select tbl, pk, op from sync_capture.log order by txid desc limit 1')
                      as l (tbl text, pk bigint, op "char") $$,
                  $$ values ('public.dispatch_office'::text, 1::bigint, 'U'::text) $$,
                  'a write after the key column''s rename succeeds and its key is logged');

select dblink_disconnect('owner');
select dblink_disconnect('app');
select * from finish();
