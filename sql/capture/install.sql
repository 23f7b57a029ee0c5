-- Capture on the legacy source, version 1. Idempotent: run again to install or upgrade.
-- Run by `deno task source:install -- <legacy-db-url> [--capture trigger|logical]`.
--
-- Creates schema sync_capture with:
--   log            one narrow row per changed key (table, key, op, writing xid8, capture time);
--                  no row image: the pull reads the rows themselves at its batch's snapshot
--   tables         the captured tables; the target writes it through postgres_fdw (connect_source)
--                  and a trigger here adds or removes the capture triggers: one call each way
--   current_snapshot  a view of pg_current_snapshot(), the pull's batch bound
--   enable(regclass) / disable(regclass)  the same by hand
-- Nothing is added to the application's tables but triggers. Logical mode also creates the
-- decoding slot `sync_slot` (wal2json) after checking wal_level.

\set ON_ERROR_STOP on

create schema if not exists sync_capture;
comment on schema sync_capture is 'Change capture for the Supabase sync (legacy-sync). Safe to drop to uninstall.';

create table if not exists sync_capture.version (
    version integer not null,
    installed_at timestamptz not null default now()
);

create table if not exists sync_capture.log (
    tbl text not null,
    pk bigint not null,
    op "char" not null,
    txid xid8 not null default pg_current_xact_id(),
    captured_at timestamptz not null default now()
);
-- The only index: what the pull and the prune need (changes after the cursor's xmin).
create index if not exists log_txid_idx on sync_capture.log (txid);

create table if not exists sync_capture.tables (
    tbl text primary key,
    enabled boolean not null default true,
    changed_at timestamptz not null default now()
);

create or replace view sync_capture.current_snapshot as
select pg_current_snapshot()::text as snap,
       jsonb_build_object('system_identifier', (select system_identifier::text from pg_control_system()),
                          'timeline', (select timeline_id from pg_control_checkpoint()),
                          'database', current_database(),
                          'database_oid', (select oid from pg_database where datname = current_database())) as identity;

-- Creates the capture trigger function and triggers for one table (single integer key `pk`).
-- Inserts and deletes log by statement from the transition table; updates by row, and only when
-- the row really changed (WHEN old.* is distinct from new.*): no-op updates are not logged.
create or replace function sync_capture.enable(p_table regclass, p_pk text default 'id')
returns void
language plpgsql
security definer
set search_path = ''
as $fn$
declare
    v_name text := p_table::text;
    v_fn text := format('sync_capture.%I', 'cap_' || replace(v_name, '.', '_'));
begin
    execute format($f$
        create or replace function %1$s() returns trigger language plpgsql set search_path = '' as $b$
        begin
            if tg_op = 'INSERT' then
                insert into sync_capture.log (tbl, pk, op) select %2$L, n.%3$I, 'I' from new_rows n;
            elsif tg_op = 'DELETE' then
                insert into sync_capture.log (tbl, pk, op) select %2$L, o.%3$I, 'D' from old_rows o;
            else
                insert into sync_capture.log (tbl, pk, op) values (%2$L, new.%3$I, 'U');
                if old.%3$I is distinct from new.%3$I then
                    insert into sync_capture.log (tbl, pk, op) values (%2$L, old.%3$I, 'D');
                end if;
            end if;
            return null;
        end;
        $b$
        $f$, v_fn, v_name, p_pk);
    execute format('drop trigger if exists sync_capture_ins on %s', p_table);
    execute format('drop trigger if exists sync_capture_del on %s', p_table);
    execute format('drop trigger if exists sync_capture_upd on %s', p_table);
    execute format('create trigger sync_capture_ins after insert on %s referencing new table as new_rows '
                   'for each statement execute function %s()', p_table, v_fn);
    execute format('create trigger sync_capture_del after delete on %s referencing old table as old_rows '
                   'for each statement execute function %s()', p_table, v_fn);
    execute format('create trigger sync_capture_upd after update on %s for each row '
                   'when (old.* is distinct from new.*) execute function %s()', p_table, v_fn);
end;
$fn$;

create or replace function sync_capture.disable(p_table regclass)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
    execute format('drop trigger if exists sync_capture_ins on %s', p_table);
    execute format('drop trigger if exists sync_capture_del on %s', p_table);
    execute format('drop trigger if exists sync_capture_upd on %s', p_table);
end;
$$;

-- Rows written into sync_capture.tables (by the target through postgres_fdw) switch capture.
create or replace function sync_capture.on_tables_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if tg_op = 'DELETE' or not new.enabled then
        perform sync_capture.disable(coalesce(new.tbl, old.tbl)::regclass);
    else
        perform sync_capture.enable(new.tbl::regclass);
    end if;
    return null;
end;
$$;
drop trigger if exists tables_change on sync_capture.tables;
create trigger tables_change after insert or update or delete on sync_capture.tables
    for each row execute function sync_capture.on_tables_change();

-- Re-create the capture functions of tables already enabled (an upgrade changes their body).
do $$
begin
    perform sync_capture.enable(tbl::regclass) from sync_capture.tables where enabled and to_regclass(tbl) is not null;
end;
$$;

delete from sync_capture.version;
insert into sync_capture.version (version) values (1);

-- Logical capture: the decoding slot, after checking that the server can decode.
select :'capture_mode' = 'logical' as want_logical \gset
\if :want_logical
do $$
begin
    if current_setting('wal_level') <> 'logical' then
        raise exception 'logical capture needs wal_level = logical on the source (it is %)', current_setting('wal_level')
            using hint = 'set wal_level = logical and restart the source, or use --capture trigger';
    end if;
    if not exists (select 1 from pg_replication_slots where slot_name = 'sync_slot') then
        perform pg_create_logical_replication_slot('sync_slot', 'wal2json');
    end if;
end;
$$;
\endif
