-- Capture on the legacy source, version 4. Idempotent: run again to install, or to upgrade from
-- version 1, 2 or 3 in place (log rows kept, the application writing all along). A second run changes
-- nothing and takes no lock on an application table.
-- Run by `deno task source:install -- <legacy-db-url> [--capture trigger|logical] [--reader <role>]`
-- as the owner of the application's tables (psql variables: capture_mode, reader).
--
-- Creates schema sync_capture with:
--   log            one narrow row per changed key (table, key, op, writing xid8, capture time);
--                  no row image: the pull reads the rows themselves at its batch's snapshot
--   tables         the captured tables; the target writes it through postgres_fdw (connect_source)
--                  and a trigger here adds or removes the capture triggers: one call each way
--   version        the installed version (3: adds read_batch and prune_log to version 2; 4: capture
--                  functions that survive a renamed key column or table)
--   current_snapshot  pg_current_snapshot() (the pull's batch bound) and the source's identity
--   readers        the roles granted the engine's reader privileges (--reader)
--   enable(regclass) / disable(regclass)  the same as writing `tables`, by hand
--   read_batch(jsonb) / prune_log(jsonb)  the snapshot pull's source side for the HTTP bridge (the
--                  sync Edge Function reads batches with them where the target cannot reach the source)
-- Nothing is added to the application's tables but triggers: per captured table one security
-- definer function (sync_capture.cap_<schema>_<table, bounded>_<hash>) and four triggers, all
-- `enable always`: inserts and deletes logged per statement from transition tables, updates per
-- row when the row's binary image changed (works for every column type), truncate logged as a
-- delete of every row it removes. Nothing in sync_capture is usable by PUBLIC.
-- Logical mode (--capture logical) installs no trigger: a wal2json slot, sync_capture.logical,
-- logical_changes and logical_status instead (see the logical section at the end).

\set ON_ERROR_STOP on
\if :{?capture_mode}
\else
\set capture_mode trigger
\endif
\if :{?reader}
\else
\set reader ''
\endif

-- A missing reader role stops the install before it changes anything.
select set_config('sync_capture.install_reader', :'reader', false) as install_reader \gset
do $$
declare
    v_reader text := current_setting('sync_capture.install_reader');
begin
    if v_reader <> '' and not exists (select 1 from pg_catalog.pg_roles where rolname = v_reader) then
        raise exception 'reader role "%" does not exist', v_reader
            using errcode = 'undefined_object',
                  hint = format('create it first (create role %I login password ...), then run source:install again', v_reader);
    end if;
end;
$$;

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

create table if not exists sync_capture.readers (
    role name primary key,
    granted_at timestamptz not null default now()
);
comment on table sync_capture.readers is
    'Roles given the engine''s reader privileges by source:install --reader; a table added to capture is granted to them.';

-- Runs one DDL statement with a short lock_timeout, retrying a few times with a growing, jittered
-- pause, so that a long transaction on the object makes it fail instead of queueing the
-- application's statements behind it. Tuning: settings sync_capture.lock_timeout (default 250ms)
-- and sync_capture.lock_attempts (default 8). Raises 55P03 naming p_object after the last attempt.
create or replace function sync_capture._with_lock_retry(p_sql text, p_object text)
returns void
language plpgsql
set search_path = ''
as $$
declare
    v_timeout text := coalesce(nullif(current_setting('sync_capture.lock_timeout', true), ''), '250ms');
    v_attempts integer := coalesce(nullif(current_setting('sync_capture.lock_attempts', true), '')::integer, 8);
    v_saved text := current_setting('lock_timeout');
begin
    -- A loop, not one statement: each attempt waits at most v_timeout, then the queue behind it drains.
    for v_try in 1..v_attempts loop
        begin
            perform set_config('lock_timeout', v_timeout, true);
            execute p_sql;
            perform set_config('lock_timeout', v_saved, true);
            return;
        exception when lock_not_available then
            if v_try = v_attempts then
                raise exception 'capture could not lock % after % attempts (lock_timeout %): another transaction holds it',
                                p_object, v_attempts, v_timeout
                    using errcode = 'lock_not_available',
                          detail = format('statement: %s', p_sql),
                          hint = 'nothing was changed on ' || p_object || '; find the holder in pg_locks / pg_stat_activity and retry when it has finished';
            end if;
        end;
        perform pg_sleep(least(0.1 * v_try, 1.0) * (0.5 + random()));
    end loop;
end;
$$;
revoke all on function sync_capture._with_lock_retry(text, text) from public;

-- The capture function's name for a table: bounded (at most 53 characters, so never truncated at 63)
-- and unique through a hash of the qualified name.
create or replace function sync_capture._function_name(p_table regclass)
returns text
language sql
stable
set search_path = ''
as $$
    select 'cap_' || left(regexp_replace(lower(n.nspname || '_' || c.relname), '[^a-z0-9_]+', '_', 'g'), 40)
           || '_' || left(md5(n.nspname || '.' || c.relname), 8)
      from pg_catalog.pg_class c
      join pg_catalog.pg_namespace n on n.oid = c.relnamespace
     where c.oid = p_table;
$$;
revoke all on function sync_capture._function_name(regclass) from public;

-- Refuses what capture must not touch: anything but an ordinary application table, and a table
-- without the integer key column (its writes would fail in the trigger).
create or replace function sync_capture._check_table(p_table regclass, p_pk text)
returns void
language plpgsql
stable
set search_path = ''
as $$
declare
    v_kind "char";
    v_schema name;
    v_type regtype;
