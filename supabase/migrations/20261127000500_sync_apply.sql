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
    select name, max(depth)::integer from walk group by name order by max(depth), name;
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

-- Applies the changes of one entity, set-based. With p_from_inbox (a tick) the work set is the
-- entity's pending inbox rows; without it (a backfill chunk) the caller has filled sync.work_in
-- straight from the source, and only rows that park or are quarantined enter the inbox.
-- Returns {outcome: n} (zero counts left out).
create function sync._apply_entity(p_entity text, p_run_id bigint, p_from_inbox boolean default true)
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
begin
    select * into e from sync.entities where name = p_entity;
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

    if p_from_inbox then
        -- Parked changes whose missing parent is now mapped go back to pending (indexed, cheap).
        update sync.inbox i set status = 'pending', parent_entity = null, parent_legacy_id = null
         where i.entity = p_entity and i.status = 'parked'
           and exists (select 1 from sync.id_map m where m.entity = i.parent_entity and m.legacy_id = i.parent_legacy_id);
        -- Nothing to do for this entity in this batch: skip the work-table round (a tick applies
        -- every entity after every batch, most of them with nothing pending).
        if not exists (select 1 from sync.inbox i where i.entity = p_entity and i.status = 'pending') then
            return '{}';
        end if;

        -- A newer change to a row replaces its older open ones (newest by source version, then
        -- arrival), and releases their quarantine: a fixing update un-quarantines the row.
        with ranked as (
            select i.id, i.legacy_id,
                   row_number() over (partition by i.legacy_id order by i.source_version desc, i.id desc) as rn,
                   bool_or(i.status = 'pending') over (partition by i.legacy_id) as has_pending
              from sync.inbox i
             where i.entity = p_entity and i.status in ('pending', 'parked', 'quarantined', 'conflict')
        ), older as (
            update sync.inbox i set status = 'superseded', applied_at = now(), run_id = coalesce(p_run_id, i.run_id)
              from ranked r where r.id = i.id and r.rn > 1 and r.has_pending
            returning i.legacy_id
        )
        update sync.quarantine q set released_at = now(), released_by = 'newer change'
          from older where q.entity = p_entity and q.legacy_id = older.legacy_id and q.released_at is null;

        truncate sync.work_in;
        insert into sync.work_in (work_id, inbox_id, legacy_id, op, image, source_version, captured_at)
        select i.id, i.id, i.legacy_id, i.op, i.image, i.source_version, i.captured_at
          from sync.inbox i where i.entity = p_entity and i.status = 'pending';
    else
        -- A backfill image is newer than any open change of the same rows (those were pulled
        -- before, under the same lock): it replaces them and releases their quarantine.
        with older as (
            update sync.inbox i set status = 'superseded', applied_at = now(), run_id = coalesce(p_run_id, i.run_id)
             where i.entity = p_entity and i.status in ('pending', 'parked', 'quarantined', 'conflict')
               and i.legacy_id = any (array(select w.legacy_id from sync.work_in w))
            returning i.legacy_id
        )
        update sync.quarantine q set released_at = now(), released_by = 'newer change'
         where q.entity = p_entity and q.released_at is null and q.legacy_id = any (array(select legacy_id from older));
    end if;

    -- Lookups of the id map and the inbox below are written as per-row probes of their primary
    -- keys (scalar subqueries, = any (array(...))): their statistics lag a whole entity behind
    -- during a backfill, and a planner that believes an entity has one mapped row would otherwise
    -- scan it once per work row.

    -- Deletes, by the pack's rule: soft (deleted_at = capture time) or hard; optional alert.
    truncate sync.work_del;
    insert into sync.work_del (work_id, inbox_id, legacy_id, captured_at, target_id)
    select w.work_id, w.inbox_id, w.legacy_id, w.captured_at,
           (select m.target_id from sync.id_map m where m.entity = p_entity and m.legacy_id = w.legacy_id)
      from sync.work_in w
     where w.op = 'delete';
    if exists (select 1 from sync.work_del) then
        -- A delete that meets a target-side edit is a conflict too.
        execute format($q$
            update sync.work_del d set base = m.image, target_image = %3$s, tcols = %2$s
              from (select d2.work_id, m.image
                      from sync.work_del d2
                     cross join lateral (select m.image from sync.id_map m
                                          where m.entity = $1 and m.legacy_id = d2.legacy_id and m.image is not null offset 0) m) m,
                   %1$s t, jsonb_populate_record(null::%1$s, m.image) b
             where m.work_id = d.work_id and t.id = d.target_id $q$, e.target_table, v_tcols, v_timg)
        using p_entity;
        if exists (select 1 from sync.work_del d where cardinality(d.tcols) > 0) then
            update sync.work_del d set keep = true
             where cardinality(d.tcols) > 0
               and (v_strategy in ('target_wins', 'manual') or (v_strategy = 'merge' and v_tie = 'target'));
            insert into sync.conflicts as k (entity, legacy_id, target_id, inbox_id, op, strategy, status, decision, columns,
                                             source_image, target_image, base_image, resolved_at, resolved_by)
            select p_entity, d.legacy_id, d.target_id, d.inbox_id, 'delete', v_strategy,
                   case when v_strategy = 'manual' then 'open' else 'resolved' end,
                   case v_strategy when 'manual' then null when 'merge' then 'merged'
                                   else case when d.keep then 'keep_target' else 'accept_source' end end,
                   d.tcols, null, d.target_image, d.base,
                   case when v_strategy <> 'manual' then now() end, case when v_strategy <> 'manual' then 'sync' end
              from sync.work_del d where cardinality(d.tcols) > 0
            on conflict (entity, legacy_id) where status = 'open'
            do update set inbox_id = excluded.inbox_id, op = 'delete', source_image = null, created_at = now();
            update sync.inbox i set status = 'conflict', run_id = p_run_id
              from sync.work_del d where i.id = d.inbox_id and d.keep and v_strategy = 'manual';
            update sync.inbox i set status = 'applied', applied_at = now(), run_id = p_run_id, reason = 'kept target'
              from sync.work_del d where i.id = d.inbox_id and d.keep and v_strategy <> 'manual';
            v_counts := v_counts || jsonb_build_object('conflicts', (select count(*) from sync.work_del d where cardinality(d.tcols) > 0));
            delete from sync.work_del d where d.keep;
        end if;
        if e.delete_mode = 'hard' then
            execute format('delete from %s t using sync.work_del d where t.id = d.target_id', e.target_table);
        else
            execute format('update %s t set deleted_at = d.captured_at from sync.work_del d
                             where t.id = d.target_id and t.deleted_at is null', e.target_table);
        end if;
        get diagnostics v_n = row_count;
        v_counts := v_counts || jsonb_build_object('deleted', v_n);
        update sync.id_map m set deleted = true, updated_at = now()
         where m.entity = p_entity and m.legacy_id = any (array(select d.legacy_id from sync.work_del d));
        if e.delete_alert is not null then
            insert into sync.alerts (kind, severity, dedup_key, message, details)
            select e.delete_alert, 'warning', format('%s:%s:%s', e.delete_alert, p_entity, d.legacy_id),
                   format('%s %s was deleted in the legacy database (soft-deleted in the target)', p_entity, d.legacy_id),
                   jsonb_build_object('entity', p_entity, 'legacy_id', d.legacy_id, 'target_id', d.target_id)
              from sync.work_del d
            on conflict (dedup_key) where acknowledged_at is null
            do update set occurrences = sync.alerts.occurrences + 1, last_seen_at = now();
        end if;
        update sync.inbox i set status = 'applied', applied_at = now(), run_id = p_run_id
         where i.id = any (array(select d.inbox_id from sync.work_del d where d.inbox_id is not null));
    end if;

    -- The pack's transform over the work set's upserts.
    truncate sync.work_t;
    execute format('insert into sync.work_t select * from %s()', e.transform);
    if not exists (select 1 from sync.work_t) then
        return (select coalesce(jsonb_object_agg(key, value), '{}') from jsonb_each(v_counts) where value <> '0');
    end if;

    -- Target ids: the id map, else adoption of a row the one-off migration created, else UUID v5.
    truncate sync.work_w;
    execute format($q$
        insert into sync.work_w (work_id, inbox_id, legacy_id, source_version, captured_at, data, issues, id, mapped_version)
        select t.work_id, w.inbox_id, w.legacy_id, w.source_version, w.captured_at, t.data, t.issues,
               coalesce(m.target_id, (select a.id from %1$s a where a.%2$I = w.legacy_id),
                        extensions.uuid_generate_v5('5b0e3c2a-8f4d-4e71-9c6a-1d2f3e4a5b6c'::uuid, $1 || ':' || w.legacy_id)),
               m.source_version
          from sync.work_t t
          join sync.work_in w on w.work_id = t.work_id
          -- A lateral probe of the primary key, whatever the statistics say about this entity's
          -- share of the map (during a backfill they lag behind by a whole entity).
          left join lateral (select m.target_id, m.source_version from sync.id_map m
                              where m.entity = $1 and m.legacy_id = w.legacy_id offset 0) m on true
         where t.outcome = 'write' $q$, e.target_table, e.legacy_id_column)
    using p_entity;

    -- Version guard: an image older than the one already applied never overwrites it.
    update sync.inbox i set status = 'applied', applied_at = now(), run_id = p_run_id, reason = 'stale'
      from sync.work_w w where i.id = w.inbox_id and w.source_version < w.mapped_version;
    delete from sync.work_w w where w.source_version < w.mapped_version;
    get diagnostics v_n = row_count;
    if v_n > 0 then v_counts := v_counts || jsonb_build_object('stale', v_n); end if;

    -- Conflicts (engine.md §5): the written columns of the target row against the image the sync
    -- last wrote; a difference is a target-side edit, handled by the entity's strategy.
    execute format($q$
        update sync.work_w w set base = m.image, target_image = %3$s, tcols = %2$s,
                                 scols = (select %4$s from jsonb_populate_record(null::%1$s, w.data) d,
                                                           jsonb_populate_record(null::%1$s, coalesce(m.source_image, m.image)) b)
          from (select w2.work_id, m.image, m.source_image
                  from sync.work_w w2
                 -- Only rows already mapped can meet a target-side edit (a first copy has none).
                 cross join lateral (select m.image, m.source_image from sync.id_map m
                                      where m.entity = $1 and m.legacy_id = w2.legacy_id and m.image is not null offset 0) m
                 where w2.mapped_version is not null) m,
               %1$s t, jsonb_populate_record(null::%1$s, m.image) b
         where m.work_id = w.work_id and t.id = w.id $q$, e.target_table, v_tcols, v_timg, v_scols)
    using p_entity;
    if exists (select 1 from sync.work_w w where cardinality(w.tcols) > 0) then
        insert into sync.conflicts as k (entity, legacy_id, target_id, inbox_id, op, strategy, status, decision, columns,
                                         source_image, target_image, base_image, resolved_at, resolved_by)
        select p_entity, w.legacy_id, w.id, w.inbox_id, 'upsert', v_strategy,
               case when v_strategy = 'manual' then 'open' else 'resolved' end,
               case v_strategy when 'source_wins' then 'accept_source' when 'target_wins' then 'keep_target'
                               when 'merge' then 'merged' end,
               w.tcols, w.data, w.target_image, w.base,
               case when v_strategy <> 'manual' then now() end, case when v_strategy <> 'manual' then 'sync' end
          from sync.work_w w where cardinality(w.tcols) > 0
        on conflict (entity, legacy_id) where status = 'open'
        do update set inbox_id = excluded.inbox_id, op = 'upsert', source_image = excluded.source_image,
                      target_image = excluded.target_image, columns = excluded.columns, created_at = now();
        get diagnostics v_n = row_count;
        v_counts := v_counts || jsonb_build_object('conflicts', coalesce((v_counts ->> 'conflicts')::integer, 0) + v_n);
        if v_strategy in ('target_wins', 'manual') then
            -- Held (manual) or kept (target_wins): the target row is not written. The conflict keeps
            -- the transformed row (source_image), so that resolving it applies exactly that.
            update sync.inbox i set status = case when v_strategy = 'manual' then 'conflict' else 'applied' end,
                                    applied_at = case when v_strategy = 'manual' then null else now() end,
                                    reason = case when v_strategy = 'manual' then null else 'kept target' end, run_id = p_run_id
              from sync.work_w w where i.id = w.inbox_id and cardinality(w.tcols) > 0;
            update sync.id_map m set source_version = greatest(m.source_version, w.source_version), source_image = w.data
              from sync.work_w w where m.entity = p_entity and m.legacy_id = w.legacy_id and cardinality(w.tcols) > 0
               and v_strategy = 'target_wins';
            delete from sync.work_w w where cardinality(w.tcols) > 0;
        end if;
    end if;
    if v_strategy = 'merge' then
        -- Three-way, column by column: a column the source changed (against what it last mapped
        -- to) takes the source value, unless the target changed it too and the tie rule says
        -- target; every other column keeps the target's current value.
        update sync.work_w w
           set source_data = w.data,
               data = w.target_image || coalesce((select jsonb_object_agg(c, w.data -> c) from unnest(w.scols) c
                                                   where not (v_tie = 'target' and c = any (w.tcols))), '{}')
         where w.base is not null;
    end if;
    -- A change written now closes a conflict that an older, held change left open.
    update sync.conflicts k set status = 'resolved', decision = 'accept_source', resolved_at = now(), resolved_by = 'newer change'
     where k.entity = p_entity and k.status = 'open' and k.legacy_id = any (array(select w.legacy_id from sync.work_w w));

    select string_agg(format('%I', c), ', '), string_agg(format('%1$I = excluded.%1$I', c), ', '),
           string_agg(format('t.%1$I', c), ', ') || ') is distinct from (' || string_agg(format('excluded.%1$I', c), ', ')
      into v_cols, v_set, v_diff
      from unnest(e.write_columns) c;
    execute format($q$
        with w as (
            insert into %1$s as t (id, %2$I, %3$s)
            select w.id, w.legacy_id, %4$s
              from sync.work_w w, jsonb_populate_record(null::%1$s, w.data) r
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
    select count(*) into v_n from sync.work_w;
    v_counts := v_counts || jsonb_build_object('inserted', v_ins, 'updated', v_upd, 'unchanged', v_n - v_ins - v_upd);

    insert into sync.id_map as m (entity, legacy_id, target_id, source_version, image, source_image, deleted, updated_at)
    select p_entity, w.legacy_id, w.id, w.source_version, w.data, w.source_data, false, now() from sync.work_w w
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
                  from %4$s p, sync.work_w w
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

    -- Unknown codes: recorded as data-integrity issues, the row still syncs.
    insert into sync.integrity_issues as ii (entity, legacy_id, source_table, column_name, code)
    select p_entity, w.legacy_id, e.source_table, x ->> 'column', x ->> 'code'
      from sync.work_w w, jsonb_array_elements(w.issues) x
     where w.issues is not null
    on conflict (entity, legacy_id, column_name) do update set code = excluded.code, last_seen_at = now();

    update sync.inbox i set status = 'applied', applied_at = now(), run_id = p_run_id
     where i.id = any (array(select w.inbox_id from sync.work_w w where w.inbox_id is not null));

    -- Backfill rows that park or are quarantined enter the inbox, where they wait and are seen.
    if not p_from_inbox then
        with moved as (
            insert into sync.inbox (entity, legacy_id, op, image, source_version, captured_at, run_id, status)
            select p_entity, w.legacy_id, w.op, w.image, w.source_version, w.captured_at, p_run_id, 'pending'
              from sync.work_t t join sync.work_in w on w.work_id = t.work_id
             where t.outcome in ('park', 'quarantine')
            returning id, legacy_id
        )
        update sync.work_in w set inbox_id = moved.id from moved where w.legacy_id = moved.legacy_id;
    end if;

    -- Rows whose parent is not mapped yet wait for it.
    update sync.inbox i set status = 'parked', parent_entity = t.parent_entity, parent_legacy_id = t.parent_legacy_id,
                            attempts = i.attempts + 1, run_id = p_run_id
      from sync.work_t t join sync.work_in w on w.work_id = t.work_id
     where i.id = w.inbox_id and t.outcome = 'park';
    get diagnostics v_n = row_count;
    if v_n > 0 then v_counts := v_counts || jsonb_build_object('parked', v_n); end if;

    -- Rows that can never apply as they stand: quarantined with a reason; nothing else waits.
    update sync.inbox i set status = 'quarantined', reason = t.reason, message = t.message, run_id = p_run_id
      from sync.work_t t join sync.work_in w on w.work_id = t.work_id
     where i.id = w.inbox_id and t.outcome = 'quarantine';
    get diagnostics v_n = row_count;
    if v_n > 0 then
        v_counts := v_counts || jsonb_build_object('quarantined', v_n);
        insert into sync.quarantine as q (entity, legacy_id, inbox_id, reason, message)
        select p_entity, w.legacy_id, w.inbox_id, t.reason, t.message
          from sync.work_t t join sync.work_in w on w.work_id = t.work_id where t.outcome = 'quarantine'
        on conflict (entity, legacy_id) where released_at is null
        do update set inbox_id = excluded.inbox_id, reason = excluded.reason, message = excluded.message;
    end if;

    -- Filtered rows: skipped; a synced row that stops qualifying is soft-deleted.
    update sync.inbox i set status = 'skipped', applied_at = now(), run_id = p_run_id
      from sync.work_t t join sync.work_in w on w.work_id = t.work_id
     where i.id = w.inbox_id and t.outcome = 'skip';
    select count(*) into v_n from sync.work_t t where t.outcome = 'skip';
    if v_n > 0 then
        v_counts := v_counts || jsonb_build_object('skipped', v_n);
    end if;
    if v_n > 0 and e.has_deleted_at then
        execute format($q$
            update %s x set deleted_at = s.captured_at
              from (select w.captured_at,
                           (select m.target_id from sync.id_map m where m.entity = $1 and m.legacy_id = w.legacy_id) as target_id
                      from sync.work_t t join sync.work_in w on w.work_id = t.work_id
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

-- Applies every enabled entity's open changes in dependency order. Returns {entity: {outcome: n}}.
create function sync._apply(p_run_id bigint)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_entity text;
    v_counts jsonb := '{}';
    v_one jsonb;
    v_config jsonb := sync.get_config();
begin
    for v_entity in select o.name from sync._apply_order() o loop
        if coalesce((v_config #>> array['entities', v_entity, 'enabled'])::boolean, true) then
            v_one := sync._apply_entity(v_entity, p_run_id);
            if v_one <> '{}' then
                v_counts := v_counts || jsonb_build_object(v_entity, v_one);
            end if;
        end if;
    end loop;
    return v_counts;
end;
$$;

-- One scheduled unit: pull and apply batch by batch, committing each, until the source is
-- drained or the budget is spent. A procedure without SET or SECURITY DEFINER: both forbid
-- COMMIT inside it, so every name is schema-qualified instead. One applier at a time: a second
-- caller gets {"status": "already_running", "run": ...} at once.
create procedure sync.tick(max_seconds integer default 50, inout summary jsonb default null)
language plpgsql
as $$
declare
    v_lock bigint := hashtext('sync.applier');
    v_run bigint;
    v_deadline timestamptz := clock_timestamp() + make_interval(secs => greatest(max_seconds, 1));
    v_t0 timestamptz := clock_timestamp();
    v_t timestamptz;
    v_pull jsonb;
    v_counts jsonb := '{}';
    v_pull_ms numeric := 0;
    v_apply_ms numeric := 0;
    v_batches integer := 0;
    v_changes bigint := 0;
    v_rows bigint := 0;
    v_error jsonb;
    v_state text;
    v_msg text;
    v_status text;
    v_lag jsonb;
    v_backfill bigint;
begin
    if not pg_catalog.pg_try_advisory_lock(v_lock) then
        summary := jsonb_build_object('status', 'already_running', 'run',
            (select to_jsonb(r) from sync.runs r where r.status = 'running' order by r.id desc limit 1));
        return;
    end if;
    insert into sync.runs (mode, status, trigger, started_at)
    values ('incremental', 'running', coalesce(nullif(pg_catalog.current_setting('sync.trigger', true), ''), 'manual'), v_t0)
    returning id into v_run;
    commit;
    -- An unfinished backfill (killed half way, or queued by the API) is advanced first, chunk by
    -- chunk, within the budget.
    v_backfill := (select r.id from sync.runs r where r.mode = 'backfill'
                     and r.status in ('queued', 'running', 'failed', 'partial') order by r.id desc limit 1);
    while v_backfill is not null and clock_timestamp() < v_deadline loop
        v_t := clock_timestamp();
        begin
            if sync._backfill_step(v_backfill) then
                perform sync._backfill_close(v_backfill, null);
                v_backfill := null;
            end if;
        exception when others then
            get stacked diagnostics v_state = returned_sqlstate, v_msg = message_text;
            v_error := jsonb_build_object('phase', 'backfill', 'sqlstate', v_state, 'message', v_msg, 'category', 'database');
        end;
        commit;
        v_apply_ms := v_apply_ms + extract(epoch from clock_timestamp() - v_t) * 1000;
        exit when v_error is not null;
    end loop;
    loop
        exit when v_error is not null or v_backfill is not null;
        v_t := clock_timestamp();
        begin
            v_pull := sync._pull(v_run);
        exception when others then
            get stacked diagnostics v_state = returned_sqlstate, v_msg = message_text;
            v_error := jsonb_build_object('phase', 'pull', 'sqlstate', v_state, 'message', v_msg,
                'category', case when v_state like '08%' or v_state in ('HV00N', 'HV00D') then 'network'
                                 when v_state like 'SY%' then 'validation' else 'source' end);
        end;
        commit;
        v_pull_ms := v_pull_ms + extract(epoch from clock_timestamp() - v_t) * 1000;
        exit when v_error is not null;
        v_batches := v_batches + 1;
        v_changes := v_changes + (v_pull ->> 'changes')::bigint;
        v_rows := v_rows + (v_pull ->> 'rows')::bigint;

        v_t := clock_timestamp();
        begin
            v_counts := sync._add_counts(v_counts, sync._apply(v_run));
        exception when others then
            get stacked diagnostics v_state = returned_sqlstate, v_msg = message_text;
            v_error := jsonb_build_object('phase', 'apply', 'sqlstate', v_state, 'message', v_msg, 'category', 'database');
        end;
        commit;
        v_apply_ms := v_apply_ms + extract(epoch from clock_timestamp() - v_t) * 1000;
        exit when v_error is not null;
        exit when (v_pull ->> 'rows')::integer = 0 or clock_timestamp() >= v_deadline;
    end loop;

    v_status := case when v_error is null then 'succeeded' when v_batches > 0 then 'partial' else 'failed' end;
    -- Lag: source capture (the writing transaction's start) → applied here, over this run's rows.
    select jsonb_build_object('p50', round((percentile_cont(0.5) within group (order by l) * 1000)::numeric),
                              'p99', round((percentile_cont(0.99) within group (order by l) * 1000)::numeric))
      into v_lag
      from (select extract(epoch from i.applied_at - i.captured_at) as l
              from sync.inbox i where i.run_id = v_run and i.status in ('applied', 'skipped') and i.batch_id is not null) x;
    summary := jsonb_build_object(
        'run_id', v_run, 'status', v_status, 'batches', v_batches, 'changes', v_changes, 'rows', v_rows,
        'counts', v_counts,
        'timings', jsonb_build_object('pull_ms', round(v_pull_ms), 'apply_ms', round(v_apply_ms),
                                      'total_ms', round(extract(epoch from clock_timestamp() - v_t0) * 1000)),
        'throughput', round(v_rows / greatest(extract(epoch from clock_timestamp() - v_t0), 0.001), 1),
        'lag_ms', v_lag,
        'error', v_error);
    update sync.runs set status = v_status, ended_at = clock_timestamp(), counts = v_counts,
                         timings = tick.summary -> 'timings', error = v_error, summary = tick.summary
     where id = v_run;
    commit;
    perform pg_catalog.pg_advisory_unlock(v_lock);
end;
$$;
comment on procedure sync.tick(integer, jsonb) is
    'Pulls and applies batch by batch (committing each) until drained or max_seconds is spent; returns the run summary. One applier at a time.';
revoke execute on function sync._apply_order(), sync._add_counts(jsonb, jsonb), sync._apply_entity(text, bigint, boolean),
    sync._apply(bigint) from public;
revoke execute on procedure sync.tick(integer, jsonb) from public;
