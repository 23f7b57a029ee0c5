-- The set-based applier and the tick.

-- The SQL expression building the jsonb image of the given columns of a row alias:
-- jsonb_build_object('c1', t.c1, ...). Shared by the conflict check, conflict resolution and
-- reseed recovery, so that all three read a target row the same way.
create function sync._image_expr(p_columns text[], p_alias text)
returns text
language sql
immutable
set search_path = ''
as $$
    select 'jsonb_build_object(' || string_agg(format('%1$L, %2$I.%1$I', c, p_alias), ', ') || ')' from unnest(p_columns) c;
$$;
revoke execute on function sync._image_expr(text[], text) from public;

-- Entities in apply order: each after everything it depends on (derived from depends_on).
-- (Entities the connected source lacks, sync.entities.available, are left out: the applier,
-- backfill, verification and run control all take this list.)
create function sync._apply_order()
returns table (name text, depth integer)
language sql
stable
set search_path = ''
as $$
    with recursive walk (name, depth, path) as (
        select e.name, 0, array[e.name] from sync.entities e where e.depends_on = '{}'
        union all
        select e.name, w.depth + 1, w.path || e.name
          from sync.entities e join walk w on w.name = any (e.depends_on)
         where not e.name = any (w.path)
    )
    select w.name, max(w.depth)::integer from walk w
     where exists (select 1 from sync.entities e where e.name = w.name and e.available)
     group by w.name order by max(w.depth), w.name;
$$;

-- Adds two {entity: {outcome: n}} count objects.
create function sync._add_counts(p_a jsonb, p_b jsonb)
returns jsonb
language sql
immutable
set search_path = ''
as $$
    select coalesce(jsonb_object_agg(entity, outcomes), '{}'::jsonb)
      from (select entity, jsonb_object_agg(outcome, n) as outcomes
              from (select e.key as entity, o.key as outcome, sum(o.value::bigint) as n
                      from (select * from jsonb_each(coalesce(p_a, '{}')) union all select * from jsonb_each(coalesce(p_b, '{}'))) e,
                           jsonb_each_text(e.value) o
                     group by 1, 2) x
             group by entity) y;
$$;

-- Adds two {outcome: n} count objects.
create function sync._sum_outcomes(p_a jsonb, p_b jsonb)
returns jsonb
language sql
immutable
set search_path = ''
as $$
    select coalesce(jsonb_object_agg(k, n), '{}'::jsonb)
      from (select o.key as k, sum(o.value::bigint) as n
              from (select * from jsonb_each_text(coalesce(p_a, '{}')) union all select * from jsonb_each_text(coalesce(p_b, '{}'))) o
             group by o.key) x;
$$;

-- Before an entity's pass: parked changes whose missing parent is now mapped go back to pending
-- (indexed, cheap); a newer change to a row replaces its older open ones (newest by source
-- version, then arrival) and releases their quarantine: a fixing update un-quarantines the row.
-- Returns the ids of the pending changes to apply now, oldest first, at most p_limit.
create function sync._apply_prepare(p_entity text, p_run_id bigint, p_limit integer default null)
returns bigint[]
language plpgsql
set search_path = ''
as $$
begin
    update sync.inbox i set status = 'pending', parent_entity = null, parent_legacy_id = null
     where i.entity = p_entity and i.status = 'parked'
       and exists (select 1 from sync.id_map m where m.entity = i.parent_entity and m.legacy_id = i.parent_legacy_id);
    -- Nothing to do for this entity: skip the rest (a tick visits every entity after every batch).
    if not exists (select 1 from sync.inbox i where i.entity = p_entity and i.status = 'pending') then
        return '{}';
    end if;
    with ranked as (
        select i.id, i.legacy_id,
               row_number() over (partition by i.legacy_id order by i.source_version desc, i.id desc) as rn
          from sync.inbox i
         where i.entity = p_entity and i.status in ('pending', 'parked', 'quarantined', 'conflict')
           -- Only the keys with a pending change (else the entity's whole quarantine and parked backlog
           -- was ranked again on every pass).
           and i.legacy_id = any (array(select p.legacy_id from sync.inbox p
                                         where p.entity = p_entity and p.status = 'pending'))
    ), older as (
        update sync.inbox i set status = 'superseded', applied_at = now(), run_id = coalesce(p_run_id, i.run_id)
          from ranked r where r.id = i.id and r.rn > 1
        returning i.legacy_id
    )
    update sync.quarantine q set released_at = now(), released_by = 'sync', resolution = 'newer change'
      from older where q.entity = p_entity and q.legacy_id = older.legacy_id and q.released_at is null;
    return array(select i.id from sync.inbox i where i.entity = p_entity and i.status = 'pending' order by i.id limit p_limit);
end;
$$;

-- True for errors that one row's values cause (the target refused this row: a constraint, a
-- type's range, a trigger's raise), as opposed to errors of the whole pass (a missing table,
-- privileges, a deadlock, resources), which no quarantine would cure.
create function sync._row_error(p_state text)
returns boolean
language sql
immutable
set search_path = ''
as $$
    select left(p_state, 2) in ('22', '23', '44', 'P0');
$$;

-- The quarantine message of a row the target refused: entity, legacy id, SQLSTATE, constraint,
-- column, table, and never the values (engine.md §9: no row values in messages).
create function sync._apply_error_message(p_entity text, p_legacy_id bigint, p_state text, p_constraint text,
                                          p_column text, p_schema text, p_table text)
returns text
language sql
immutable
set search_path = ''
as $$
    select format('%s %s could not be written: the target refused it with SQLSTATE %s (%s)%s%s%s', p_entity, p_legacy_id, p_state,
                  case p_state
                      when '23502' then 'not_null_violation' when '23503' then 'foreign_key_violation'
                      when '23505' then 'unique_violation' when '23514' then 'check_violation'
                      when '23P01' then 'exclusion_violation' when '22001' then 'string_data_right_truncation'
                      when '22003' then 'numeric_value_out_of_range' when '22007' then 'invalid_datetime_format'
                      when '22008' then 'datetime_field_overflow' when '22P02' then 'invalid_text_representation'
                      when '22023' then 'invalid_parameter_value' when 'P0001' then 'raise_exception'
                      else case left(p_state, 2) when '22' then 'data_exception' when '23' then 'integrity_constraint_violation'
                                                 when '44' then 'with_check_option_violation' else 'plpgsql_error' end
                  end,
                  case when nullif(p_constraint, '') is not null then format(', constraint %s', p_constraint) else '' end,
                  case when nullif(p_column, '') is not null then format(', column %s', p_column) else '' end,
                  case when nullif(p_table, '') is not null then format(', table %s.%s', p_schema, p_table) else '' end);
$$;

-- Applies the given pending changes of an entity; a set-based pass that raises is split in
-- halves, down to the single change, which is quarantined (reason apply_error) with a message
-- naming the SQLSTATE and the constraint or column: every other change applies, and the refused
-- one waits for a newer change, a retry or a discard instead of failing tick after tick. Errors
-- that are not one row's (sync._row_error) are raised. Returns {outcome: n}.
create function sync._apply_isolated(p_entity text, p_run_id bigint, p_ids bigint[])
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_half integer := cardinality(p_ids) / 2;
    v_state text;
    v_constraint text;
    v_column text;
    v_schema text;
    v_table text;
    v_legacy_id bigint;
    v_msg text;