begin
    select c.relkind, n.nspname into v_kind, v_schema
      from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
     where c.oid = p_table;
    if v_kind is distinct from 'r' then
        raise exception 'capture works on ordinary tables only: % is not one', p_table using errcode = 'wrong_object_type';
    end if;
    if v_schema in ('pg_catalog', 'information_schema', 'pg_toast', 'sync_capture') or v_schema like 'pg\_temp\_%' then
        raise exception 'capture refuses table % (schema %)', p_table, v_schema using errcode = 'insufficient_privilege';
    end if;
    select a.atttypid::regtype into v_type
      from pg_catalog.pg_attribute a
     where a.attrelid = p_table and a.attname = p_pk and a.attnum > 0 and not a.attisdropped;
    if v_type is null or v_type not in ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype) then
        raise exception 'capture needs an integer key column % on table %', p_pk, p_table
            using errcode = 'undefined_column', detail = format('found type: %s', coalesce(v_type::text, 'no such column'));
    end if;
end;
$$;
revoke all on function sync_capture._check_table(regclass, text) from public;

-- The body of a table's capture function. The first line names the version: a body that differs
-- (older version, other key) makes enable() replace the function and the triggers.
-- Version 4 survives the application's schema migrations: the key column is found by its number
-- (a renamed key column is read under its new name, through dynamic SQL until enable() runs again;
-- a dropped one logs nothing rather than failing the write), a truncate names the table by its
-- oid, and the logged table name stays the one capture was enabled under (the engine maps it).
create or replace function sync_capture._function_body(p_table regclass, p_pk text)
returns text
language sql
stable
set search_path = ''
as $$
    select format($b$
-- legacy-sync capture v4
declare
    v_pk text;
    v_old bigint;
    v_new bigint;
begin
    -- The key column by number: one cached catalog lookup, so a renamed key never fails a write.
    select a.attname into v_pk from pg_catalog.pg_attribute a
     where a.attrelid = tg_relid and a.attnum = %3$s and not a.attisdropped;
    if v_pk is null then
        return null;  -- the key column was dropped: nothing to log (the engine pauses the entity)
    end if;
    if tg_op = 'UPDATE' then
        if v_pk = %2$L then
            v_new := new.%2$I;
            v_old := old.%2$I;
        else
            execute pg_catalog.format('select ($1).%%1$I::bigint, ($2).%%1$I::bigint', v_pk) into v_new, v_old using new, old;
        end if;
        insert into sync_capture.log (tbl, pk, op) values (%1$L, v_new, 'U');
        if v_old is distinct from v_new then
            insert into sync_capture.log (tbl, pk, op) values (%1$L, v_old, 'D');
        end if;
    elsif tg_op = 'INSERT' then
        if v_pk = %2$L then
            insert into sync_capture.log (tbl, pk, op) select %1$L, n.%2$I, 'I' from new_rows n;
        else
            execute pg_catalog.format('insert into sync_capture.log (tbl, pk, op) select $1, n.%%I, ''I'' from new_rows n', v_pk)
              using %1$L::text;
        end if;
    elsif tg_op = 'DELETE' then
        if v_pk = %2$L then
            insert into sync_capture.log (tbl, pk, op) select %1$L, o.%2$I, 'D' from old_rows o;
        else
            execute pg_catalog.format('insert into sync_capture.log (tbl, pk, op) select $1, o.%%I, ''D'' from old_rows o', v_pk)
              using %1$L::text;
        end if;
    else
        -- TRUNCATE, before it runs: every row it removes is a delete (the table by oid: it may be renamed).
        execute pg_catalog.format('insert into sync_capture.log (tbl, pk, op) select $1, t.%%I, ''D'' from %%s t', v_pk, tg_relid::regclass)
          using %1$L::text;
    end if;
    return null;
end;
$b$, p_table::text, p_pk,
    (select a.attnum from pg_catalog.pg_attribute a where a.attrelid = p_table and a.attname = p_pk and not a.attisdropped));
$$;
revoke all on function sync_capture._function_body(regclass, text) from public;

