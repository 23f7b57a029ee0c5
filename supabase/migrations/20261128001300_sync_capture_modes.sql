-- Capture modes (engine.md §1): one batch contract, three ways to find what changed.
--   trigger  (default) the source's triggers log each changed key; the pull reads the log by snapshots
--   logical  a wal2json slot on the source is peeked in commit order; nothing on the application's tables
--   polling  nothing installed on the source: changes by a per-entity source timestamp column
--            (sync.entities.poll_column), deletes and the tables without one by reconciliation
-- sync._pull dispatches on the configured mode. A mode changed after the first pull re-baselines: the
-- new mode starts at its own "now", and the rows changed in between are found by a full comparison.

alter table sync.entities add column poll_column text;
comment on column sync.entities.poll_column is
    'Polling capture: the source column (a timestamp the application sets on every write) that changes are found by; NULL: the table is reconciled by keyed comparison only.';
alter table sync.source add column capture_mode text check (capture_mode in ('trigger', 'logical', 'polling'));
comment on column sync.source.capture_mode is 'The capture mode the cursor belongs to (the configured one at connect).';

-- The configured mode's checks and setup on a just-imported source, in connect_source's transaction.
-- Returns {capture_version, identity}. Raises SY400 with what to do when the source is not ready.
create function sync._connect_capture(p_mode text)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_version integer;
    v_identity jsonb;
begin
    if p_mode = 'logical' then
        return sync._connect_logical();
    elsif p_mode = 'polling' then
        return sync._connect_polling();
    end if;
    select version into v_version from sync_src_capture.version;
    if v_version is null then
        perform sync._raise(400, 'capture is not installed on the source; install it: deno task source:install -- <legacy-db-url>');
    elsif v_version < 2 then
        perform sync._raise(400, format('capture on the source is version %s; upgrade it: deno task source:install -- <legacy-db-url>',
                                        v_version));
    end if;
    select identity into v_identity from sync_src_capture.current_snapshot;
    -- Capture the registered tables the source has (the source's own trigger adds the capture triggers).
    insert into sync_src_capture.tables (tbl, enabled, changed_at)
    select source_table, true, now() from sync.entities where available
    on conflict do nothing;
    update sync_src_capture.tables set enabled = true, changed_at = now()
     where not enabled and tbl in (select source_table from sync.entities where available);
    return jsonb_build_object('capture_version', v_version, 'identity', v_identity);
end;
$$;

-- Logical capture's connect (replaced by its own migration).
create function sync._connect_logical()
returns jsonb
language plpgsql
set search_path = ''
as $$
begin
    perform sync._raise(400, 'capture mode logical is not available in this version');
    return null;
end;
$$;

-- Polling capture's connect (replaced by its own migration).
create function sync._connect_polling()
returns jsonb
language plpgsql
set search_path = ''
as $$
begin
    perform sync._raise(400, 'capture mode polling is not available in this version');
    return null;
end;
$$;

-- Logical capture's pull (replaced by its own migration). Same contract as sync._pull_trigger.
create function sync._pull_logical(p_run_id bigint, p_limit integer default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
begin
    perform sync._raise(400, 'capture mode logical is not available in this version');
    return null;
end;
$$;

-- Polling capture's pull (replaced by its own migration). Same contract as sync._pull_trigger.
create function sync._pull_polling(p_run_id bigint, p_limit integer default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
begin
    perform sync._raise(400, 'capture mode polling is not available in this version');
    return null;
end;
$$;

-- Source schema drift, checked before each pull (replaced by its own migration): returns the
-- entities paused by a change their mapping cannot absorb (none here).
create function sync._source_drift()
returns text[]
language plpgsql
set search_path = ''
as $$
begin
    return '{}';
end;
$$;

-- Pulls one bounded batch with the configured capture mode, in the caller's transaction. Returns
-- {batch_id, changes, rows, more, pages_left} or {refused: ...} (see sync._pull_trigger).
create function sync._pull(p_run_id bigint, p_limit integer default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_mode text := sync.get_config() ->> 'capture';
    v_source sync.source;
begin
    select * into v_source from sync.source for update;
    if not found then
        perform sync._raise(409, 'no source is connected', 'call sync.connect_source(conninfo) first');
    end if;
    if v_source.capture_mode is distinct from v_mode then
        perform sync._raise(409, format('the source was connected with capture %s and capture is now %s',
                                        coalesce(v_source.capture_mode, 'trigger'), v_mode),
                            'call sync.connect_source(conninfo) again: it re-baselines the new mode');
    end if;
    perform sync._source_drift();
    return case v_mode
               when 'logical' then sync._pull_logical(p_run_id, p_limit)
               when 'polling' then sync._pull_polling(p_run_id, p_limit)
               else sync._pull_trigger(p_run_id, p_limit)
           end;
end;
$$;
revoke execute on function sync._connect_capture(text), sync._connect_logical(), sync._connect_polling(),
    sync._pull_logical(bigint, integer), sync._pull_polling(bigint, integer), sync._source_drift(),
    sync._pull(bigint, integer) from public;

-- Sources connected before capture modes existed were connected with triggers.
update sync.source set capture_mode = 'trigger' where capture_mode is null;

-- The target rows of an entity whose source row is gone, deleted through the applier (as a repair
-- of those ids would). Reads every source key once. Returns the apply counts.
create function sync._sweep_orphans(p_run_id bigint, p_entity text)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    e sync.entities;
begin
    select * into e from sync.entities where name = p_entity;
    truncate sync.work_ids;
    execute format('insert into sync.work_ids select s.%I from %s s', e.source_pk, sync._source_relation(p_entity));
    return sync._repair(p_run_id, p_entity, sync._orphaned_ids(p_entity));
end;
$$;

-- Re-baselines after the capture mode changed from p_old_mode (connect_source with another `capture`): the old
-- mode's cursor means nothing to the new one, which starts at its own "now" (its connect sets it up).
-- What changed in between is found by a full comparison: a backfill of every entity (trigger
-- 'rebaseline'), which ticks advance chunk by chunk and which also deletes, entity by entity, the
-- target rows whose source row is gone (sync._sweep_orphans). Versions restart (the modes number
-- them differently). Returns the backfill run's id.
create function sync._rebaseline_capture(p_old_mode text)
returns bigint
language plpgsql
set search_path = ''
as $$
begin
    -- Leaving trigger capture (for logical): its triggers stop logging. (For polling nothing is imported
    -- from the source, so nothing can be switched off from here: uninstall capture there.)
    if p_old_mode = 'trigger' and to_regclass('sync_src_capture.tables') is not null then
        update sync_src_capture.tables set enabled = false, changed_at = now() where enabled;
    end if;
    update sync.source set cursor_snapshot = null, pending_snapshot = null, page_block = null, page_end = null,
                           page_blocks = null;
    update sync.id_map set source_version = 0 where source_version <> 0;
    perform set_config('sync.trigger', 'rebaseline', true);
    return sync._backfill_open(array(select o.name from sync._apply_order() o));
end;
$$;
revoke execute on function sync._sweep_orphans(bigint, text), sync._rebaseline_capture(text) from public;