begin
    if cardinality(p_ids) = 0 then
        return '{}';
    end if;
    begin
        return sync._apply_work(p_entity, p_run_id, p_ids);
    exception when others then
        get stacked diagnostics v_state = returned_sqlstate, v_constraint = constraint_name, v_column = column_name,
                                v_schema = schema_name, v_table = table_name;
        if not sync._row_error(v_state) then
            raise;
        end if;
    end;
    if cardinality(p_ids) > 1 then
        return sync._sum_outcomes(sync._apply_isolated(p_entity, p_run_id, p_ids[1:v_half]),
                                  sync._apply_isolated(p_entity, p_run_id, p_ids[v_half + 1:]));
    end if;
    select i.legacy_id into v_legacy_id from sync.inbox i where i.id = p_ids[1];
    v_msg := sync._apply_error_message(p_entity, v_legacy_id, v_state, v_constraint, v_column, v_schema, v_table);
    update sync.inbox i set status = 'quarantined', reason = 'apply_error', message = v_msg, run_id = p_run_id,
                            attempts = i.attempts + 1
     where i.id = p_ids[1];
    insert into sync.quarantine as q (entity, legacy_id, inbox_id, reason, message)
    values (p_entity, v_legacy_id, p_ids[1], 'apply_error', v_msg)
    on conflict (entity, legacy_id) where released_at is null
    do update set inbox_id = excluded.inbox_id, reason = excluded.reason, message = excluded.message, created_at = now();
    return '{"quarantined": 1}';
end;
$$;

-- newest_wins (engine.md §5): true when the target row changed after the source row, by their
-- updated_at (the written image's, against the transformed source row's); ties go to the source.
create function sync._target_newer(p_target jsonb, p_source jsonb)
returns boolean
language sql
stable
set search_path = ''
as $$
    select coalesce((p_target ->> 'updated_at')::timestamptz > (p_source ->> 'updated_at')::timestamptz, false);
$$;
revoke execute on function sync._target_newer(jsonb, jsonb) from public;

-- Applies the changes of one entity, set-based. With p_from_inbox (a tick) the work set is the
-- entity's pending inbox rows; without it (a backfill chunk) the caller has
-- filled pg_temp.work_in straight from the source, and only rows that park or are quarantined enter
-- the inbox; when such a chunk's pass raises, the chunk enters the inbox and is applied with
-- failure isolation like any batch. Returns {outcome: n} (zero counts left out).
create function sync._apply_entity(p_entity text, p_run_id bigint, p_from_inbox boolean default true)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_state text;
    v_ids bigint[];
begin
    perform sync._work_open();
    if p_from_inbox then
        return sync._apply_isolated(p_entity, p_run_id, sync._apply_prepare(p_entity, p_run_id));
    end if;
    begin
        return sync._apply_work(p_entity, p_run_id, null);
    exception when others then
        get stacked diagnostics v_state = returned_sqlstate;
        if not sync._row_error(v_state) then
            raise;
        end if;
    end;
    insert into sync.inbox (entity, legacy_id, op, image, source_version, captured_at, run_id)
    select p_entity, w.legacy_id, w.op, w.image, w.source_version, w.captured_at, p_run_id from pg_temp.work_in w;
    v_ids := sync._apply_prepare(p_entity, p_run_id);
    return sync._apply_isolated(p_entity, p_run_id, v_ids);
end;
$$;

-- One set-based pass over the given pending inbox changes of an entity (p_ids), or over the
-- backfill rows the caller put in pg_temp.work_in (p_ids NULL): deletes, the pack's transform, target
-- ids, the version guard, conflicts, the upsert, the id map, derived columns, outcomes.
-- Returns {outcome: n} (zero counts left out).
create function sync._apply_work(p_entity text, p_run_id bigint, p_ids bigint[])
returns jsonb
language plpgsql
set search_path = ''
set jit = off
as $$
declare
    e sync.entities;
    v_cols text;
    v_set text;
    v_diff text;
    v_counts jsonb := '{}';
    v_n integer;
    v_ins integer;
    v_upd integer;
    v_child record;
    v_strategy text;
    v_tie text;
    v_tcols text;
    v_scols text;
    v_timg text;
    v_mapped boolean;
    v_park integer;
    v_quarantine integer;
    v_lo bigint;
    v_hi bigint;
    v_all_images boolean;
    v_all_base boolean;
    v_skip integer;
