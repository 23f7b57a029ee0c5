-- Reseed recovery (engine.md §4): after the target was reloaded with new UUIDs for existing rows,
-- rebuild the id map from the legacy id columns, and report what could not be matched.
create unlogged table sync.work_map (legacy_id bigint primary key, target_id uuid, source_version bigint, deleted boolean);
revoke all on sync.work_map from public;

create function sync.rebuild_mappings(caller text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    e sync.entities;
    v_report jsonb := '{}';
    v_before bigint;
    v_after bigint;
    v_changed bigint;
    v_lost bigint;
    v_sample jsonb;
    v_t0 timestamptz := clock_timestamp();
begin
    -- Serialise with the appliers: a tick must not write through a half-rebuilt map.
    if not pg_try_advisory_xact_lock(hashtext('sync.applier')) then
        perform sync._raise(409, 'a sync run is applying changes; retry when it ends');
    end if;
    for e in select * from sync.entities order by name loop
        truncate sync.work_map;
        insert into sync.work_map select m.legacy_id, m.target_id, m.source_version, m.deleted
          from sync.id_map m where m.entity = e.name;
        get diagnostics v_before = row_count;
        delete from sync.id_map m where m.entity = e.name;
        -- The target row holding the legacy id is the row, whatever its UUID now; its current
        -- values become the last written image, so the first change after the reseed is not taken
        -- for a target-side edit.
        execute format($q$
            insert into sync.id_map (entity, legacy_id, target_id, source_version, image, deleted, updated_at)
            select $1, t.%2$I, t.id, coalesce(o.source_version, 0), %3$s, %4$s, now()
              from %1$s t left join sync.work_map o on o.legacy_id = t.%2$I
             where t.%2$I is not null $q$,
            e.target_table, e.legacy_id_column,
            sync._image_expr(e.write_columns, 't'),
            case when e.has_deleted_at then 't.deleted_at is not null' else 'false' end)
        using e.name;
        get diagnostics v_after = row_count;
        select count(*) filter (where m.target_id <> o.target_id) into v_changed
          from sync.work_map o join sync.id_map m on m.entity = e.name and m.legacy_id = o.legacy_id;
        select count(*), coalesce(jsonb_agg(o.legacy_id order by o.legacy_id) filter (where o.rn <= 20), '[]')
          into v_lost, v_sample
          from (select o.legacy_id, row_number() over (order by o.legacy_id) as rn from sync.work_map o
                 where not o.deleted
                   and not exists (select 1 from sync.id_map m where m.entity = e.name and m.legacy_id = o.legacy_id)) o;
        v_report := v_report || jsonb_build_object(e.name, jsonb_build_object(
            'mapped_before', v_before, 'mapped', v_after, 'remapped', v_changed,
            'unmatched', v_lost, 'unmatched_sample', v_sample));
    end loop;
    -- Held changes that the old UUIDs named are re-derived by the next tick from their legacy
    -- ids; parked ones wait on legacy ids too: nothing in the inbox names a UUID.
    v_report := jsonb_build_object('entities', v_report, 'unmatched', (select sum((v ->> 'unmatched')::bigint) from jsonb_each(v_report) x (k, v)),
                                   'ms', round(extract(epoch from clock_timestamp() - v_t0) * 1000));
    insert into sync.audit (kind, subject, caller, details)
    values ('mappings.rebuild', 'id_map', sync._caller(rebuild_mappings.caller),
            jsonb_build_object('unmatched', v_report -> 'unmatched'));
    return v_report;
end;
$$;
comment on function sync.rebuild_mappings(text) is
    'Rebuilds the id map from the target''s legacy id columns after a reseed; reports per entity what was remapped and what could not be matched (legacy ids the map had that no target row holds now).';
revoke execute on function sync.rebuild_mappings(text) from public;
