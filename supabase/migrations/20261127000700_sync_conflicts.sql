-- Resolving conflicts (engine.md §5): accept the source, keep the target, or supply the row;
-- a held change is applied exactly once.

-- Writes one transformed row of an entity with the applier's upsert and id-map bookkeeping.
create function sync._write_row(p_entity text, p_legacy_id bigint, p_target_id uuid, p_data jsonb)
returns void
language plpgsql
set search_path = ''
as $$
declare
    e sync.entities;
begin
    select * into e from sync.entities where name = p_entity;
    execute format($q$
        insert into %1$s as t (id, %2$I, %3$s)
        select $1, $2, %4$s from jsonb_populate_record(null::%1$s, $3) r
        on conflict (id) do update set %5$s%6$s $q$,
        e.target_table, e.legacy_id_column,
        (select string_agg(format('%I', c), ', ') from unnest(e.write_columns) c),
        (select string_agg(format('r.%I', c), ', ') from unnest(e.write_columns) c),
        (select string_agg(format('%1$I = excluded.%1$I', c), ', ') from unnest(e.write_columns) c),
        case when e.has_deleted_at then ', deleted_at = null' else '' end)
    using p_target_id, p_legacy_id, p_data;
    insert into sync.id_map as m (entity, legacy_id, target_id, image, deleted, updated_at)
    values (p_entity, p_legacy_id, p_target_id, p_data, false, now())
    on conflict (entity, legacy_id) do update set target_id = excluded.target_id, image = excluded.image, deleted = false, updated_at = now();
end;
$$;
revoke execute on function sync._write_row(text, bigint, uuid, jsonb) from public;

-- The target row's current values of the columns the sync writes.
create function sync._target_image(p_entity text, p_target_id uuid)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
    e sync.entities;
    v jsonb;
begin
    select * into e from sync.entities where name = p_entity;
    execute format('select %s from %s t where t.id = $1', sync._image_expr(e.write_columns, 't'), e.target_table)
       into v using p_target_id;
    return v;
end;
$$;
revoke execute on function sync._target_image(text, uuid) from public;

create function sync.resolve_conflict(id bigint, decision text, "row" jsonb default null, resolved_by text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    c sync.conflicts;
    e sync.entities;
    v_who text := sync._caller(resolve_conflict.resolved_by);
    v_data jsonb;
    v_bad text;
begin
    if resolve_conflict.decision is null or resolve_conflict.decision not in ('accept_source', 'keep_target', 'custom') then
        perform sync._raise(400, format('decision must be accept_source, keep_target or custom, got %s',
                                        coalesce(resolve_conflict.decision, 'NULL')));
    end if;
    select * into c from sync.conflicts k where k.id = resolve_conflict.id for update;
    if not found then
        perform sync._raise(404, format('conflict %s does not exist', resolve_conflict.id), format('id %s', resolve_conflict.id));
    end if;
    if c.status = 'resolved' then
        perform sync._raise(409, format('conflict %s is already resolved (%s by %s)', c.id, c.decision, c.resolved_by),
                            format('id %s', c.id));
    end if;
    select * into e from sync.entities where name = c.entity;
    -- The row's UUID now (a reseed may have changed it since the conflict was recorded).
    c.target_id := coalesce((select m.target_id from sync.id_map m where m.entity = c.entity and m.legacy_id = c.legacy_id), c.target_id);
    case resolve_conflict.decision
    when 'accept_source' then
        if c.op = 'delete' then
            if e.delete_mode = 'hard' then
                execute format('delete from %s t where t.id = $1', e.target_table) using c.target_id;
            else
                execute format('update %s t set deleted_at = now() where t.id = $1 and t.deleted_at is null', e.target_table)
                using c.target_id;
            end if;
            update sync.id_map m set deleted = true, updated_at = now() where m.entity = c.entity and m.legacy_id = c.legacy_id;
        else
            perform sync._write_row(c.entity, c.legacy_id, c.target_id, c.source_image);
        end if;
    when 'keep_target' then
        -- The target's values become what the sync compares the next source change against.
        update sync.id_map m set image = sync._target_image(c.entity, c.target_id), updated_at = now()
         where m.entity = c.entity and m.legacy_id = c.legacy_id;
    when 'custom' then
        if resolve_conflict."row" is null or jsonb_typeof(resolve_conflict."row") <> 'object' then
            perform sync._raise(400, 'decision custom needs the row to write, as a JSON object of target columns');
        end if;
        select k into v_bad from jsonb_object_keys(resolve_conflict."row") k where not k = any (e.write_columns) limit 1;
        if v_bad is not null then
            perform sync._raise(400, format('column "%s" is not one the sync writes for %s', v_bad, c.entity));
        end if;
        v_data := coalesce(c.source_image, sync._target_image(c.entity, c.target_id)) || resolve_conflict."row";
        perform sync._write_row(c.entity, c.legacy_id, c.target_id, v_data);
    end case;
    update sync.inbox i set status = 'applied', applied_at = now(), reason = 'conflict ' || resolve_conflict.decision
     where i.id = c.inbox_id and i.status = 'conflict';
    update sync.conflicts k set status = 'resolved', decision = resolve_conflict.decision, resolved_at = now(), resolved_by = v_who
     where k.id = c.id
     returning * into c;
    insert into sync.audit (kind, subject, caller, details)
    values ('conflict.resolve', 'conflict:' || c.id, v_who,
            jsonb_build_object('decision', c.decision, 'entity', c.entity, 'legacy_id', c.legacy_id));
    return to_jsonb(c);
end;
$$;
comment on function sync.resolve_conflict(bigint, text, jsonb, text) is
    'Resolves a conflict: accept_source, keep_target or custom (+ row). Applies a held change exactly once; SY409 when already resolved. Returns the conflict.';
revoke execute on function sync.resolve_conflict(bigint, text, jsonb, text) from public;