-- Drops the given capture functions (all of sync_capture's when null) that no trigger uses.
create or replace function sync_capture._drop_unused(p_functions oid[] default null)
returns void
language plpgsql
set search_path = ''
as $$
declare
    v_fn regprocedure;
begin
    -- One DROP per function: DDL takes no set.
    for v_fn in
        select p.oid::regprocedure from pg_catalog.pg_proc p
         where p.pronamespace = 'sync_capture'::regnamespace
           and p.proname like 'cap\_%'
           and p.prorettype = 'trigger'::regtype
           and (p_functions is null or p.oid = any (p_functions))
           and not exists (select 1 from pg_catalog.pg_trigger t where t.tgfoid = p.oid)
    loop
        execute format('drop function %s', v_fn);
    end loop;
end;
$$;
revoke all on function sync_capture._drop_unused(oid[]) from public;

-- Adds (or upgrades) capture on one table: its security definer capture function and four
-- triggers, all `enable always`. Replaced in one transaction under a SHARE ROW EXCLUSIVE lock
-- (taken with retries), so no write falls between the old triggers and the new ones. A table
-- already captured by this version is left alone: no lock, no catalog change.
-- Raises: 42809 / 42501 / 42703 (table refused, see _check_table), 55P03 (lock not obtained).
create or replace function sync_capture.enable(p_table regclass, p_pk text default 'id')
returns void
language plpgsql
security definer
set search_path = ''
as $fn$
declare
    v_fn text;
    v_body text;
    v_oid oid;
    v_old oid[];
    v_names constant text[] := array['sync_capture_ins', 'sync_capture_del', 'sync_capture_upd', 'sync_capture_trunc'];
begin
    -- A key column renamed since capture was enabled: the one the current capture function reads by number.
    if not exists (select 1 from pg_catalog.pg_attribute a
                    where a.attrelid = p_table and a.attname = p_pk and a.attnum > 0 and not a.attisdropped) then
        select coalesce(max(a.attname), p_pk) into p_pk
          from pg_catalog.pg_trigger t
          join pg_catalog.pg_proc p on p.oid = t.tgfoid
          join pg_catalog.pg_attribute a on a.attrelid = p_table and not a.attisdropped
               and a.attnum = (substring(p.prosrc from 'a\.attnum = (\d+) and'))::smallint
         where t.tgrelid = p_table and t.tgname = 'sync_capture_ins' and p.prosrc like '%legacy-sync capture v4%';
    end if;
    perform sync_capture._check_table(p_table, p_pk);
    v_fn := sync_capture._function_name(p_table);
    v_body := sync_capture._function_body(p_table, p_pk);
    select p.oid into v_oid from pg_catalog.pg_proc p
     where p.pronamespace = 'sync_capture'::regnamespace and p.proname = v_fn and p.pronargs = 0
       and p.prosrc = v_body and p.prosecdef and p.proconfig = array['search_path=""']
       and not pg_catalog.has_function_privilege('public', p.oid, 'execute');
    select array_agg(distinct t.tgfoid) into v_old from pg_catalog.pg_trigger t
     where t.tgrelid = p_table and t.tgname = any (v_names);
    if v_oid is not null and (
        select count(*) = 4 and bool_and(t.tgfoid = v_oid and t.tgenabled = 'A')
          from pg_catalog.pg_trigger t where t.tgrelid = p_table and t.tgname = any (v_names)) then
        return;
    end if;

    perform sync_capture._with_lock_retry(format('lock table %s in share row exclusive mode', p_table), p_table::text);
    execute format('create or replace function sync_capture.%I() returns trigger language plpgsql security definer '
                   'set search_path = '''' as %L', v_fn, v_body);
    execute format('revoke all on function sync_capture.%I() from public', v_fn);
    execute format('comment on function sync_capture.%I() is %L', v_fn,
                   format('Capture of %s (legacy-sync): logs the key of every inserted, updated, deleted or truncated row.', p_table));
    execute format('create or replace trigger sync_capture_ins after insert on %s referencing new table as new_rows '
                   'for each statement execute function sync_capture.%I()', p_table, v_fn);
    execute format('create or replace trigger sync_capture_del after delete on %s referencing old table as old_rows '
                   'for each statement execute function sync_capture.%I()', p_table, v_fn);
    -- Binary image comparison (record *<> record) needs no equality operator: json, point, xml and
    -- any column added later work; an update that changes nothing is not logged.
    execute format('create or replace trigger sync_capture_upd after update on %s for each row '
                   'when (old.* *<> new.*) execute function sync_capture.%I()', p_table, v_fn);
    execute format('create or replace trigger sync_capture_trunc before truncate on %s '
                   'for each statement execute function sync_capture.%I()', p_table, v_fn);
    execute format('alter table %s enable always trigger sync_capture_ins, enable always trigger sync_capture_del, '
                   'enable always trigger sync_capture_upd, enable always trigger sync_capture_trunc', p_table);
    perform sync_capture._drop_unused(v_old);
end;
$fn$;
comment on function sync_capture.enable(regclass, text) is
    'Captures a table (integer key column, default id); upgrades an older capture of it in place. Idempotent. Returns nothing.';
revoke all on function sync_capture.enable(regclass, text) from public;

-- Removes capture from one table: its triggers (ACCESS EXCLUSIVE lock, taken with retries) and
-- its capture function. A table without capture triggers is left alone (no lock).
create or replace function sync_capture.disable(p_table regclass)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_old oid[];
begin
    select array_agg(distinct t.tgfoid) into v_old from pg_catalog.pg_trigger t
     where t.tgrelid = p_table and t.tgname = any (array['sync_capture_ins', 'sync_capture_del', 'sync_capture_upd', 'sync_capture_trunc']);
    if v_old is null then
        return;
    end if;
    perform sync_capture._with_lock_retry(format('lock table %s in access exclusive mode', p_table), p_table::text);
    execute format('drop trigger if exists sync_capture_ins on %s', p_table);
    execute format('drop trigger if exists sync_capture_del on %s', p_table);
    execute format('drop trigger if exists sync_capture_upd on %s', p_table);
    execute format('drop trigger if exists sync_capture_trunc on %s', p_table);
    perform sync_capture._drop_unused(v_old);
end;
$$;
comment on function sync_capture.disable(regclass) is
    'Stops capturing a table (drops its capture triggers and function). Idempotent. Returns nothing.';
revoke all on function sync_capture.disable(regclass) from public;

-- The privileges the engine's reader role needs, one row per grant (the captured tables and
-- their schemas included): what `source:install` states, and grants with --reader.
create or replace function sync_capture._reader_grants()
returns table (privileges text, object text)
language sql
stable
set search_path = ''
as $$
    select g.privileges, g.object from (
        values (1, 'usage', 'schema sync_capture'),
               (2, 'select, delete', 'table sync_capture.log'),
               (3, 'select, insert, update', 'table sync_capture.tables'),
               (4, 'select', 'table sync_capture.version'),
               (5, 'select', 'table sync_capture.current_snapshot'),
               (6, 'execute', 'function sync_capture.prune_log(jsonb)'),
               (6, 'execute', 'function sync_capture.read_batch(jsonb)')
        union
        select 7, 'usage', format('schema %I', n.nspname)
          from sync_capture.tables t
          join pg_catalog.pg_class c on c.oid = pg_catalog.to_regclass(t.tbl)
          join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        union
        select 8, 'select', format('table %s', pg_catalog.to_regclass(t.tbl))
          from sync_capture.tables t where pg_catalog.to_regclass(t.tbl) is not null
    ) as g (ord, privileges, object)
    order by g.ord, g.object;
$$;
revoke all on function sync_capture._reader_grants() from public;

-- Grants a table's reader privileges (SELECT on it, USAGE on its schema) to every recorded reader.
create or replace function sync_capture._grant_readers(p_table regclass)
returns void
language plpgsql
set search_path = ''
as $$
declare
    v_role name;
begin
    -- One GRANT per reader: DDL takes no set.
    for v_role in select r.role from sync_capture.readers r join pg_catalog.pg_roles a on a.rolname = r.role loop
        execute format('grant usage on schema %I to %I',
                       (select n.nspname from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
                         where c.oid = p_table), v_role);
        execute format('grant select on table %s to %I', p_table, v_role);
    end loop;
end;
$$;
revoke all on function sync_capture._grant_readers(regclass) from public;

-- Gives a role exactly what the engine's source reader needs and records it as a reader (tables
-- added to capture later are granted to it too). Returns the grants made, as statements.
-- Raises 42704 when the role does not exist.
create or replace function sync_capture._grant_reader(p_role text)
returns setof text
language plpgsql
set search_path = ''
as $$
declare
    v_grant record;
    v_sql text;
begin
    if not exists (select 1 from pg_catalog.pg_roles where rolname = p_role) then
        raise exception 'reader role "%" does not exist', p_role
            using errcode = 'undefined_object',
                  hint = format('create it first (create role %I login password ...), then run source:install again', p_role);
    end if;
    insert into sync_capture.readers (role) values (p_role) on conflict do nothing;
    -- One GRANT per object: DDL takes no set.
    for v_grant in select * from sync_capture._reader_grants() loop
        v_sql := format('grant %s on %s to %I', v_grant.privileges, v_grant.object, p_role);
        execute v_sql;
        return next v_sql;
    end loop;
end;
$$;
revoke all on function sync_capture._grant_reader(text) from public;

-- Rows written into sync_capture.tables (by the target through postgres_fdw) switch capture,
-- as the owner: the writer needs no privilege beyond INSERT/UPDATE/DELETE on sync_capture.tables.
create or replace function sync_capture.on_tables_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if tg_op = 'DELETE' then
        if pg_catalog.to_regclass(old.tbl) is not null then
            perform sync_capture.disable(old.tbl::regclass);
        end if;
        return null;
    end if;
    if tg_op = 'UPDATE' then
        if old.tbl <> new.tbl and pg_catalog.to_regclass(old.tbl) is not null then
            perform sync_capture.disable(old.tbl::regclass);
        end if;
    end if;
    if new.enabled then
        perform sync_capture.enable(new.tbl::regclass);
    elsif pg_catalog.to_regclass(new.tbl) is not null then
        perform sync_capture.disable(new.tbl::regclass);
    end if;
    if pg_catalog.to_regclass(new.tbl) is not null then
        perform sync_capture._grant_readers(new.tbl::regclass);
    end if;
    return null;
end;
$$;
revoke all on function sync_capture.on_tables_change() from public;

-- The trigger on sync_capture.tables, `enable always`, changed only when missing.
do $$
begin
    if not exists (select 1 from pg_catalog.pg_trigger where tgrelid = 'sync_capture.tables'::regclass and tgname = 'tables_change') then
        perform sync_capture._with_lock_retry(
            'create trigger tables_change after insert or update or delete on sync_capture.tables '
            'for each row execute function sync_capture.on_tables_change()', 'sync_capture.tables');
    end if;
    if (select tgenabled from pg_catalog.pg_trigger where tgrelid = 'sync_capture.tables'::regclass and tgname = 'tables_change') <> 'A' then
        perform sync_capture._with_lock_retry('alter table sync_capture.tables enable always trigger tables_change',
                                              'sync_capture.tables');
    end if;
end;
$$;

-- The pull's batch bound and the source's identity, read in one statement. Replaced only when the
-- identity column is missing (version 1), with retries: the pull may be reading it.
do $$
begin
    if not exists (select 1 from pg_catalog.pg_attribute
                    where attrelid = pg_catalog.to_regclass('sync_capture.current_snapshot') and attname = 'identity') then
        perform sync_capture._with_lock_retry($v$
            create or replace view sync_capture.current_snapshot as
            select pg_catalog.pg_current_snapshot()::text as snap,
                   pg_catalog.jsonb_build_object(
                       'system_identifier', s.system_identifier::text,
                       'timeline', c.timeline_id,
                       'database', pg_catalog.current_database()::text,
                       'database_oid', d.oid::bigint) as identity
              from pg_catalog.pg_control_system() s
             cross join pg_catalog.pg_control_checkpoint() c
              join pg_catalog.pg_database d on d.datname = pg_catalog.current_database()
        $v$, 'sync_capture.current_snapshot');
        comment on view sync_capture.current_snapshot is
            'The source''s current snapshot (the pull''s batch bound) and its identity (system identifier, timeline, database).';
    end if;
end;
$$;

-- The HTTP bridge's side of the snapshot pull (version 3): the same batch contract as the target's
-- sync._pull over postgres_fdw, as two calls that the sync Edge Function makes as the reader.
--
-- sync_capture.read_batch(p_request jsonb) returns jsonb
-- Reads one bounded batch. p_request is what the target's sync.get_bridge_request() or
-- sync.ingest_batch() returned: {cursor, pending, page_block, page_end, page_blocks, limit,
-- tables: [{table, key, exclude}]}. The batch is every logged change whose transaction is visible in
-- the current snapshot S and not in the cursor snapshot C, at most `limit` changes; when there are
-- more (a backlog), S becomes the bound and the log is read in pages of its blocks (ctid ranges),
-- exactly as sync._pull does. Each changed key's row is read in this same snapshot (absent = delete),
-- minus its `exclude` columns; only tables in sync_capture.tables are read. Must run in a REPEATABLE
-- READ transaction (one snapshot for the bound and the rows). Writes nothing.
-- Returns {from: C, to: bound, snapshot: S, identity, source_version, page: null | {block, blocks, end},
-- changes, rows: [{table, key, op, image, captured_at, changes}]}.
-- Raises 25001 outside REPEATABLE READ, 22023 on a malformed request.
create or replace function sync_capture.read_batch(p_request jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
set jit = off
as $$
declare
    v_limit integer := (p_request ->> 'limit')::integer;
    v_cursor_text text := p_request ->> 'cursor';
    v_cursor pg_snapshot := (p_request ->> 'cursor')::pg_snapshot;
    v_pending text := p_request ->> 'pending';
    v_block bigint := (p_request ->> 'page_block')::bigint;
    v_end bigint := (p_request ->> 'page_end')::bigint;
    v_blocks integer := (p_request ->> 'page_blocks')::integer;
    v_n integer;
    v_snap text;
    v_identity jsonb;
    v_bound pg_snapshot;
    v_lo xid8;
    v_page jsonb;
    v_tbls text[];
    v_pks bigint[];
    v_ats timestamptz[];
    v_rows jsonb := '[]';
    v_part jsonb;
    v_t record;
begin
    if pg_catalog.current_setting('transaction_isolation') <> 'repeatable read' then
        raise exception 'sync_capture.read_batch must run in a REPEATABLE READ transaction (it runs in %)',
                        pg_catalog.current_setting('transaction_isolation')
            using errcode = 'active_sql_transaction', hint = 'begin isolation level repeatable read';
    end if;
    if v_limit is null or v_limit < 1 or pg_catalog.jsonb_typeof(p_request -> 'tables') is distinct from 'array'
       or (v_pending is not null and (v_block is null or v_end is null or v_blocks is null or v_blocks < 1)) then
        raise exception 'sync_capture.read_batch: malformed request (limit, tables, or paging fields)'
            using errcode = 'invalid_parameter_value';
    end if;
    -- First statement: fixes this transaction's snapshot, the batch's bound.
    select c.snap, c.identity into v_snap, v_identity from sync_capture.current_snapshot c;
    v_lo := coalesce(pg_catalog.pg_snapshot_xmin(v_cursor), '0'::xid8);

    if v_pending is null then
        v_bound := v_snap::pg_snapshot;
        select pg_catalog.array_agg(l.tbl), pg_catalog.array_agg(l.pk), pg_catalog.array_agg(l.captured_at)
          into v_tbls, v_pks, v_ats
          from (select l.tbl, l.pk, l.captured_at
                  from sync_capture.log l
                 where l.txid >= v_lo and l.txid < pg_catalog.pg_snapshot_xmax(v_bound)
                   and pg_catalog.pg_visible_in_snapshot(l.txid, v_bound)
                   and (v_cursor is null or not pg_catalog.pg_visible_in_snapshot(l.txid, v_cursor))
                 limit v_limit + 1) l;
        if coalesce(pg_catalog.cardinality(v_tbls), 0) > v_limit then
            -- A backlog: page through the log's blocks under this snapshot.
            v_pending := v_snap;
            v_block := 0;
            v_end := coalesce((select (pg_catalog.max(l.ctid)::text::point)[0]::bigint + 1 from sync_capture.log l), 0);
            v_blocks := greatest(1, v_limit / 100);
        end if;
    end if;
    if v_pending is not null then
        v_bound := v_pending::pg_snapshot;
        -- Halves the page until it holds at most limit changes; one block (at most 291 log rows) is
        -- the floor and is read whole, never cut.
        loop
            v_n := v_blocks;
            select pg_catalog.array_agg(l.tbl), pg_catalog.array_agg(l.pk), pg_catalog.array_agg(l.captured_at)
              into v_tbls, v_pks, v_ats
              from (select l.tbl, l.pk, l.captured_at
                      from sync_capture.log l
                     where l.ctid >= format('(%s,0)', v_block)::tid and l.ctid < format('(%s,0)', v_block + v_n)::tid
                       and l.txid < pg_catalog.pg_snapshot_xmax(v_bound)
                       and pg_catalog.pg_visible_in_snapshot(l.txid, v_bound)
                       and (v_cursor is null or not pg_catalog.pg_visible_in_snapshot(l.txid, v_cursor))
                     limit case when v_n = 1 then null else v_limit + 1 end) l;
            exit when coalesce(pg_catalog.cardinality(v_tbls), 0) <= v_limit or v_n = 1;
            v_blocks := greatest(1, v_n / 2);
        end loop;
        v_page := pg_catalog.jsonb_build_object('block', v_block, 'blocks', v_n, 'end', v_end);
    end if;

    -- One read per captured table (dynamic SQL: the table is named by the request): the net effect
    -- per key, its row's image in this snapshot or a delete.
    for v_t in
        select r."table" as tbl, pg_catalog.to_regclass(r."table") as rel, r.key, coalesce(r.exclude, '{}') as exclude
          from pg_catalog.jsonb_to_recordset(p_request -> 'tables') as r ("table" text, key text, exclude text[])
          join sync_capture.tables c on c.tbl = r."table"
         where r."table" = any (v_tbls) and pg_catalog.to_regclass(r."table") is not null
         order by 1
    loop
        execute format($q$
            with k as (select u.pk, pg_catalog.max(u.at) as captured_at, pg_catalog.count(*)::integer as n
                         from unnest($2::text[], $3::bigint[], $4::timestamptz[]) as u (tbl, pk, at)
                        where u.tbl = $1
                        group by u.pk)
            select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                       'table', $1, 'key', k.pk, 'op', case when r.img is null then 'delete' else 'upsert' end,
                       'image', r.img, 'captured_at', k.captured_at, 'changes', k.n) order by k.pk), '[]')
              from k
              left join (select s.%1$I::bigint as pk, pg_catalog.to_jsonb(s) operator(pg_catalog.-) $5 as img
                           from %2$s s where s.%1$I = any (array(select k2.pk from k k2))) r on r.pk = k.pk $q$,
            v_t.key, v_t.rel)
        into v_part
        using v_t.tbl, v_tbls, v_pks, v_ats, v_t.exclude;
        v_rows := v_rows operator(pg_catalog.||) v_part;
    end loop;

    return pg_catalog.jsonb_build_object(
        'from', v_cursor_text, 'to', v_bound::text, 'snapshot', v_snap, 'identity', v_identity,
        'source_version', pg_catalog.pg_snapshot_xmax(v_snap::pg_snapshot)::text::bigint,
        'page', v_page, 'changes', coalesce(pg_catalog.cardinality(v_tbls), 0), 'rows', v_rows);
end;
$$;
comment on function sync_capture.read_batch(jsonb) is
    'Reads one bounded batch of the snapshot pull (the HTTP bridge''s source side): the changes after the request''s cursor with their rows'' images in this transaction''s snapshot (REPEATABLE READ). Writes nothing. Returns the batch as jsonb.';
revoke all on function sync_capture.read_batch(jsonb) from public;

-- sync_capture.prune_log(p_state jsonb) returns bigint
-- Deletes the log rows that the target has committed, given the target's cursor and paging state
-- after its commit (what sync.ingest_batch or sync.get_bridge_request returned): every row older
-- than the cursor's xmin, and the last ingested page of a backlog (the blocks before page_block,
-- its changes within the bound). The same deletes as sync._pull's. Idempotent. Returns rows deleted.
create or replace function sync_capture.prune_log(p_state jsonb)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_cursor pg_snapshot := (p_state ->> 'cursor')::pg_snapshot;
    v_bound pg_snapshot := (p_state ->> 'pending')::pg_snapshot;
    v_block bigint := (p_state ->> 'page_block')::bigint;
    v_blocks integer := (p_state ->> 'page_blocks')::integer;
    v_n bigint;
    v_total bigint := 0;
begin
    if v_cursor is not null then
        delete from sync_capture.log l where l.txid < pg_catalog.pg_snapshot_xmin(v_cursor);
        get diagnostics v_total = row_count;
    end if;
    if v_bound is not null and v_block > 0 and v_blocks > 0 then
        delete from sync_capture.log l
         where l.ctid >= format('(%s,0)', greatest(v_block - v_blocks, 0))::tid and l.ctid < format('(%s,0)', v_block)::tid
           and l.txid < pg_catalog.pg_snapshot_xmax(v_bound)
           and pg_catalog.pg_visible_in_snapshot(l.txid, v_bound)
           and (v_cursor is null or not pg_catalog.pg_visible_in_snapshot(l.txid, v_cursor));
        get diagnostics v_n = row_count;
        v_total := v_total + v_n;
    end if;
    return v_total;
end;
$$;
comment on function sync_capture.prune_log(jsonb) is
    'Deletes the change log rows that the target has committed, given its cursor and paging state. Idempotent. Returns rows deleted.';
revoke all on function sync_capture.prune_log(jsonb) from public;

-- Upgrade the captured tables, one transaction each (psql autocommit), so that a lock waited for
-- on one table never holds the others: each gets the current capture function and triggers.
select format('do $d$ begin perform sync_capture.%s(%L::regclass); end $d$',
              case when enabled then 'enable' else 'disable' end, tbl)
  from sync_capture.tables
 where pg_catalog.to_regclass(tbl) is not null
 order by tbl
\gexec

-- Capture functions no trigger uses any more (version 1's cap_<schema>_<table>, tables dropped).
do $$ begin perform sync_capture._drop_unused(); end $$;

-- Nothing in sync_capture for PUBLIC. Revoked only where PUBLIC holds something (functions get
-- EXECUTE by default): a REVOKE rewrites the catalog row even when it changes nothing. Default
-- privileges cannot help here: per-schema ones only add to the global default (EXECUTE for PUBLIC).
do $$
declare
    v_sql text;
begin
    -- One REVOKE per object: DDL takes no set.
    for v_sql in
        select format('revoke all on schema %I from public', n.nspname)
          from pg_catalog.pg_namespace n
         where n.nspname = 'sync_capture'
           and exists (select 1 from pg_catalog.aclexplode(coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) a
                        where a.grantee = 0)
        union all
        select format('revoke all on %s %s from public', case when c.relkind = 'S' then 'sequence' else 'table' end, c.oid::regclass)
          from pg_catalog.pg_class c
         where c.relnamespace = 'sync_capture'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
           and exists (select 1 from pg_catalog.aclexplode(coalesce(c.relacl, pg_catalog.acldefault(
                           case when c.relkind = 'S' then 's' else 'r' end::"char", c.relowner))) a
                        where a.grantee = 0)
        union all
        select format('revoke all on function %s from public', p.oid::regprocedure)
          from pg_catalog.pg_proc p
         where p.pronamespace = 'sync_capture'::regnamespace
           and exists (select 1 from pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) a
                        where a.grantee = 0)
    loop
        execute v_sql;
    end loop;
end;
$$;

-- Readers recorded by an earlier version get the functions it added (the rest they have).
do $$
declare
    v_sql text;
begin
    -- One GRANT per reader and function: DDL takes no set.
    for v_sql in
        select format('grant execute on function %s to %I', f.fn, r.role)
          from sync_capture.readers r
          join pg_catalog.pg_roles a on a.rolname = r.role
         cross join (values ('sync_capture.read_batch(jsonb)'), ('sync_capture.prune_log(jsonb)')) as f (fn)
         where not pg_catalog.has_function_privilege(r.role, f.fn, 'execute')
    loop
        execute v_sql;
    end loop;
end;
$$;

insert into sync_capture.version (version) select 4 where not exists (select 1 from sync_capture.version);
update sync_capture.version set version = 4, installed_at = now() where version <> 4;

-- The engine's reader: granted with --reader, else stated.
select :'reader' <> '' as want_reader \gset
\if :want_reader
select g from sync_capture._grant_reader(:'reader') g;
\else
select format('grant %s on %s to <reader>', privileges, object) from sync_capture._reader_grants();
\endif

-- Logical capture (--capture logical): no trigger on any application table; a wal2json decoding
-- slot instead, and the objects the target reads and writes through postgres_fdw (which cannot call
-- functions): a view over the slot's peek, a control row whose update confirms (advances) the slot,
-- and a status view. Idempotent; the slot is created once and kept (its position is the capture's).
--   logical          one row: the slot's name (sync_ + the database's name, bounded, + a hash: many
--                    databases share a cluster), how many rows one peek decodes at most (the target
--                    sets it before peeking), and the position the target confirms it committed
--                    (an update advances the slot there, never backwards)
--   logical_changes  the peek (the slot is not consumed): one row per changed key of the captured
--                    tables (sync_capture.tables), in commit order, plus one row per decoded
--                    transaction (op 'C', no table) so that a transaction that changed nothing captured
--                    still moves the position: (commit_lsn, end_lsn, xid, committed_at, pos, tbl, pk, op)
--                    op I/U/D (an update of the key gives the old key a D), T = truncate of tbl
--   logical_status   wal_level, whether the caller may decode (REPLICATION), the slot's state and the WAL
--                    it retains (bytes, wal_status)
-- The reader needs the REPLICATION attribute (peek and advance run as the caller); only a superuser
-- can give it (alter role <reader> replication).
select :'capture_mode' = 'logical' as want_logical \gset
\if :want_logical
do $$
begin
    if pg_catalog.current_setting('wal_level') <> 'logical' then
        raise exception 'logical capture needs wal_level = logical on the source (it is %)', pg_catalog.current_setting('wal_level')
            using errcode = 'object_not_in_prerequisite_state',
                  hint = 'set wal_level = logical (and max_replication_slots > 0) and restart the source, or use --capture trigger';
    end if;
    if not exists (select 1 from pg_catalog.pg_roles r where r.rolname = current_user and (r.rolreplication or r.rolsuper)) then
        raise exception 'logical capture: role % cannot create the decoding slot (it needs the REPLICATION attribute)', current_user
            using errcode = 'insufficient_privilege',
                  hint = format('as a superuser: alter role %I replication; then run source:install again', current_user);
    end if;
end;
$$;

create table if not exists sync_capture.logical (
    id boolean primary key default true check (id),
    slot name not null,
    upto_nchanges integer not null default 10000 check (upto_nchanges > 0),
    confirmed_lsn pg_lsn,
    confirmed_at timestamptz
);
comment on table sync_capture.logical is
    'Logical capture''s control row: the wal2json slot, the bound of one peek (rows), and the position the target confirmed (an update advances the slot).';
insert into sync_capture.logical (slot)
select 'sync_' || left(regexp_replace(lower(pg_catalog.current_database()), '[^a-z0-9_]+', '_', 'g'), 40)
       || '_' || left(md5(pg_catalog.current_database()), 8)
 where not exists (select 1 from sync_capture.logical);

-- Advances the slot to the confirmed position (the end of the last commit the target has in its
-- inbox): decoding then skips every transaction committed before it. Never moves backwards (a
-- confirm at or before the slot's position changes nothing). Runs as the caller: REPLICATION.
create or replace function sync_capture.on_logical_confirm()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
    v_at pg_lsn;
begin
    if new.confirmed_lsn is not null and new.confirmed_lsn is distinct from old.confirmed_lsn then
        select s.confirmed_flush_lsn into v_at from pg_catalog.pg_replication_slots s
         where s.slot_name = new.slot and s.database = pg_catalog.current_database();
        if not found then
            raise exception 'the decoding slot % does not exist (lost or dropped)', new.slot
                using errcode = 'undefined_object',
                      hint = 're-baseline: source:install --capture logical, connect_source, full backfill (README, Logical capture)';
        end if;
        if v_at is null or new.confirmed_lsn > v_at then
            perform pg_catalog.pg_replication_slot_advance(new.slot, new.confirmed_lsn);
        end if;
        new.confirmed_at := pg_catalog.now();
    end if;
    return new;
end;
$$;
revoke all on function sync_capture.on_logical_confirm() from public;
do $$
begin
    if not exists (select 1 from pg_catalog.pg_trigger where tgrelid = 'sync_capture.logical'::regclass and tgname = 'logical_confirm') then
        create trigger logical_confirm before update on sync_capture.logical
            for each row execute function sync_capture.on_logical_confirm();
        alter table sync_capture.logical enable always trigger logical_confirm;
    end if;
end;
$$;
-- Its own transaction: a slot is not created in one that has written.
do $$
begin
    if not exists (select 1 from pg_catalog.pg_replication_slots s
                    where s.slot_name = (select l.slot from sync_capture.logical l) and s.database = pg_catalog.current_database()) then
        perform pg_catalog.pg_create_logical_replication_slot((select l.slot from sync_capture.logical l), 'wal2json');
    end if;
end;
$$;

create or replace view sync_capture.logical_changes as
with ctl as (
    select l.slot, l.upto_nchanges,
           coalesce((select string_agg(regexp_replace(split_part(t.tbl, '.', 1), '([\\,.* ])', '\\\1', 'g') || '.'
                                       || regexp_replace(substr(t.tbl, length(split_part(t.tbl, '.', 1)) + 2), '([\\,.* ])', '\\\1', 'g'),
                                       ',' order by t.tbl)
                       from sync_capture.tables t), 'sync_capture.none') as add_tables
      from sync_capture.logical l
), raw as (
    select o.n, o.xid, o.data::jsonb as d
      from ctl
     cross join lateral pg_catalog.pg_logical_slot_peek_changes(
               ctl.slot, null, ctl.upto_nchanges, 'format-version', '2', 'include-xids', '1', 'include-timestamp', '1',
               'include-lsn', '1', 'include-pk', '1', 'include-transaction', '1', 'add-tables', ctl.add_tables)
               with ordinality as o (lsn, xid, data, n)
), tx as (
    select r.n, r.xid, r.d, sum(case when r.d ->> 'action' = 'B' then 1 else 0 end) over (order by r.n) as t,
           r.n - max(case when r.d ->> 'action' = 'B' then r.n end) over (order by r.n) as pos
      from raw r
), c as (
    select x.t, (x.d ->> 'lsn')::pg_lsn as commit_lsn, (x.d ->> 'nextlsn')::pg_lsn as end_lsn,
           x.xid::text::bigint as xid, (x.d ->> 'timestamp')::timestamptz as committed_at
      from tx x where x.d ->> 'action' = 'C'
)
select c.commit_lsn, c.end_lsn, c.xid, c.committed_at, 0::bigint as pos, null::text as tbl, null::bigint as pk, 'C'::text as op
  from c
union all
select c.commit_lsn, c.end_lsn, c.xid, c.committed_at, x.pos, (x.d ->> 'schema') || '.' || (x.d ->> 'table'), k.pk,
       case when x.d ->> 'action' = 'U' and k.old then 'D' else x.d ->> 'action' end
  from tx x
  join c on c.t = x.t
 cross join lateral (
       select distinct (e.value ->> 'value')::bigint as pk, e.src = 'identity' as old
         from (select 'columns' as src, v.value from jsonb_array_elements(coalesce(x.d -> 'columns', '[]')) v
               union all
               select 'identity', v.value from jsonb_array_elements(coalesce(x.d -> 'identity', '[]')) v) e
        where e.value ->> 'name' = x.d #>> '{pk,0,name}'
       union all
       select null, false where x.d ->> 'action' = 'T') k
 where x.d ->> 'action' in ('I', 'U', 'D', 'T')
   and not (x.d ->> 'action' = 'U' and k.old
            and k.pk = any (select (v.value ->> 'value')::bigint from jsonb_array_elements(x.d -> 'columns') v
                             where v.value ->> 'name' = x.d #>> '{pk,0,name}'));
comment on view sync_capture.logical_changes is
    'Logical capture: the changed keys of the captured tables decoded from the slot (peeked, not consumed) in commit order, at most about logical.upto_nchanges rows of whole transactions; one row op C per transaction. Needs REPLICATION.';

create or replace view sync_capture.logical_status as
select l.slot::text as slot, pg_catalog.current_setting('wal_level') as wal_level, current_user::text as reader,
       coalesce((select r.rolreplication or r.rolsuper from pg_catalog.pg_roles r where r.rolname = current_user), false) as can_replicate,
       s.slot_name is not null as slot_exists, s.plugin::text as plugin, s.wal_status, s.active,
       s.confirmed_flush_lsn, s.restart_lsn,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.restart_lsn)::bigint as retained_bytes,
       s.safe_wal_size, l.confirmed_lsn, l.confirmed_at
  from sync_capture.logical l
  left join pg_catalog.pg_replication_slots s on s.slot_name = l.slot and s.database = pg_catalog.current_database();
comment on view sync_capture.logical_status is
    'Logical capture''s state: wal_level, whether the caller may decode (REPLICATION), the slot and the WAL it retains.';

revoke all on table sync_capture.logical, sync_capture.logical_changes, sync_capture.logical_status from public;
-- The recorded readers get the logical objects (REPLICATION they need besides: only a superuser gives it).
do $$
declare
    v_sql text;
begin
    -- One GRANT per reader and object: DDL takes no set.
    for v_sql in
        select format('grant %s on table %s to %I', g.privileges, g.object, r.role)
          from sync_capture.readers r
          join pg_catalog.pg_roles a on a.rolname = r.role
         cross join (values ('select, update', 'sync_capture.logical'), ('select', 'sync_capture.logical_changes'),
                            ('select', 'sync_capture.logical_status')) as g (privileges, object)
    loop
        execute v_sql;
    end loop;
end;
$$;
select format('grant %s on table %s to %I', g.privileges, g.object, r.role)
  from sync_capture.readers r
  join pg_catalog.pg_roles a on a.rolname = r.role
 cross join (values (1, 'select, update', 'sync_capture.logical'), (2, 'select', 'sync_capture.logical_changes'),
                    (3, 'select', 'sync_capture.logical_status')) as g (ord, privileges, object)
 order by r.role, g.ord;
-- What the reader still needs, as statements (REPLICATION: only a superuser can give it).
select format('alter role %I replication', r.role)
  from sync_capture.readers r join pg_catalog.pg_roles a on a.rolname = r.role
 where not (a.rolreplication or a.rolsuper)
 order by r.role;
select 'grant select, update on table sync_capture.logical to <reader>' as g where :'reader' = ''
union all
select 'grant select on table sync_capture.logical_changes, sync_capture.logical_status to <reader>' where :'reader' = ''
union all
select 'alter role <reader> replication' where :'reader' = '';
\endif
