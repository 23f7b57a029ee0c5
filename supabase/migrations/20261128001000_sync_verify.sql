-- Verification and targeted repair (engine.md §8). Generic over the registry: nothing here names a
-- dispatch table. Per entity:
--   counts    source rows (one pushed-down count), mapped, live target rows, open changes, filtered;
--   gaps      legacy ids in the source with no live target row that nothing explains (no open change,
--             no filter trace), and live target rows whose legacy row is gone (reverse gaps);
--   integrity duplicate legacy ids in the target, id map entries without their target row (or
--             pointing at a row with another legacy id), live rows referencing a soft-deleted parent;
--   drift     the pack's own transform run over the current source rows and compared, typed, column
--             by column, with the live target rows (entities under source_wins only: the other
--             strategies keep target edits on purpose); a sample after a run, every row when deep.
-- Gaps are computed when deep, or when the counts do not add up. Repair re-reads exactly the given
-- legacy ids and applies them through the normal applier (a gone row is applied as a delete).
-- Verification reads the source through the FDW and uses the applier's work tables: it runs under
-- the applier lease, like a tick. A deep check's drift, chunk by chunk, is shared with the sessions
-- of sync.verify_worker (below): the one transaction of sync.verify cannot publish a plan, so it
-- announces itself with advisory locks that every session sees in pg_locks, and the workers' results
-- come back through sync.verify_chunks.

create unlogged table sync.work_ids (id bigint primary key);
-- The drift of the chunks that workers checked for a deep verification: run, entity, chunk number
-- (ids in (k * chunk, (k + 1) * chunk]) and the chunk's {checked, drifted, sample, unverifiable}.
create unlogged table sync.verify_chunks (
    run_id bigint not null,
    entity text not null,
    k bigint not null,
    part jsonb not null,
    primary key (run_id, entity, k)
);
revoke all on sync.work_ids, sync.verify_chunks from public;

-- Typed differences between a transformed row (t.data) and the live target row x, over the columns
-- the transform wrote: SQL for an array of the differing column names.
create function sync._drift_expr(p_columns text[])
returns text
language sql
immutable
set search_path = ''
as $$
    select 'array_remove(array[' || string_agg(format('case when t.data ? %1$L and d.%1$I is distinct from x.%1$I then %1$L end', c), ', ')
           || '], null)'
      from unnest(p_columns) c;
$$;

