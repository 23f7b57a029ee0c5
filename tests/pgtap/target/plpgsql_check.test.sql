-- plpgsql_check over every PL/pgSQL function of the sync schema: no errors. The foreign tables
-- that sync.connect_source imports from the source exist only once a source is connected; here
-- they are stood in by local tables of the same shape (rolled back); the applier's work tables
-- are the session's own (sync._work_open creates them).
begin;
select plan(1);
select sync._work_open();

create schema sync_src_capture;
create table sync_src_capture.log (tbl text, pk bigint, op "char", txid xid8, captured_at timestamptz);
create table sync_src_capture.tables (tbl text primary key, enabled boolean, changed_at timestamptz);
create table sync_src_capture.version (version integer);
create table sync_src_capture.current_snapshot (snap text, identity jsonb);
create table sync_src_capture.logical (slot name, upto_nchanges integer, confirmed_lsn pg_lsn, confirmed_at timestamptz);
create table sync_src_capture.logical_changes (commit_lsn pg_lsn, end_lsn pg_lsn, xid bigint, committed_at timestamptz, pos bigint,
                                               tbl text, pk bigint, op text);
create table sync_src_capture.logical_status (slot text, wal_level text, reader text, can_replicate boolean, slot_exists boolean,
                                              plugin text, wal_status text, active boolean, confirmed_flush_lsn pg_lsn,
                                              restart_lsn pg_lsn, retained_bytes bigint, safe_wal_size bigint,
                                              confirmed_lsn pg_lsn, confirmed_at timestamptz);

select is_empty(
    $$ select p.oid::regprocedure::text, c.lineno, c.message
         from pg_proc p
         join pg_language l on l.oid = p.prolang and l.lanname = 'plpgsql'
         cross join lateral extensions.plpgsql_check_function_tb(p.oid, fatal_errors => false,
                                                                 other_warnings => false, extra_warnings => false) c
        where p.pronamespace = 'sync'::regnamespace and p.prokind in ('f', 'p') and p.prorettype <> 'trigger'::regtype
          and c.level = 'error' $$,
    'plpgsql_check finds no error in the sync schema'
);

select * from finish();
rollback;
