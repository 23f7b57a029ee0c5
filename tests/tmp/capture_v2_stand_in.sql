-- TEMPORARY (TODO(#9)): stands in for capture v2 (sql/capture/install.sql, another branch) in the
-- test templates until it lands, so that this branch's tests run with the three roles. A no-op once
-- the real install reports version 2 or later; delete this file and its one call in
-- scripts/lib/testenv.ts then.
--
-- psql variables: reader (the engine's source reader), app (the application's role).
-- Does what v2 does for the engine: version 2, `identity` on current_snapshot, the reader's grants;
-- and lets the application's role write captured tables (v1's capture functions run as the writer;
-- v2's run as their owner, so v2 needs no grant to the application on sync_capture).

\set ON_ERROR_STOP on
select coalesce((select max(version) from sync_capture.version), 0) < 2 as stand_in \gset
\if :stand_in
create or replace view sync_capture.current_snapshot as
select pg_current_snapshot()::text as snap,
       jsonb_build_object('system_identifier', (select s.system_identifier::text from pg_control_system() s),
                          'database', current_database(),
                          'timeline', (select c.timeline_id from pg_control_checkpoint() c)) as identity;
update sync_capture.version set version = 2;

grant usage on schema sync_capture to :"reader";
grant select on sync_capture.version, sync_capture.current_snapshot to :"reader";
grant select, delete on sync_capture.log to :"reader";
grant select, insert, update on sync_capture.tables to :"reader";
grant usage on schema public to :"reader";
grant select on all tables in schema public to :"reader";

grant usage on schema sync_capture to :"app";
grant insert on sync_capture.log to :"app";
\endif