-- Drift of the rows in pg_temp.work_in (filled by the caller from the source): the pack's transform over
-- them, compared with the live target rows. Columns that a transform takes from the capture time
-- (a source without updated_at) cannot be recomputed from the source: for the rows that differ (and,
-- when p_moving is NULL, a probe of the first 100 written rows) the transform runs a second time with
-- the capture time moved, and the columns whose values move with it are left out (named in
-- `unverifiable`). p_moving: the columns an earlier chunk of the same entity found moving, left out
-- from the start, so that a clean chunk costs one transform. Leaves pg_temp.work_in cut down to the
-- rows transformed twice. Returns {checked, drifted, sample: [{legacy_id, columns}], unverifiable}.
create function sync._drift_check(p_entity text, p_sample integer, p_moving text[] default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    e sync.entities;
    v_checked bigint;
    v_moving text[];
begin
    perform sync._work_open();
    select * into e from sync.entities where name = p_entity;
    truncate pg_temp.work_t, pg_temp.work_t2, pg_temp.work_drift;
    execute format('insert into pg_temp.work_t select * from %s()', e.transform);
    -- The written columns (but those known to move): a row whose values all match is clean.
    execute format($q$
        with z as (
            select w.work_id, w.legacy_id, %2$s as cols
              from pg_temp.work_t t
              join pg_temp.work_in w on w.work_id = t.work_id
              -- A lateral probe of the map's primary key: its statistics lag a whole entity behind
              -- right after a backfill, and a planner that believes one row is mapped scans it per row.
              cross join lateral (select m.target_id from sync.id_map m
                                   where m.entity = $1 and m.legacy_id = w.legacy_id and not m.deleted offset 0) m
              join %1$s x on x.id = m.target_id %3$s
              cross join lateral jsonb_populate_record(null::%1$s, t.data) d
             where t.outcome = 'write'
               and not exists (select 1 from sync.conflicts c where c.entity = $1 and c.legacy_id = w.legacy_id and c.status = 'open')
               and not exists (select 1 from sync.inbox i where i.entity = $1 and i.legacy_id = w.legacy_id
                                  and i.status in ('pending', 'parked', 'quarantined', 'conflict'))
        ), drifted as (
            insert into pg_temp.work_drift (work_id, legacy_id, cols)
            select z.work_id, z.legacy_id, z.cols from z where cardinality(z.cols) > 0
        )
        select count(*) from z $q$,
        e.target_table,
        coalesce(sync._drift_expr(array(select c from unnest(e.write_columns) c where c <> all (coalesce(p_moving, '{}')))),
                 '''{}''::text[]'),
        case when e.has_deleted_at then 'and x.deleted_at is null' else '' end)
    into v_checked using p_entity;
    -- The second transform, the capture time moved: the differing rows (and the probe) only.
    v_moving := coalesce(p_moving, '{}');
    if p_moving is null or exists (select 1 from pg_temp.work_drift) then
        delete from pg_temp.work_in w
         where not exists (select 1 from pg_temp.work_drift d where d.work_id = w.work_id)
           and (p_moving is not null
                or w.work_id not in (select t.work_id from pg_temp.work_t t where t.outcome = 'write' order by t.work_id limit 100));
        update pg_temp.work_in w set captured_at = w.captured_at - interval '3 days 7 hours';
        execute format('insert into pg_temp.work_t2 select * from %s()', e.transform);
        select coalesce(array_agg(distinct k.key order by k.key), '{}') into v_moving
          from (select unnest(v_moving) as key
                union
                select k.key
                  from pg_temp.work_t t join pg_temp.work_t2 t2 on t2.work_id = t.work_id, jsonb_each(t.data) k
                 where t.outcome = 'write' and k.value is distinct from t2.data -> k.key) k;
    end if;
    return (select jsonb_build_object('checked', v_checked, 'drifted', count(*),
                                      'sample', coalesce(jsonb_agg(jsonb_build_object('legacy_id', z.legacy_id, 'columns', z.cols)
                                                                   order by z.legacy_id) filter (where z.n <= p_sample), '[]'),
                                      'unverifiable', to_jsonb(v_moving))
              from (select d.legacy_id, c.cols, row_number() over (order by d.legacy_id) as n
                      from pg_temp.work_drift d
                     cross join lateral (select array(select x from unnest(d.cols) x where x <> all (v_moving)) as cols) c
                     where cardinality(c.cols) > 0) z);
end;
$$;

-- One chunk's drift ({checked, drifted, sample, unverifiable}) added to an entity's: counts summed,
-- samples joined, the columns found moving with the capture time united (absent until a chunk says).
create function sync._drift_fold(p_acc jsonb, p_part jsonb)
returns jsonb
language sql
immutable
set search_path = ''
as $$
    select jsonb_build_object('checked', (p_acc ->> 'checked')::bigint + (p_part ->> 'checked')::bigint,
                              'drifted', (p_acc ->> 'drifted')::bigint + (p_part ->> 'drifted')::bigint,
                              'sample', (p_acc -> 'sample') || (p_part -> 'sample'))
           || case when p_acc ? 'unverifiable' or p_part ? 'unverifiable' then jsonb_build_object('unverifiable',
                  (select coalesce(jsonb_agg(u.c order by u.c), '[]')
                     from (select jsonb_array_elements_text(coalesce(p_acc -> 'unverifiable', '[]'))
                           union
                           select jsonb_array_elements_text(coalesce(p_part -> 'unverifiable', '[]'))) u (c)))
              else '{}' end;
$$;

-- The run of the deep verification that another session is running now (its announcement, an
-- advisory lock on sync.verify), NULL when none is.
create function sync._verify_deep_run()
returns bigint
language sql
stable
set search_path = ''
as $$
    select k from sync._advisory_held(pg_catalog.hashtext('sync.verify')) k limit 1;
$$;

-- The reverse gaps of an entity: the legacy ids of its live target rows that are not among the
-- source keys the caller put in sync.work_ids.
create function sync._orphaned_ids(p_entity text)
returns bigint[]
language plpgsql
set search_path = ''
as $$
declare
    e sync.entities;
    v_ids bigint[];
begin
    select * into e from sync.entities where name = p_entity;
    execute format($q$
        select array(select x.%2$I from %1$s x
                      where x.%2$I is not null and %3$s
                        and not exists (select 1 from sync.work_ids w where w.id = x.%2$I)
                      order by x.%2$I) $q$,
        e.target_table, e.legacy_id_column, case when e.has_deleted_at then 'x.deleted_at is null' else 'true' end)
    into v_ids;
    return v_ids;
end;
$$;

-- Verifies one entity. Returns {counts, gaps, integrity, drift, ok, repairable: [legacy ids]}.
-- p_drift_ids (deep only): name up to that many drifted rows in repairable (polling's reconciliation
-- repairs them all), instead of the reported sample of 10. p_run_id (deep only, without
-- p_drift_ids): the verification run whose drift chunks sync.verify_worker sessions may check.
create function sync._verify_entity(p_entity text, p_deep boolean, p_sample integer, p_light boolean default false,
                                    p_drift_ids integer default null, p_run_id bigint default null)
returns jsonb
language plpgsql
set search_path = ''
set jit = off
as $$
declare
    e sync.entities;
    v_live text;
    v_counts jsonb;
    v_gaps jsonb := null;
    v_integrity jsonb;
    v_drift jsonb := jsonb_build_object('checked', 0, 'drifted', 0, 'sample', '[]'::jsonb);
    v_source bigint;
    v_target bigint;
    v_open bigint;
    v_filtered bigint;
    v_strategy text := coalesce(sync.get_config() #>> array['entities', p_entity, 'conflict_strategy'], 'source_wins');
    v_chunk integer := (sync.get_config() ->> 'backfill_batch_size')::integer;
    v_lo bigint;
    v_hi bigint;
    v_ids bigint[];
    v_part jsonb;
    v_missing bigint[];
    v_orphaned bigint[];
    v_fk record;
    v_orphans jsonb := '{}';
    v_n bigint;
    v_drift_ids bigint[];
    v_t timestamptz;
    v_rows integer;
    v_shared boolean := p_deep and p_run_id is not null and p_drift_ids is null;
    v_key integer := pg_catalog.hashtext('sync.verify:' || p_run_id);
    v_todo bigint[];
    v_left bigint[];
    v_k bigint;
begin
    select * into e from sync.entities where name = p_entity;
    v_live := case when e.has_deleted_at then 'x.deleted_at is null' else 'true' end;
    -- The light check (after each run) is the drift sample alone: counts and integrity read whole tables.
    if p_light then
        v_integrity := '{}';
    else
        execute format('select count(*) from %s', sync._source_relation(p_entity)) into v_source;
        execute format('select count(*) from %s x where x.%I is not null and %s', e.target_table, e.legacy_id_column, v_live)
           into v_target;
        select count(distinct i.legacy_id) into v_open from sync.inbox i
         where i.entity = p_entity and i.status in ('pending', 'parked', 'quarantined', 'conflict');
        select count(*) into v_filtered from sync.filtered f where f.entity = p_entity;
        v_counts := jsonb_build_object('source', v_source, 'target', v_target, 'open', v_open, 'filtered', v_filtered,
            'mapped', (select count(*) from sync.id_map m where m.entity = p_entity and not m.deleted));

        -- Gaps both ways, when deep (they read every source key). The cheap check reports what the counts
        -- leave unexplained, which changes in flight make non-zero for a moment.
        v_counts := v_counts || jsonb_build_object('unexplained', v_source - v_target - v_open - v_filtered);
        if p_deep then
            truncate sync.work_ids;
            execute format('insert into sync.work_ids select s.%I from %s s', e.source_pk, sync._source_relation(p_entity));
            execute format($q$
                select array(select w.id from sync.work_ids w
                              where not exists (select 1 from %1$s x where x.%2$I = w.id and %3$s)
                                and not exists (select 1 from sync.inbox i where i.entity = $1 and i.legacy_id = w.id
                                                   and i.status in ('pending', 'parked', 'quarantined', 'conflict'))
                                and not exists (select 1 from sync.filtered f where f.entity = $1 and f.legacy_id = w.id)
                              order by w.id) $q$, e.target_table, e.legacy_id_column, v_live)
            into v_missing using p_entity;
            v_orphaned := sync._orphaned_ids(p_entity);
            v_gaps := jsonb_build_object('missing', cardinality(v_missing), 'missing_sample', to_jsonb(v_missing[1:10]),
                                         'orphaned', cardinality(v_orphaned), 'orphaned_sample', to_jsonb(v_orphaned[1:10]));
        end if;

        -- Integrity.
        execute format('select count(*) from (select x.%2$I from %1$s x where x.%2$I is not null group by 1 having count(*) > 1) d',
                       e.target_table, e.legacy_id_column) into v_n;
        v_integrity := jsonb_build_object('duplicate_legacy_ids', v_n);
        execute format($q$
            select count(*) from sync.id_map m
             where m.entity = $1 and not m.deleted
               and not exists (select 1 from %1$s x where x.id = m.target_id and x.%2$I = m.legacy_id) $q$,
            e.target_table, e.legacy_id_column) into v_n using p_entity;
        v_integrity := v_integrity || jsonb_build_object('map_without_target', v_n);
        -- A reseed (engine.md §4): mapped rows gone from the target while a row with the same legacy
        -- id lives there under another UUID.
        if v_n > 0 then
            execute format($q$
                select count(*) from sync.id_map m
                  join %1$s x on x.%2$I = m.legacy_id and x.id <> m.target_id
                 where m.entity = $1 and not m.deleted
                   and not exists (select 1 from %1$s y where y.id = m.target_id) $q$,
                e.target_table, e.legacy_id_column) into v_n using p_entity;
            v_integrity := v_integrity || jsonb_build_object('reseeded', v_n);
        end if;
        -- Live rows whose parent (a registered, soft-deleting target table) is soft-deleted.
        for v_fk in
            select a.attname as fk, p.name as parent, p.target_table as parent_table
              from pg_catalog.pg_constraint c
              join pg_catalog.pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
              join sync.entities p on p.target_table = c.confrelid and p.has_deleted_at
             where c.contype = 'f' and c.conrelid = e.target_table and cardinality(c.conkey) = 1
             order by a.attname
        loop
            execute format('select count(*) from %1$s x join %2$s p on p.id = x.%3$I where %4$s and p.deleted_at is not null',
                           e.target_table, v_fk.parent_table, v_fk.fk, v_live) into v_n;
            if v_n > 0 then v_orphans := v_orphans || jsonb_build_object(v_fk.fk, v_n); end if;
        end loop;
        v_integrity := v_integrity || jsonb_build_object('live_children_of_deleted_parents', v_orphans);
        -- Unknown codes (engine.md §8): rows synced with a code the mapping does not know (as
        -- `unknown` or the named fallback), per column, with a sample. Reported; the rows are right.
        v_integrity := v_integrity || jsonb_build_object('unknown_codes', (
            select coalesce(jsonb_object_agg(x.column_name, jsonb_build_object('rows', x.n, 'sample', x.sample)), '{}')
              from (select ii.column_name, count(*) as n,
                           jsonb_path_query_array(jsonb_agg(jsonb_build_object('legacy_id', ii.legacy_id, 'code', ii.code)
                                                            order by ii.legacy_id), '$[0 to 4]') as sample
                      from sync.integrity_issues ii where ii.entity = p_entity group by ii.column_name) x));

    end if;

    -- Drift: a sample of mapped rows spread over the key range, or every source row when deep.
    if v_strategy = 'source_wins' then
        if p_deep then
            execute format('select min(s.%1$I), max(s.%1$I) from %2$s s', e.source_pk, sync._source_relation(p_entity))
               into v_lo, v_hi;
            -- Chunk k holds the ids in (k * chunk, (k + 1) * chunk]: a grid that workers compute alike.
            v_todo := array(select generate_series(floor((v_lo - 1)::numeric / v_chunk)::bigint,
                                                   floor((v_hi - 1)::numeric / v_chunk)::bigint));
            if v_shared then
                -- Announced to sync.verify_worker sessions (with the chunk size, which they must share).
                delete from sync.verify_chunks c where c.run_id = p_run_id and c.entity = p_entity;
                perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('sync.verify.entity:' || p_run_id),
                                                         pg_catalog.hashtext(p_entity || ':' || v_chunk));
            end if;
            -- Shared, a chunk is this session's once it holds the chunk's lock (to the end of the
            -- verification): a worker holds it while it checks the chunk, and leaves its result in
            -- sync.verify_chunks. The first pass skips the chunks workers are checking; the second
            -- waits for them (and checks one itself if its worker stopped without a result).
            for v_pass in 1..2 loop
                v_left := '{}';
                foreach v_k in array v_todo loop
                    v_part := null;
                    if v_shared then
                        if v_pass = 2 then
                            perform pg_catalog.pg_advisory_xact_lock(v_key, pg_catalog.hashtext(p_entity || ':' || v_k));
                        elsif not pg_catalog.pg_try_advisory_xact_lock(v_key, pg_catalog.hashtext(p_entity || ':' || v_k)) then
                            v_left := v_left || v_k;
                            continue;
                        end if;
                        select c.part into v_part from sync.verify_chunks c
                         where c.run_id = p_run_id and c.entity = p_entity and c.k = v_k;
                    end if;
                    if v_part is null then
                        -- The guest's pause between chunks (source_load), as a backfill's.
                        if v_t is not null then
                            perform sync._source_pause(v_rows, v_t);
                        end if;
                        v_t := clock_timestamp();
                        v_rows := sync._read_source(p_entity, null, v_k * v_chunk, v_chunk);
                        v_part := sync._drift_check(p_entity, case when p_drift_ids is null then 10 else greatest(10, least(p_drift_ids, v_chunk)) end,
                                                    case when v_drift ? 'unverifiable'
                                                         then array(select jsonb_array_elements_text(v_drift -> 'unverifiable')) end);
                        if p_drift_ids is not null and coalesce(cardinality(v_drift_ids), 0) < p_drift_ids then
                            v_drift_ids := coalesce(v_drift_ids, '{}')
                                           || array(select (x ->> 'legacy_id')::bigint from jsonb_array_elements(v_part -> 'sample') x);
                        end if;
                    end if;
                    v_drift := sync._drift_fold(v_drift, v_part);
                end loop;
                v_todo := v_left;
            end loop;
        elsif p_sample > 0 then
            select min(m.legacy_id), max(m.legacy_id) into v_lo, v_hi from sync.id_map m where m.entity = p_entity and not m.deleted;
            if v_lo is not null then
                v_ids := array(select distinct s.legacy_id
                                 from generate_series(1, p_sample) g
                                cross join lateral (select m.legacy_id from sync.id_map m
                                                     where m.entity = p_entity and not m.deleted
                                                       and m.legacy_id >= v_lo + floor(random() * (v_hi - v_lo + 1) + 0 * g)::bigint
                                                     order by m.legacy_id limit 1) s);
                perform sync._read_source(p_entity, v_ids);
                v_drift := sync._drift_check(p_entity, 10);
            end if;
        end if;
        -- The first 10 by legacy id, whichever session checked their chunk.
        v_drift := jsonb_set(v_drift, '{sample}', coalesce((select jsonb_agg(x order by (x ->> 'legacy_id')::bigint)
                                                              from (select x from jsonb_array_elements(v_drift -> 'sample') x
                                                                     order by (x ->> 'legacy_id')::bigint limit 10) s), '[]'));
    else
        v_drift := jsonb_build_object('skipped', format('conflict_strategy %s keeps target edits', v_strategy));
    end if;

    return jsonb_build_object('counts', v_counts, 'gaps', v_gaps, 'integrity', v_integrity, 'drift', v_drift,
        'ok', coalesce((v_gaps ->> 'missing')::bigint, 0) = 0 and coalesce((v_gaps ->> 'orphaned')::bigint, 0) = 0
              and coalesce((v_integrity ->> 'duplicate_legacy_ids')::bigint, 0) = 0
              and coalesce((v_integrity ->> 'map_without_target')::bigint, 0) = 0
              and v_orphans = '{}' and coalesce((v_drift ->> 'drifted')::bigint, 0) = 0,
        -- What a targeted repair can fix: gaps both ways and drifted rows (ids, capped).
        'repairable', to_jsonb((coalesce(v_missing, '{}') || coalesce(v_orphaned, '{}')
                                || coalesce(v_drift_ids[1:p_drift_ids],
                                            array(select (x ->> 'legacy_id')::bigint from jsonb_array_elements(v_drift -> 'sample') x)))[1:10000]));
end;
$$;

-- Re-reads exactly the given legacy ids of an entity from the source and applies them through the
-- applier (ids gone from the source apply as deletes). Returns the apply counts.
create function sync._repair(p_run_id bigint, p_entity text, p_ids bigint[])
returns jsonb
language plpgsql
set search_path = ''
as $$
begin
    if cardinality(p_ids) is null or cardinality(p_ids) = 0 then
        return '{}';
    end if;
    perform sync._read_source(p_entity, p_ids, null, null, true);
    return sync._apply_entity(p_entity, p_run_id, false);
end;
$$;

-- Drains sync.reread: per child entity, the source rows whose parent column names a changed parent
-- are read again and applied (sync._repair). A source that fails leaves the requests for the next
-- tick. Returns {entity: counts}.
create function sync._reread(p_run_id bigint)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_entity text;
    v_fk text;
    v_parents bigint[];
    v_ids bigint[];
    v_counts jsonb := '{}';
begin
    for v_entity, v_fk, v_parents in
        select r.entity, r.fk, array_agg(r.parent_legacy_id order by r.parent_legacy_id) from sync.reread r
          join sync.entities e on e.name = r.entity and e.available
         group by 1, 2 order by 1, 2
    loop
        begin
            execute format('select coalesce(array_agg(s.%1$I order by s.%1$I), ''{}'') from %2$s s where s.%3$I = any ($1)',
                           (select e.source_pk from sync.entities e where e.name = v_entity), sync._source_relation(v_entity), v_fk)
               into v_ids using v_parents;
            delete from sync.reread r where r.entity = v_entity and r.fk = v_fk and r.parent_legacy_id = any (v_parents);
            if cardinality(v_ids) > 0 then
                v_counts := v_counts || jsonb_build_object(v_entity, sync._repair(p_run_id, v_entity, v_ids));
            end if;
        exception when connection_exception or fdw_error or lock_not_available or query_canceled then
            -- The source is unreachable or busy: the requests stay for the next tick.
            null;
        end;
    end loop;
    return v_counts;
end;
$$;
revoke execute on function sync._reread(bigint) from public;

-- Verifies (and, with auto_repair, repairs what it found) the given entities as run p_run_id, which
-- holds the applier lease. Returns {ok, deep, entities: {entity: …}, repaired: {entity: counts}, ms}.
create function sync._verify(p_run_id bigint, p_deep boolean, p_entities text[], p_sample integer default 200,
                             p_repair boolean default null, p_light boolean default false)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_t0 timestamptz := pg_catalog.clock_timestamp();
    v_entity text;
    v_one jsonb;
    v_all jsonb := '{}';
    v_repaired jsonb := '{}';
    v_ok boolean := true;
    v_rebuilt jsonb;
    v_repair boolean := coalesce(p_repair, (sync.get_config() ->> 'auto_repair')::boolean);
begin
    if p_deep then
        -- Announced to sync.verify_worker sessions until this transaction ends (sync._verify_deep_run);
        -- what workers left of earlier runs goes.
        perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('sync.verify'), p_run_id::integer);
        delete from sync.verify_chunks c where c.run_id <> p_run_id;
    end if;
    for v_entity in select o.name from sync._apply_order() o
                     where (p_entities is null or o.name = any (p_entities))
                       and coalesce((sync.get_config() #>> array['entities', o.name, 'enabled'])::boolean, true) loop
        v_one := sync._verify_entity(v_entity, p_deep, p_sample, p_light, null, p_run_id);
        -- A reseeded target (engine.md §4): repairs through the stale map would write rows against
        -- UUIDs that are gone. With auto_rebuild_mappings the map is rebuilt now and the entity
        -- verified again (the result keeps what was found); otherwise nothing more is repaired and
        -- the target_reseeded alert names sync.rebuild_mappings().
        if coalesce((v_one #>> '{integrity,reseeded}')::bigint, 0) > 0 then
            if (sync.get_config() ->> 'auto_rebuild_mappings')::boolean and v_rebuilt is null then
                v_rebuilt := sync.rebuild_mappings('sync (auto_rebuild_mappings)');
                v_one := jsonb_set(sync._verify_entity(v_entity, p_deep, p_sample, p_light, null, p_run_id), '{integrity,reseeded}',
                                   v_one #> '{integrity,reseeded}');
            else
                v_repair := false;
            end if;
        end if;
        if v_repair and jsonb_array_length(v_one -> 'repairable') > 0 then
            v_repaired := v_repaired || jsonb_build_object(v_entity,
                sync._repair(p_run_id, v_entity, array(select x::bigint from jsonb_array_elements_text(v_one -> 'repairable') x)));
        end if;
        v_ok := v_ok and (v_one ->> 'ok')::boolean;
        v_all := v_all || jsonb_build_object(v_entity, v_one - 'repairable');
    end loop;
    delete from sync.verify_chunks c where c.run_id = p_run_id;
    return jsonb_build_object('ok', v_ok, 'deep', p_deep, 'entities', v_all, 'repaired', v_repaired,
                              'ms', round(extract(epoch from pg_catalog.clock_timestamp() - v_t0) * 1000))
           || case when v_rebuilt is not null then jsonb_build_object('rebuilt_mappings', v_rebuilt) else '{}' end;
end;
$$;

-- Runs a verify or repair run in the caller's transaction under the applier lease: the run record
-- (mode, trigger manual, caller), its result in summary and its timing. NULL when another run holds
-- the lease (the caller answers already_running).
create function sync._verify_run(p_mode text, p_deep boolean, p_entities text[], p_legacy_ids jsonb, p_caller text)
returns sync.runs
language plpgsql
set search_path = ''
as $$
declare
    r sync.runs;
    v_result jsonb;
    v_counts jsonb := '{}';
    v_entity text;
    v_ids jsonb;
    v_t0 timestamptz := pg_catalog.clock_timestamp();
begin
    if sync._lease_claim() is not null then
        return null;
    end if;
    insert into sync.runs (mode, status, trigger, caller, entities, started_at)
    values (p_mode, 'running', 'manual', p_caller, p_entities, v_t0) returning * into r;
    perform sync._lease_set(r.id);
    if p_mode = 'verify' then
        v_result := sync._verify(r.id, p_deep, p_entities);
        v_counts := v_result -> 'repaired';
    else
        for v_entity, v_ids in select key, value from jsonb_each(p_legacy_ids) loop
            v_counts := v_counts || jsonb_build_object(v_entity,
                sync._repair(r.id, v_entity, array(select x::bigint from jsonb_array_elements_text(v_ids) x)));
        end loop;
        v_result := jsonb_build_object('repaired', v_counts);
    end if;
    update sync.runs x set status = 'succeeded', ended_at = pg_catalog.clock_timestamp(), summary = v_result, counts = v_counts,
                           timings = jsonb_build_object(p_mode || '_ms', round(extract(epoch from pg_catalog.clock_timestamp() - v_t0) * 1000))
     where x.id = r.id returning * into r;
    perform sync._lease_release(r.id);
    return r;
end;
$$;

create function sync.verify(deep boolean default false, entities text[] default null, caller text default null,
                            wait_seconds integer default 0)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    r sync.runs := sync._verify_run('verify', verify.deep, verify.entities, null, sync._caller(verify.caller));
    v_until timestamptz := pg_catalog.clock_timestamp() + make_interval(secs => greatest(verify.wait_seconds, 0));
begin
    -- Scheduled ticks leave a gap between them: a waiting verification takes the lease there.
    while r.id is null and pg_catalog.clock_timestamp() < v_until loop
        perform pg_catalog.pg_sleep(0.2);
        r := sync._verify_run('verify', verify.deep, verify.entities, null, sync._caller(verify.caller));
    end loop;
    if r.id is null then
        perform sync._raise(409, 'a run is applying changes: verify when it ends');
    end if;
    return r.summary || jsonb_build_object('run_id', r.id);
end;
$$;
comment on function sync.verify(boolean, text[], text, integer) is
    'Verifies counts, gaps both ways, integrity and drift per entity (a sample; every row when deep), repairing what it finds when auto_repair is on; recorded as a verify run. SY409 while a run applies.';

-- Helps a deep verification that sync.verify runs in another session: checks the drift of the
-- chunks of each entity it announces, side by side with it (and with other workers), each chunk in
-- a transaction of its own under the chunk's advisory lock, and leaves the result in
-- sync.verify_chunks for the verification to add up. Waits up to wait_seconds for one to start
-- (a schedule may start both at the same minute); returns {status: idle} when none does,
-- {status: throttled} when source_load caps the read load (one session keeps to the cap), else
-- {status: done, run_id, chunks} once the verification ends, or {status: stopped, error} when a
-- chunk failed (the verification checks that chunk itself).
create procedure sync.verify_worker(inout summary jsonb default null, wait_seconds integer default 0)
language plpgsql
as $$
declare
    v_until timestamptz := pg_catalog.clock_timestamp() + pg_catalog.make_interval(secs => greatest(wait_seconds, 0));
    v_chunk integer := (sync.get_config() ->> 'backfill_batch_size')::integer;
    v_run bigint;
    v_key integer;
    v_swept text[] := '{}';
    v_moving jsonb := '{}';
    v_entity text;
    v_lo bigint;
    v_hi bigint;
    v_part jsonb;
    v_chunks integer := 0;
    v_error jsonb;
    v_state text;
    v_msg text;
    v_detail text;
begin
    loop
        v_run := sync._verify_deep_run();
        exit when v_run is not null or pg_catalog.clock_timestamp() >= v_until;
        perform pg_catalog.pg_sleep(0.1);
    end loop;
    summary := sync._worker_gate(v_run);
    if summary is not null then
        return;
    end if;
    v_key := pg_catalog.hashtext('sync.verify:' || v_run);
    commit;
    <<run>>
    while v_error is null and sync._verify_deep_run() is not distinct from v_run loop
        -- The first entity the verification has announced that this session has not swept yet.
        select o.name into v_entity from sync._apply_order() o
         where o.name <> all (v_swept)
           and pg_catalog.hashtext(o.name || ':' || v_chunk)::oid::bigint
               in (select sync._advisory_held(pg_catalog.hashtext('sync.verify.entity:' || v_run)))
         order by o.depth, o.name
         limit 1;
        if v_entity is null then
            perform pg_catalog.pg_sleep(0.02);
            continue;
        end if;
        v_swept := v_swept || v_entity;
        execute format('select min(s.%1$I), max(s.%1$I) from %2$s s',
                       (select e.source_pk from sync.entities e where e.name = v_entity), sync._source_relation(v_entity))
           into v_lo, v_hi;
        commit;
        continue when v_lo is null;
        for v_k in floor((v_lo - 1)::numeric / v_chunk)::bigint .. floor((v_hi - 1)::numeric / v_chunk)::bigint loop
            exit run when sync._verify_deep_run() is distinct from v_run;
            begin
                if pg_catalog.pg_try_advisory_xact_lock(v_key, pg_catalog.hashtext(v_entity || ':' || v_k))
                   and not exists (select 1 from sync.verify_chunks c where c.run_id = v_run and c.entity = v_entity and c.k = v_k) then
                    perform sync._read_source(v_entity, null, v_k * v_chunk, v_chunk);
                    v_part := sync._drift_check(v_entity, 10, case when v_moving ? v_entity
                                                                   then array(select jsonb_array_elements_text(v_moving -> v_entity)) end);
                    v_moving := v_moving || jsonb_build_object(v_entity, v_part -> 'unverifiable');
                    insert into sync.verify_chunks (run_id, entity, k, part) values (v_run, v_entity, v_k, v_part)
                    on conflict do nothing;
                    v_chunks := v_chunks + 1;
                end if;
            exception when others then
                get stacked diagnostics v_state = returned_sqlstate, v_msg = message_text, v_detail = pg_exception_detail;
                v_error := sync._run_error('verify', v_state, v_msg, v_detail);
            end;
            -- The chunk's lock goes with the commit: its result is there for the verification.
            commit;
            exit run when v_error is not null;
        end loop;
    end loop;
    summary := jsonb_strip_nulls(jsonb_build_object('status', case when v_error is null then 'done' else 'stopped' end,
                                                    'run_id', v_run, 'chunks', v_chunks, 'error', v_error));
end;
$$;
comment on procedure sync.verify_worker(jsonb, integer) is
    'Helps the running deep verification from another session: checks the drift of its chunks side by side with it until it ends; returns at once (idle) when none runs within wait_seconds.';
revoke execute on procedure sync.verify_worker(jsonb, integer) from public;

revoke execute on function sync._drift_expr(text[]), sync._drift_check(text, integer, text[]), sync._orphaned_ids(text),
    sync._drift_fold(jsonb, jsonb), sync._verify_deep_run(),
    sync._verify_entity(text, boolean, integer, boolean, integer, bigint),
    sync._repair(bigint, text, bigint[]), sync._verify(bigint, boolean, text[], integer, boolean, boolean),
    sync._verify_run(text, boolean, text[], jsonb, text), sync.verify(boolean, text[], text, integer) from public;