begin
    perform sync._work_open();
    select * into e from sync.entities where name = p_entity;
    -- Wide values this pass writes (target rows, the map's images) compress with lz4 where the
    -- server has it (the sync schema's images do: see its migration); pglz cost more than the rest.
    if current_setting('default_toast_compression') <> 'lz4'
       and exists (select 1 from pg_catalog.pg_attribute a
                    where a.attrelid = 'pg_temp.work_in'::regclass and a.attname = 'image' and a.attcompression = 'l') then
        perform set_config('default_toast_compression', 'lz4', true);
    end if;
    select coalesce(c #>> array['entities', p_entity, 'conflict_strategy'], 'source_wins'),
           coalesce(c #>> array['entities', p_entity, 'tie'], 'source')
      into v_strategy, v_tie
      from sync.get_config() c;
    -- Typed comparisons of the written columns (never their jsonb text: a timestamp prints
    -- differently under another TimeZone): b = the image the sync last wrote, t = the target row.
    select 'array_remove(array[' || string_agg(format('case when b.%1$I is distinct from t.%1$I then %1$L end', c), ', ') || '], null)',
           'array_remove(array[' || string_agg(format('case when b.%1$I is distinct from d.%1$I then %1$L end', c), ', ') || '], null)',
           sync._image_expr(e.write_columns, 't')
      into v_tcols, v_scols, v_timg
      from unnest(e.write_columns) c;

    if p_ids is not null then
        truncate pg_temp.work_in;
        insert into pg_temp.work_in (work_id, inbox_id, legacy_id, op, image, source_version, captured_at)
        select i.id, i.id, i.legacy_id, i.op, i.image, i.source_version, i.captured_at
          from sync.inbox i where i.id = any (p_ids) and i.status = 'pending';
    else
        -- A backfill image is newer than any open change of the same rows (those were pulled
        -- before, under the same lease): it replaces them and releases their quarantine.
        -- (Statements that cannot touch a row are skipped, on an index probe or the pass's own
        -- counts: each costs a scan of the work set, and a first copy needs none of them.)
        -- (Looked for in the chunk's key range first: the run's own quarantined and parked rows of
        -- earlier chunks are open changes too, outside it. Then one probe per row: a filter of the
        -- open rows by = any of the chunk's ids compared every open row with every id.)
        select min(w.legacy_id), max(w.legacy_id) into v_lo, v_hi from pg_temp.work_in w;
        if exists (select 1 from sync.inbox i
                    where i.entity = p_entity and i.status in ('pending', 'parked', 'quarantined', 'conflict')
                      and i.legacy_id between v_lo and v_hi) then
            with older as (
                update sync.inbox i set status = 'superseded', applied_at = now(), run_id = coalesce(p_run_id, i.run_id)
                 where i.id = any (array(
                           select o.id from pg_temp.work_in w
                            cross join lateral (select o.id from sync.inbox o
                                                 where o.entity = p_entity and o.legacy_id = w.legacy_id
                                                   and o.status in ('pending', 'parked', 'quarantined', 'conflict') offset 0) o))
                returning i.legacy_id
            )
            update sync.quarantine q set released_at = now(), released_by = 'sync', resolution = 'backfill'
             where q.entity = p_entity and q.released_at is null and q.legacy_id = any (array(select legacy_id from older));
        end if;
    end if;

    -- Lookups of the id map, the inbox and the target rows below are written as per-row probes of
    -- their primary keys (scalar subqueries, = any (array(...)), lateral subqueries kept apart by
    -- offset 0): their statistics lag a whole entity behind during a backfill, and a planner that
    -- believes an entity has one mapped row would otherwise scan it once per work row; with the
    -- work set's size unknown (a temporary table), it would also hash a whole target table to
    -- join a few hundred changes of a tick.

    -- Deletes, by the pack's rule: soft (deleted_at = capture time) or hard; optional alert.
    truncate pg_temp.work_del;
    insert into pg_temp.work_del (work_id, inbox_id, legacy_id, captured_at, target_id)
    select w.work_id, w.inbox_id, w.legacy_id, w.captured_at,
           (select m.target_id from sync.id_map m where m.entity = p_entity and m.legacy_id = w.legacy_id)
      from pg_temp.work_in w
     where w.op = 'delete';
    if exists (select 1 from pg_temp.work_del) then
        -- A delete that meets a target-side edit is a conflict too.
        execute format($q$
            update pg_temp.work_del d set base = m.image, target_image = %3$s, tcols = %2$s
              from (select d2.work_id, d2.target_id, m.image
                      from pg_temp.work_del d2
                     cross join lateral (select m.image from sync.id_map m
                                          where m.entity = $1 and m.legacy_id = d2.legacy_id and m.image is not null offset 0) m) m
             cross join lateral (select t.* from %1$s t where t.id = m.target_id offset 0) t,
                   jsonb_populate_record(null::%1$s, m.image) b
             where m.work_id = d.work_id $q$, e.target_table, v_tcols, v_timg)
        using p_entity;
        if exists (select 1 from pg_temp.work_del d where cardinality(d.tcols) > 0) then
            update pg_temp.work_del d set keep = true
             where cardinality(d.tcols) > 0
               and (v_strategy in ('target_wins', 'manual') or (v_strategy = 'merge' and v_tie = 'target')
                    -- newest_wins: a delete is as new as its capture; a target edit after it stays.
                    or v_strategy = 'newest_wins' and sync._target_newer(d.target_image, jsonb_build_object('updated_at', d.captured_at)));
            insert into sync.conflicts as k (entity, legacy_id, target_id, inbox_id, op, strategy, status, decision, columns,
                                             source_image, target_image, base_image, resolved_at, resolved_by)
            select p_entity, d.legacy_id, d.target_id, d.inbox_id, 'delete', v_strategy,
                   case when v_strategy = 'manual' then 'open' else 'resolved' end,
                   case v_strategy when 'manual' then null when 'merge' then 'merged'
                                   else case when d.keep then 'keep_target' else 'accept_source' end end,
                   d.tcols, null, d.target_image, d.base,
                   case when v_strategy <> 'manual' then now() end, case when v_strategy <> 'manual' then 'sync' end
              from pg_temp.work_del d where cardinality(d.tcols) > 0
            on conflict (entity, legacy_id) where status = 'open'
            do update set inbox_id = excluded.inbox_id, op = 'delete', source_image = null, created_at = now();
            update sync.inbox i set status = 'conflict', run_id = p_run_id
              from pg_temp.work_del d where i.id = d.inbox_id and d.keep and v_strategy = 'manual';
            update sync.inbox i set status = 'applied', applied_at = now(), run_id = p_run_id, reason = 'kept target'
              from pg_temp.work_del d where i.id = d.inbox_id and d.keep and v_strategy <> 'manual';
            v_counts := v_counts || jsonb_build_object('conflicts', (select count(*) from pg_temp.work_del d where cardinality(d.tcols) > 0));
            delete from pg_temp.work_del d where d.keep;
        end if;
        if e.delete_mode = 'hard' then
            execute format('delete from %s t using pg_temp.work_del d where t.id = d.target_id', e.target_table);
        else
            execute format('update %s t set deleted_at = d.captured_at from pg_temp.work_del d
                             where t.id = d.target_id and t.deleted_at is null', e.target_table);
        end if;
        get diagnostics v_n = row_count;
        v_counts := v_counts || jsonb_build_object('deleted', v_n);
        update sync.id_map m set deleted = true, updated_at = now()
         where m.entity = p_entity and m.legacy_id = any (array(select d.legacy_id from pg_temp.work_del d));
        insert into sync.reread (entity, fk, parent_legacy_id)
        select c.name, r.value ->> 'fk', d.legacy_id
          from sync.entities c, jsonb_array_elements(c.reread) r, pg_temp.work_del d
         where r.value ->> 'parent' = p_entity
        on conflict do nothing;
        delete from sync.integrity_issues ii using pg_temp.work_del d where ii.entity = p_entity and ii.legacy_id = d.legacy_id;
        if e.delete_alert is not null then
            insert into sync.alerts (kind, severity, dedup_key, message, details)
            select e.delete_alert, 'critical', format('%s:%s:%s', e.delete_alert, p_entity, d.legacy_id),
                   format('%s %s was deleted in the legacy database (soft-deleted in the target)', p_entity, d.legacy_id),
                   jsonb_build_object('entity', p_entity, 'legacy_id', d.legacy_id, 'target_id', d.target_id)
              from pg_temp.work_del d
            on conflict (dedup_key) where acknowledged_at is null and resolved_at is null
            do update set occurrences = sync.alerts.occurrences + 1, last_seen_at = now();
        end if;
        update sync.inbox i set status = 'applied', applied_at = now(), run_id = p_run_id
         where i.id = any (array(select d.inbox_id from pg_temp.work_del d where d.inbox_id is not null));
    end if;

    -- The pack's transform over the work set's upserts.
    truncate pg_temp.work_t;
    execute format('insert into pg_temp.work_t select * from %s()', e.transform);
    if not exists (select 1 from pg_temp.work_t) then
        return (select coalesce(jsonb_object_agg(key, value), '{}') from jsonb_each(v_counts) where value <> '0');
    end if;
    select count(*) filter (where t.outcome = 'park'), count(*) filter (where t.outcome = 'quarantine'),
           count(*) filter (where t.outcome = 'skip')
      into v_park, v_quarantine, v_skip
      from pg_temp.work_t t;

    -- Target ids: the id map, else adoption of a row the one-off migration created, else UUID v5.
    truncate pg_temp.work_w;
    execute format($q$
        insert into pg_temp.work_w (work_id, inbox_id, legacy_id, source_version, captured_at, data, issues, id, mapped_version)
        select t.work_id, w.inbox_id, w.legacy_id, w.source_version, w.captured_at, t.data, t.issues,
               coalesce(m.target_id, (select a.id from %1$s a where a.%2$I = w.legacy_id),
                        extensions.uuid_generate_v5('5b0e3c2a-8f4d-4e71-9c6a-1d2f3e4a5b6c'::uuid, $1 || ':' || w.legacy_id)),
               m.source_version
          from pg_temp.work_t t
          join pg_temp.work_in w on w.work_id = t.work_id
          -- A lateral probe of the primary key, whatever the statistics say about this entity's
          -- share of the map (during a backfill they lag behind by a whole entity).
          left join lateral (select m.target_id, m.source_version from sync.id_map m
                              where m.entity = $1 and m.legacy_id = w.legacy_id offset 0) m on true
         where t.outcome = 'write' $q$, e.target_table, e.legacy_id_column)
    using p_entity;

    -- Rows already mapped: only they can be stale, meet a target-side edit or keep an updated_at.
    v_mapped := exists (select 1 from pg_temp.work_w w where w.mapped_version is not null);

    -- Version guard: an image older than the one already applied never overwrites it.
    if v_mapped then
        update sync.inbox i set status = 'applied', applied_at = now(), run_id = p_run_id, reason = 'stale'
          from pg_temp.work_w w where i.id = w.inbox_id and w.source_version < w.mapped_version;
        delete from pg_temp.work_w w where w.source_version < w.mapped_version;
        get diagnostics v_n = row_count;
        if v_n > 0 then v_counts := v_counts || jsonb_build_object('stale', v_n); end if;
    end if;

    -- Conflicts (engine.md §5): the written columns of the target row against the image the sync
    -- last wrote; a difference is a target-side edit, handled by the entity's strategy. (The images
    -- and the source's changed columns only where they are read: every row for merge, the base of
    -- every row for an entity that children re-read, else the rows with a conflict, below.)
    if v_mapped then
        v_all_images := v_strategy = 'merge';
        v_all_base := v_all_images or exists (select 1 from sync.entities c, jsonb_array_elements(c.reread) r
                                               where r.value ->> 'parent' = p_entity);
        execute format($q$
            update pg_temp.work_w w set tcols = %2$s,
                                     base = case when $3 then m.image end,
                                     target_image = case when $2 then %3$s end,
                                     scols = case when $2 then
                                                 (select %4$s from jsonb_populate_record(null::%1$s, w.data) d,
                                                                   jsonb_populate_record(null::%1$s, coalesce(m.source_image, m.image)) b) end
              from (select w2.work_id, w2.id, m.image, m.source_image
                      from pg_temp.work_w w2
                     -- Only rows already mapped can meet a target-side edit (a first copy has none).
                     cross join lateral (select m.image, m.source_image from sync.id_map m
                                          where m.entity = $1 and m.legacy_id = w2.legacy_id and m.image is not null offset 0) m
                     where w2.mapped_version is not null) m
             cross join lateral (select t.* from %1$s t where t.id = m.id offset 0) t,
                   jsonb_populate_record(null::%1$s, m.image) b
             where m.work_id = w.work_id $q$, e.target_table, v_tcols, v_timg, v_scols)
        using p_entity, v_all_images, v_all_base;
        if exists (select 1 from pg_temp.work_w w where cardinality(w.tcols) > 0) then
            if not v_all_images then
                execute format($q$
                    update pg_temp.work_w w set base = m.image, target_image = %2$s
                      from (select w2.work_id, w2.id, m.image
                              from pg_temp.work_w w2
                             cross join lateral (select m.image from sync.id_map m
                                                  where m.entity = $1 and m.legacy_id = w2.legacy_id offset 0) m
                             where cardinality(w2.tcols) > 0) m
                     cross join lateral (select t.* from %1$s t where t.id = m.id offset 0) t
                     where m.work_id = w.work_id $q$,
                    e.target_table, v_timg)
                using p_entity;
            end if;
            insert into sync.conflicts as k (entity, legacy_id, target_id, inbox_id, op, strategy, status, decision, columns,
                                             source_image, target_image, base_image, resolved_at, resolved_by)
            select p_entity, w.legacy_id, w.id, w.inbox_id, 'upsert', v_strategy,
                   case when v_strategy = 'manual' then 'open' else 'resolved' end,
                   case v_strategy when 'source_wins' then 'accept_source' when 'target_wins' then 'keep_target'
                                   when 'merge' then 'merged'
                                   when 'newest_wins' then case when sync._target_newer(w.target_image, w.data) then 'keep_target'
                                                                else 'accept_source' end end,
                   w.tcols, w.data, w.target_image, w.base,
                   case when v_strategy <> 'manual' then now() end, case when v_strategy <> 'manual' then 'sync' end
              from pg_temp.work_w w where cardinality(w.tcols) > 0
            on conflict (entity, legacy_id) where status = 'open'
            do update set inbox_id = excluded.inbox_id, op = 'upsert', source_image = excluded.source_image,
                          target_image = excluded.target_image, columns = excluded.columns, created_at = now();
            get diagnostics v_n = row_count;
            v_counts := v_counts || jsonb_build_object('conflicts', coalesce((v_counts ->> 'conflicts')::integer, 0) + v_n);
            if v_strategy in ('target_wins', 'manual', 'newest_wins') then
                -- Held (manual) or kept (target_wins; newest_wins where the target row changed last): the
                -- target row is not written. The conflict keeps the transformed row (source_image), so
                -- that resolving it applies exactly that.
                update pg_temp.work_w w set keep = true
                 where cardinality(w.tcols) > 0 and (v_strategy <> 'newest_wins' or sync._target_newer(w.target_image, w.data));
                update sync.inbox i set status = case when v_strategy = 'manual' then 'conflict' else 'applied' end,
                                        applied_at = case when v_strategy = 'manual' then null else now() end,
                                        reason = case when v_strategy = 'manual' then null else 'kept target' end, run_id = p_run_id
                  from pg_temp.work_w w where i.id = w.inbox_id and w.keep;
                update sync.id_map m set source_version = greatest(m.source_version, w.source_version), source_image = w.data
                  from pg_temp.work_w w where m.entity = p_entity and m.legacy_id = w.legacy_id and w.keep
                   and v_strategy <> 'manual';
                delete from pg_temp.work_w w where w.keep;
            end if;
        end if;
        if v_strategy = 'merge' then
            -- Three-way, column by column: a column the source changed (against what it last mapped
            -- to) takes the source value, unless the target changed it too and the tie rule says
            -- target; every other column keeps the target's current value.
            update pg_temp.work_w w
               set source_data = w.data,
                   data = w.target_image || coalesce((select jsonb_object_agg(c, w.data -> c) from unnest(w.scols) c
                                                       where not (v_tie = 'target' and c = any (w.tcols))), '{}')
             where w.base is not null;
        end if;
    end if;

    -- A change written now closes a conflict that an older, held change left open.
    if exists (select 1 from sync.conflicts k where k.entity = p_entity and k.status = 'open') then
        update sync.conflicts k set status = 'resolved', decision = 'accept_source', resolved_at = now(), resolved_by = 'newer change'
         where k.entity = p_entity and k.status = 'open' and k.legacy_id = any (array(select w.legacy_id from pg_temp.work_w w));
    end if;

    -- updated_at taken from the capture time (a source table without one, mappings.md) moves only
    -- when the row's content does: a re-read (a backfill, a repair, a retry) or a save that changed
    -- nothing keeps the target's updated_at, so the row stays unchanged.
    if v_mapped and e.poll_column is null and 'updated_at' = any (e.write_columns) then
        execute format($q$
            update pg_temp.work_w w set data = jsonb_set(w.data, '{updated_at}', to_jsonb(t.updated_at))
              from pg_temp.work_w w2
             cross join lateral (select t.* from %1$s t where t.id = w2.id offset 0) t
             where w2.work_id = w.work_id and w2.mapped_version is not null and w2.data ? 'updated_at'
               and (select (%2$s) is not distinct from (%3$s) from jsonb_populate_record(null::%1$s, w.data) d)%4$s $q$,
            e.target_table,
            (select string_agg(format('d.%I', c), ', ') from unnest(e.write_columns) c where c <> 'updated_at'),
            (select string_agg(format('t.%I', c), ', ') from unnest(e.write_columns) c where c <> 'updated_at'),
            case when e.has_deleted_at then ' and t.deleted_at is null' else '' end);
    end if;

    select string_agg(format('%I', c), ', '), string_agg(format('%1$I = excluded.%1$I', c), ', '),
           string_agg(format('t.%1$I', c), ', ') || ') is distinct from (' || string_agg(format('excluded.%1$I', c), ', ')
      into v_cols, v_set, v_diff
      from unnest(e.write_columns) c;
    execute format($q$
        with w as (
            insert into %1$s as t (id, %2$I, %3$s)
            select w.id, w.legacy_id, %4$s
              from pg_temp.work_w w, jsonb_populate_record(null::%1$s, w.data) r
            on conflict (id) do update set %5$s%6$s
             where (%7$s)%8$s
            returning (xmax = 0) as inserted
        )
        select count(*) filter (where inserted), count(*) filter (where not inserted) from w $q$,
        e.target_table, e.legacy_id_column, v_cols,
        (select string_agg(format('r.%I', c), ', ') from unnest(e.write_columns) c),
        v_set, case when e.has_deleted_at then ', deleted_at = null' else '' end,
        v_diff, case when e.has_deleted_at then ' or t.deleted_at is not null' else '' end)
    into v_ins, v_upd;
    select count(*) into v_n from pg_temp.work_w;
    v_counts := v_counts || jsonb_build_object('inserted', v_ins, 'updated', v_upd, 'unchanged', v_n - v_ins - v_upd);

    insert into sync.id_map as m (entity, legacy_id, target_id, source_version, image, source_image, deleted, updated_at)
    select p_entity, w.legacy_id, w.id, w.source_version, w.data, w.source_data, false, now() from pg_temp.work_w w
    on conflict (entity, legacy_id) do update
       set target_id = excluded.target_id, source_version = excluded.source_version, image = excluded.image,
           source_image = excluded.source_image, deleted = false, updated_at = now()
     where m.image is distinct from excluded.image or m.source_version <> excluded.source_version
        or m.target_id <> excluded.target_id or m.deleted or m.source_image is distinct from excluded.source_image;

    -- Derived columns of other entities that follow this one's rows (e.g. a case_id taken from
    -- the parent's target row) are re-derived now, and their last written image with them.
    for v_child in
        select c.name, c.target_table, d.value as rule
          from sync.entities c, jsonb_array_elements(c.derive) d
         where d.value ->> 'parent' = p_entity
    loop
        execute format($q$
            with changed as (
                update %1$s c set %2$I = p.%3$I
                  from %4$s p, pg_temp.work_w w
                 where w.id = p.id and c.%5$I = p.id and c.%2$I is distinct from p.%3$I
                returning c.id, to_jsonb(c.%2$I) as value
            )
            update sync.id_map m set image = jsonb_set(m.image, array[%6$L], changed.value), updated_at = now()
              from changed where m.entity = %7$L and m.target_id = changed.id $q$,
            v_child.target_table, v_child.rule ->> 'column', v_child.rule ->> 'parent_column', e.target_table,
            v_child.rule ->> 'fk', v_child.rule ->> 'column', v_child.name);
        get diagnostics v_n = row_count;
        if v_n > 0 then
            v_counts := v_counts || jsonb_build_object('rederived', coalesce((v_counts ->> 'rederived')::integer, 0) + v_n);
        end if;
    end loop;

    -- Children whose mapping reads this entity's rows (reread rules: messages through their content
    -- type) are read again when such a row changes: their outcome may change with it.
    if v_mapped then
        insert into sync.reread (entity, fk, parent_legacy_id)
        select c.name, r.value ->> 'fk', w.legacy_id
          from sync.entities c, jsonb_array_elements(c.reread) r, pg_temp.work_w w
         where r.value ->> 'parent' = p_entity and w.base is not null and w.base is distinct from w.data
        on conflict do nothing;
    end if;

    -- Unknown codes: recorded as data-integrity issues, the row still syncs; an issue the row's
    -- written version no longer has is gone.
    delete from sync.integrity_issues ii using pg_temp.work_w w
     where ii.entity = p_entity and ii.legacy_id = w.legacy_id
       and not exists (select 1 from jsonb_array_elements(w.issues) x where x ->> 'column' = ii.column_name);
    insert into sync.integrity_issues as ii (entity, legacy_id, source_table, column_name, code)
    select p_entity, w.legacy_id, e.source_table, x ->> 'column', x ->> 'code'
      from pg_temp.work_w w, jsonb_array_elements(w.issues) x
     where w.issues is not null
    on conflict (entity, legacy_id, column_name) do update set code = excluded.code, last_seen_at = now();

    -- (A backfill's rows come from the source, none from the inbox.)
    if p_ids is not null then
        update sync.inbox i set status = 'applied', applied_at = now(), run_id = p_run_id
         where i.id = any (array(select w.inbox_id from pg_temp.work_w w where w.inbox_id is not null));
    end if;
    delete from sync.filtered f
     where f.entity = p_entity and f.legacy_id = any (array(select w.legacy_id from pg_temp.work_w w));

    if p_ids is null then
        -- Backfill rows that park or are quarantined enter the inbox as such, where they wait and are
        -- seen: one insert, and the quarantine's rows from what it returns.
        if v_park > 0 then
            v_counts := v_counts || jsonb_build_object('parked', v_park);
        end if;
        if v_quarantine > 0 then
            v_counts := v_counts || jsonb_build_object('quarantined', v_quarantine);
        end if;
        if v_park + v_quarantine > 0 then
            with moved as (
                insert into sync.inbox (entity, legacy_id, op, image, source_version, captured_at, run_id, status,
                                        parent_entity, parent_legacy_id, attempts, reason, message)
                select p_entity, w.legacy_id, w.op, w.image, w.source_version, w.captured_at, p_run_id,
                       case t.outcome when 'park' then 'parked' else 'quarantined' end,
                       case when t.outcome = 'park' then t.parent_entity end,
                       case when t.outcome = 'park' then t.parent_legacy_id end,
                       (t.outcome = 'park')::integer,
                       case when t.outcome = 'quarantine' then t.reason end,
                       case when t.outcome = 'quarantine' then t.message end
                  from pg_temp.work_t t join pg_temp.work_in w on w.work_id = t.work_id
                 where t.outcome in ('park', 'quarantine')
                returning id, legacy_id, status, reason, message
            )
            insert into sync.quarantine as q (entity, legacy_id, inbox_id, reason, message)
            select p_entity, m.legacy_id, m.id, m.reason, m.message from moved m where m.status = 'quarantined'
            on conflict (entity, legacy_id) where released_at is null
            do update set inbox_id = excluded.inbox_id, reason = excluded.reason, message = excluded.message;
        end if;
    else
        -- Rows whose parent is not mapped yet wait for it.
        if v_park > 0 then
            update sync.inbox i set status = 'parked', parent_entity = t.parent_entity, parent_legacy_id = t.parent_legacy_id,
                                    attempts = i.attempts + 1, run_id = p_run_id
              from pg_temp.work_t t join pg_temp.work_in w on w.work_id = t.work_id
             where i.id = w.inbox_id and t.outcome = 'park';
            get diagnostics v_n = row_count;
            if v_n > 0 then v_counts := v_counts || jsonb_build_object('parked', v_n); end if;
        end if;

        -- Rows that can never apply as they stand: quarantined with a reason; nothing else waits.
        v_n := 0;
        if v_quarantine > 0 then
            update sync.inbox i set status = 'quarantined', reason = t.reason, message = t.message, run_id = p_run_id
              from pg_temp.work_t t join pg_temp.work_in w on w.work_id = t.work_id
             where i.id = w.inbox_id and t.outcome = 'quarantine';
            get diagnostics v_n = row_count;
        end if;
        if v_n > 0 then
            v_counts := v_counts || jsonb_build_object('quarantined', v_n);
            insert into sync.quarantine as q (entity, legacy_id, inbox_id, reason, message)
            select p_entity, w.legacy_id, w.inbox_id, t.reason, t.message
              from pg_temp.work_t t join pg_temp.work_in w on w.work_id = t.work_id where t.outcome = 'quarantine'
            on conflict (entity, legacy_id) where released_at is null
            do update set inbox_id = excluded.inbox_id, reason = excluded.reason, message = excluded.message;
        end if;
    end if;

    -- Filtered rows: skipped; a synced row that stops qualifying is soft-deleted.
    v_n := v_skip;
    if v_n > 0 and p_ids is not null then
        update sync.inbox i set status = 'skipped', applied_at = now(), run_id = p_run_id
          from pg_temp.work_t t join pg_temp.work_in w on w.work_id = t.work_id
         where i.id = w.inbox_id and t.outcome = 'skip';
    end if;
    if v_n > 0 then
        v_counts := v_counts || jsonb_build_object('skipped', v_n);
        -- The trace that tells verification a filtered row from a missing one.
        insert into sync.filtered as f (entity, legacy_id, reason)
        select p_entity, w.legacy_id, coalesce(t.reason, 'filtered')
          from pg_temp.work_t t join pg_temp.work_in w on w.work_id = t.work_id where t.outcome = 'skip'
        on conflict (entity, legacy_id) do update set reason = excluded.reason, at = now();
    end if;
    if v_n > 0 and e.has_deleted_at then
        execute format($q$
            update %s x set deleted_at = s.captured_at
              from (select w.captured_at,
                           (select m.target_id from sync.id_map m where m.entity = $1 and m.legacy_id = w.legacy_id) as target_id
                      from pg_temp.work_t t join pg_temp.work_in w on w.work_id = t.work_id
                     where t.outcome = 'skip' offset 0) s
             where x.id = s.target_id and x.deleted_at is null $q$, e.target_table)
        using p_entity;
        get diagnostics v_n = row_count;
        if v_n > 0 then
            v_counts := v_counts || jsonb_build_object('deleted', coalesce((v_counts ->> 'deleted')::integer, 0) + v_n);
        end if;
    end if;
    return (select coalesce(jsonb_object_agg(key, value), '{}') from jsonb_each(v_counts) where value <> '0');
end;
$$;

-- One bounded apply step: every enabled entity's open changes in dependency order, at most
-- p_limit changes in all (NULL: all of them). Each entity in a subtransaction of its own: an error
-- that is no single row's (sync._row_error) stops that entity only, and is reported.
-- Returns {counts: {entity: {outcome: n}}, taken: n, errors: [{entity, sqlstate, category, message}]}.
create function sync._apply_step(p_run_id bigint, p_limit integer default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_entity text;
    v_counts jsonb := '{}';
    v_errors jsonb := '[]';
    v_one jsonb;
    v_ids bigint[];
    v_left integer := p_limit;
    v_taken integer := 0;
    v_state text;
    v_msg text;
    v_detail text;
    v_config jsonb := sync.get_config();
    v_paused text[] := sync._drift_paused();
begin
    for v_entity in select o.name from sync._apply_order() o loop
        -- (Disabled entities, and those paused by source drift: their changes wait, pending.)
        continue when not coalesce((v_config #>> array['entities', v_entity, 'enabled'])::boolean, true)
                   or v_entity = any (v_paused);
        exit when v_left <= 0;
        begin
            v_ids := sync._apply_prepare(v_entity, p_run_id, v_left);
            v_one := sync._apply_isolated(v_entity, p_run_id, v_ids);
            v_taken := v_taken + cardinality(v_ids);
            v_left := v_left - cardinality(v_ids);
            if v_one <> '{}' then
                v_counts := v_counts || jsonb_build_object(v_entity, v_one);
            end if;
        exception when others then
            get stacked diagnostics v_state = returned_sqlstate, v_msg = message_text, v_detail = pg_exception_detail;
            v_errors := v_errors || jsonb_build_array(jsonb_build_object('entity', v_entity)
                                                      || sync._run_error('apply', v_state, v_msg, v_detail));
        end;
    end loop;
    return jsonb_build_object('counts', v_counts, 'taken', v_taken, 'errors', v_errors);
end;
$$;

-- Applies every enabled entity's open changes in dependency order. Returns {entity: {outcome: n}}.
create function sync._apply(p_run_id bigint)
returns jsonb
language sql
set search_path = ''
as $$
    select sync._apply_step(p_run_id) -> 'counts';
$$;

-- Quarantined changes that the target refused (apply_error) are tried again on the schedule of
-- quarantine_retry_minutes (minutes after the n-th refusal); after the last, they wait for a newer
-- change, a retry or a discard. Returns how many went back to pending.
create function sync._retry_due_quarantine(p_run_id bigint)
returns integer
language plpgsql
set search_path = ''
as $$
declare
    v_minutes jsonb := sync.get_config() -> 'quarantine_retry_minutes';
    v_n integer;
begin
    with due as (
        -- The step of the schedule: how many times this change was retried automatically already
        -- (not its attempts, which count the times it parked too).
        update sync.quarantine q set released_at = now(), released_by = 'sync', resolution = 'auto retry'
          from sync.inbox i
         cross join lateral (select count(*)::integer as n from sync.quarantine p
                              where p.inbox_id = i.id and p.resolution = 'auto retry') r
         where q.released_at is null and q.reason = 'apply_error' and i.id = q.inbox_id and i.status = 'quarantined'
           and r.n < jsonb_array_length(v_minutes)
           and q.created_at + make_interval(mins => (v_minutes ->> r.n)::integer) <= now()
        returning q.inbox_id
    )
    update sync.inbox i set status = 'pending', reason = null, message = null, run_id = p_run_id
      from due where i.id = due.inbox_id;
    get diagnostics v_n = row_count;
    return v_n;
end;
$$;

-- Closes a queued manual run that its tick could not start (cancelled, with the reason). NULL: nothing.
create function sync._close_queued(p_run_id bigint, p_reason text)
returns void
language sql
set search_path = ''
as $$
    update sync.runs r set status = 'cancelled', ended_at = pg_catalog.clock_timestamp(),
                           error = jsonb_build_object('phase', 'run', 'category', 'conflict', 'message', p_reason)
     where r.id = p_run_id and r.status = 'queued';
$$;
revoke execute on function sync._close_queued(bigint, text) from public;

-- One scheduled unit: pull and apply batch by batch, each step its own transaction of at most
-- batch_size changes, until the source is drained or the budget is spent. With transport `http`
-- it does not pull (the sync Edge Function's bridge has pulled into the inbox before calling it). An unfinished backfill
-- is advanced one chunk at a time between them (never instead of them: a failing backfill backs
-- off, changes keep flowing). A procedure without SET or SECURITY DEFINER: both forbid COMMIT
-- inside it, so every name is schema-qualified instead. One applier at a time (sync._lease_claim):
-- a second caller gets {"status": "already_running", "run": ...} at once. With run_id, the tick
-- runs as that queued manual run (sync.start_run), or closes it when it cannot start.
create procedure sync.tick(max_seconds integer default 50, inout summary jsonb default null, trigger text default null,
                           caller text default null, idle_seconds integer default 0, run_id bigint default null)
language plpgsql
as $$
declare
    v_run bigint;
    v_holder jsonb;
    v_config jsonb := sync.get_config();
    v_limit integer := (v_config ->> 'batch_size')::integer;
    v_deadline timestamptz := pg_catalog.clock_timestamp() + make_interval(secs => greatest(max_seconds, 1));
    v_t0 timestamptz := pg_catalog.clock_timestamp();
    v_t timestamptz;
    v_pull jsonb;
    v_step jsonb;
    v_done bigint;
    v_counts jsonb := '{}';
    v_pull_ms numeric := 0;
    v_apply_ms numeric := 0;
    v_backfill_ms numeric := 0;
    v_batches integer := 0;
    v_changes bigint := 0;
    v_rows bigint := 0;
    v_error jsonb;
    v_errors jsonb := '[]';
    v_state text;
    v_msg text;
    v_detail text;
    v_status text;
    v_lag jsonb;
    v_prev jsonb;
    v_verify jsonb;
    v_verify_ms numeric := 0;
    v_backfill bigint;
    v_drained boolean := false;
    v_stuck boolean;
    v_max_pull integer := 0;
    v_max_apply integer := 0;
    v_longest numeric := 0;
    v_idle_until timestamptz := pg_catalog.clock_timestamp() + make_interval(secs => least(greatest(idle_seconds, 0), max_seconds));
    v_attempt integer;
    v_retry jsonb := v_config -> 'retry';
    v_open timestamptz;
    v_reconcile jsonb;  -- polling capture: the reconciliation steps of this run
begin
    v_holder := sync._lease_claim();
    -- A scheduled tick (it polls while idle) that finds the previous one still finishing its last
    -- step waits for it, briefly, instead of leaving its whole interval unserved: with a minute
    -- schedule that gap was a minute of lag for every change behind it.
    while v_holder is not null and idle_seconds > 0
          and pg_catalog.clock_timestamp() < v_t0 + make_interval(secs => least(10, greatest(max_seconds, 1))) loop
        -- (Committed first: the claim locked the applier row, which the running tick renews its lease through.)
        commit;
        perform pg_catalog.pg_sleep(0.1);
        v_holder := sync._lease_claim();
    end loop;
    -- (The run starts when it has the applier; its deadline stays the call's.)
    v_t0 := pg_catalog.clock_timestamp();
    if v_holder is not null then
        summary := jsonb_build_object('status', 'already_running', 'run', v_holder);
        perform sync._close_queued(tick.run_id, 'another run took the applier first');
        return;
    end if;
    -- The circuit breaker: while open, the source is left alone (no run); once its time is past,
    -- this tick is the one probe (one applier at a time).
    v_open := (select s.open_until from sync.source s where s.open_until > pg_catalog.now());
    if v_open is not null then
        summary := jsonb_build_object('status', 'circuit_open', 'open_until', v_open,
                                      'failures', (select s.failures from sync.source s));
        perform sync._close_queued(tick.run_id, 'the source is backed off (circuit open)');
        return;
    end if;
    if tick.run_id is not null then
        update sync.runs r set status = 'running', started_at = v_t0
         where r.id = tick.run_id and r.mode = 'incremental' and r.status = 'queued'
        returning r.id into v_run;
        if v_run is null then
            summary := jsonb_build_object('status', 'not_queued', 'run', sync.get_run(tick.run_id));
            return;
        end if;
    else
        insert into sync.runs (mode, status, trigger, caller, started_at)
        values ('incremental', 'running',
                coalesce(tick.trigger, nullif(pg_catalog.current_setting('sync.trigger', true), ''), 'manual'),
                sync._caller(tick.caller), v_t0)
        returning id into v_run;
    end if;
    perform sync._lease_set(v_run);
    perform sync._retry_due_quarantine(v_run);
    commit;
    loop
        exit when pg_catalog.clock_timestamp() >= v_deadline
               or (select r.status from sync.runs r where r.id = v_run) = 'cancelled';
        -- An unfinished backfill (queued by the API, or interrupted) advances one chunk per round,
        -- unless it is backing off after a failure.
        v_backfill := sync._backfill_due();
        if v_backfill is not null then
            exit when not sync._lease_renew(v_run);
            perform sync._lease_set(v_run, v_backfill);
            v_t := pg_catalog.clock_timestamp();
            v_done := (select (r.progress ->> 'done')::bigint from sync.runs r where r.id = v_backfill);
            v_step := sync._backfill_advance(v_backfill);
            if v_step is not null then
                -- Rolled back whole (a broken source connection cannot commit), then recorded.
                rollback;
                perform sync._backfill_failed(v_backfill, v_step);
            end if;
            commit;
            -- The guest's pause (source_load), after the chunk's source transaction is closed.
            if v_step is null then
                perform sync._backfill_throttled(v_backfill, v_done, v_t);
                commit;
            end if;
            v_backfill_ms := v_backfill_ms + extract(epoch from pg_catalog.clock_timestamp() - v_t) * 1000;
        end if;

        -- What is pending (a pulled page, released parked rows) applies in bounded steps.
        v_stuck := false;
        -- (Parked rows whose parent was mapped outside the inbox, by a backfill, a repair or a
        -- reconciliation, count as pending: the entity's next pass releases them.)
        while not v_stuck and pg_catalog.clock_timestamp() < v_deadline
              and (exists (select 1 from sync.inbox i where i.status = 'pending'
                              and coalesce((v_config #>> array['entities', i.entity, 'enabled'])::boolean, true))
                   or exists (select 1 from sync.inbox i
                                join sync.id_map m on m.entity = i.parent_entity and m.legacy_id = i.parent_legacy_id
                               where i.status = 'parked'
                                 and coalesce((v_config #>> array['entities', i.entity, 'enabled'])::boolean, true))) loop
            exit when not sync._lease_renew(v_run);
            v_t := pg_catalog.clock_timestamp();
            v_step := sync._apply_step(v_run, v_limit);
            v_counts := sync._add_counts(v_counts, v_step -> 'counts');
            v_errors := v_errors || (v_step -> 'errors');
            -- An entity whose whole pass fails would fail the same way again in this tick.
            v_stuck := (v_step ->> 'taken')::integer = 0 or jsonb_array_length(v_step -> 'errors') > 0;
            commit;
            v_apply_ms := v_apply_ms + extract(epoch from pg_catalog.clock_timestamp() - v_t) * 1000;
            v_max_apply := greatest(v_max_apply, (v_step ->> 'taken')::integer);
            v_longest := greatest(v_longest, extract(epoch from pg_catalog.clock_timestamp() - v_t) * 1000);
        end loop;
        -- Children that a changed parent's rows asked to be read again (sync.reread), through the FDW.
        if v_config ->> 'transport' <> 'http' and exists (select 1 from sync.reread) then
            v_t := pg_catalog.clock_timestamp();
            v_counts := sync._add_counts(v_counts, sync._reread(v_run));
            commit;
            v_apply_ms := v_apply_ms + extract(epoch from pg_catalog.clock_timestamp() - v_t) * 1000;
        end if;
        exit when pg_catalog.clock_timestamp() >= v_deadline or v_drained and v_backfill is null;
        if v_config ->> 'transport' = 'http' then
            -- The target cannot reach the source: the sync Edge Function pulls (sync.ingest_batch)
            -- and then calls this tick, which only applies (and advances a backfill).
            v_drained := true;
            exit when v_backfill is null;
            continue;
        end if;

        exit when not sync._lease_renew(v_run);
        v_t := pg_catalog.clock_timestamp();
        -- Transient errors (network, locks, timeouts) are retried with exponential backoff and
        -- jitter, each attempt its own transaction (a broken source connection is only replaced
        -- in a new one).
        v_attempt := 0;
        loop
            v_error := null;
            begin
                v_pull := sync._pull(v_run, v_limit);
            exception when others then
                get stacked diagnostics v_state = returned_sqlstate, v_msg = message_text, v_detail = pg_exception_detail;
                v_error := sync._run_error('pull', v_state, v_msg, v_detail) || jsonb_build_object('attempts', v_attempt + 1);
            end;
            if v_error is not null then
                -- Nothing of a failed pull is kept, and a source connection that failed in the middle of
                -- a query cannot commit: roll its transaction back whole.
                rollback;
            end if;
            exit when v_error is null or not sync._transient(v_state)
                   or v_attempt + 1 >= (v_retry ->> 'attempts')::integer or pg_catalog.clock_timestamp() >= v_deadline;
            perform pg_catalog.pg_sleep(least((v_retry ->> 'max_backoff_ms')::numeric,
                                              (v_retry ->> 'backoff_ms')::numeric * 2 ^ v_attempt) * (0.5 + random()) / 1000.0);
            commit;
            v_attempt := v_attempt + 1;
            exit when not sync._lease_renew(v_run);
        end loop;
        perform sync._breaker_record(v_error is null, v_error);
        if v_pull ? 'refused' then
            v_error := sync._run_error('pull', 'SY409', 'the source is not the one connected (system identifier, timeline or '
                                       || 'database differ): changes are not pulled until a full backfill re-baselines it');
            perform sync._alert('source_changed', 'critical', 'source_changed',
                                'the source database changed identity; pulls are refused until a full backfill re-baselines it',
                                jsonb_build_object('recorded', v_pull -> 'recorded', 'found', v_pull -> 'found'));
        end if;
        commit;
        v_pull_ms := v_pull_ms + extract(epoch from pg_catalog.clock_timestamp() - v_t) * 1000;
        v_longest := greatest(v_longest, extract(epoch from pg_catalog.clock_timestamp() - v_t) * 1000);
        exit when v_error is not null;
        v_max_pull := greatest(v_max_pull, (v_pull ->> 'changes')::integer);
        v_batches := v_batches + 1;
        v_changes := v_changes + (v_pull ->> 'changes')::bigint;
        v_rows := v_rows + (v_pull ->> 'rows')::bigint;
        if jsonb_typeof(v_pull -> 'reconcile') = 'object' then v_reconcile := coalesce(v_reconcile, '{}') || (v_pull -> 'reconcile'); end if;
        v_drained := (v_pull ->> 'rows')::integer = 0 and not (v_pull ->> 'more')::boolean;
        if v_drained and v_backfill is null and pg_catalog.clock_timestamp() < least(v_idle_until, v_deadline) then
            -- Idle, and asked to keep polling (the scheduled call): the next change is seconds away
            -- at most, whatever the schedule's interval.
            perform pg_catalog.pg_sleep(0.25);
            commit;
            v_drained := false;
            continue;
        end if;
        exit when v_drained and v_backfill is null;
    end loop;

    -- Verification after a run that applied rows: a drift sample of what it touched (repaired when
    -- auto_repair is on) while this run holds the lease. It never fails the run.
    if v_rows > 0 and v_error is null and (v_config ->> 'verify_after_run')::boolean and v_config ->> 'transport' = 'fdw'
       and sync._lease_renew(v_run) then
        v_t := pg_catalog.clock_timestamp();
        begin
            -- The drift of a sample of the entities this run applied, light enough for every run.
            v_verify := sync._verify(v_run, false, array(select jsonb_object_keys(v_counts)), 50, null, true);
            v_verify := jsonb_build_object('ok', v_verify -> 'ok', 'repaired', v_verify -> 'repaired',
                'problems', coalesce((select jsonb_agg(e.key order by e.key) from jsonb_each(v_verify -> 'entities') e
                                       where not (e.value ->> 'ok')::boolean), '[]'));
        exception when others then
            get stacked diagnostics v_state = returned_sqlstate, v_msg = message_text;
            v_verify := jsonb_build_object('error', sync._run_error('verify', v_state, v_msg));
        end;
        commit;
        v_verify_ms := extract(epoch from pg_catalog.clock_timestamp() - v_t) * 1000;
    end if;

    if v_error is null and jsonb_array_length(v_errors) > 0 then
        v_error := v_errors -> 0 || jsonb_build_object('errors', v_errors);
    end if;
    v_status := case when (select r.status from sync.runs r where r.id = v_run) = 'cancelled' then 'cancelled'
                     when v_error is null then 'succeeded' when v_batches > 0 or v_counts <> '{}' then 'partial' else 'failed' end;
    -- Lag: source commit → applied here, over this run's rows. The commit is not recorded on the
    -- source (captured_at is the writing statement's time); it happened after that and after the
    -- previous batch's snapshot (else that batch had it), and before this batch's: the later of
    -- the two is the commit time, to within one poll, never after the real one.
    -- (The previous snapshot of each of this run's batches as a map first: a join lets a planner
    -- with stale statistics run a subquery per row and batch, minutes for a large run.)
    select jsonb_object_agg(x.id, x.prev_at) into v_prev
      from (select b.id, b.run_id, lag(b.pulled_at) over (order by b.id) as prev_at
              from sync.batches b
             where b.id >= coalesce((select min(b2.id) from sync.batches b2 where b2.run_id = v_run), 1) - 1) x
     where x.run_id = v_run;
    select jsonb_build_object('p50', round((percentile_cont(0.5) within group (order by l) * 1000)::numeric),
                              'p99', round((percentile_cont(0.99) within group (order by l) * 1000)::numeric))
      into v_lag
      from (select extract(epoch from i.applied_at - greatest(i.captured_at, (v_prev ->> i.batch_id::text)::timestamptz)) as l
              from sync.inbox i
             where i.run_id = v_run and i.status in ('applied', 'skipped') and i.batch_id is not null) x;
    summary := jsonb_build_object(
        'run_id', v_run, 'status', v_status, 'batches', v_batches, 'changes', v_changes, 'rows', v_rows,
        'counts', v_counts,
        'timings', jsonb_build_object('pull_ms', round(v_pull_ms), 'apply_ms', round(v_apply_ms),
                                      'backfill_ms', round(v_backfill_ms), 'verify_ms', round(v_verify_ms),
                                      'total_ms', round(extract(epoch from pg_catalog.clock_timestamp() - v_t0) * 1000)),
        'throughput', round(v_rows / greatest(extract(epoch from pg_catalog.clock_timestamp() - v_t0), 0.001), 1),
        'lag_ms', v_lag,
        'verify', v_verify,
        'reconcile', v_reconcile,
        -- Bounded work, as measured: the largest pull and apply step, the longest transaction.
        'steps', jsonb_build_object('max_pull_changes', v_max_pull, 'max_apply_changes', v_max_apply,
                                    'longest_ms', round(v_longest)),
        'error', v_error);
    update sync.runs set status = v_status, ended_at = coalesce(ended_at, pg_catalog.clock_timestamp()), counts = v_counts,
                         timings = tick.summary -> 'timings', error = coalesce(error, v_error), summary = tick.summary
     where id = v_run;
    perform sync._lease_release(v_run);
    commit;
end;
$$;
comment on procedure sync.tick(integer, jsonb, text, text, integer, bigint) is
    'Pulls and applies in bounded steps (each committed) until drained (then keeps polling for idle_seconds) or max_seconds is spent, advancing an unfinished backfill between them; returns the run summary. One applier at a time; circuit_open while the source is backed off.';
revoke execute on function sync._apply_order(), sync._add_counts(jsonb, jsonb), sync._sum_outcomes(jsonb, jsonb),
    sync._apply_prepare(text, bigint, integer), sync._row_error(text),
    sync._apply_error_message(text, bigint, text, text, text, text, text), sync._apply_isolated(text, bigint, bigint[]),
    sync._apply_entity(text, bigint, boolean), sync._apply_work(text, bigint, bigint[]),
    sync._apply_step(bigint, integer), sync._apply(bigint), sync._retry_due_quarantine(bigint) from public;
revoke execute on procedure sync.tick(integer, jsonb, text, text, integer, bigint) from public;
