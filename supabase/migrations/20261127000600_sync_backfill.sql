-- Backfill: a full copy of one entity or all, chunked by primary key straight from the foreign
-- tables, applied through the same set-based applier, committing chunk by chunk, resumable.

-- Fills pg_temp.work_in with the current source rows of the given legacy ids (NULL: the key range
-- (p_after, p_after + p_limit]); ids with no source row are added as deletes when p_deletes.
create function sync._read_source(p_entity text, p_ids bigint[], p_after bigint default null, p_limit bigint default null,
                                  p_deletes boolean default false)
returns integer
language plpgsql
set search_path = ''
set jit = off
as $$
declare
    e sync.entities;
    v_version bigint;
    v_identity jsonb;
    v_n integer;
begin
    perform sync._work_open();
    select * into e from sync.entities where name = p_entity;
    select p.version, p.identity into v_version, v_identity from sync._source_point() p;
    if v_identity is distinct from (select s.identity from sync.source s) then
        perform sync._raise(409, 'the source is not the one recorded (a restore, a failover, another database): start a full backfill to re-baseline');
    end if;
    truncate pg_temp.work_in;
    -- Plain key predicates (a range, or = any of an array): postgres_fdw ships them to the source.
    execute format($q$
        insert into pg_temp.work_in (work_id, legacy_id, op, image, source_version, captured_at)
        select s.%1$I, s.%1$I, 'upsert', to_jsonb(s), $1, now()
          from %2$s s
         where %3$s $q$,
        e.source_pk, sync._source_relation(p_entity),
        case when p_ids is null then format('s.%1$I > $3 and s.%1$I <= $3 + $4', e.source_pk)
             else format('s.%I = any ($2)', e.source_pk) end)
    using v_version, p_ids, p_after, p_limit;
    get diagnostics v_n = row_count;
    if p_deletes and p_ids is not null then
        insert into pg_temp.work_in (work_id, legacy_id, op, image, source_version, captured_at)
        select g.id, g.id, 'delete', null, v_version, now()
          from unnest(p_ids) g (id)
         where not exists (select 1 from pg_temp.work_in w where w.legacy_id = g.id)
        on conflict (work_id) do nothing;
    end if;
    return v_n;
end;
$$;

revoke execute on function sync._read_source(text, bigint[], bigint, bigint, boolean) from public;

-- The guest's pause after reading p_rows source rows in a step that began at p_started (engine.md §1,
-- config source_load): at least pause_ms, and long enough that the step's rows do not exceed
-- max_rows_per_second. Called between chunks, after the chunk's commit where the caller can (the
-- source's remote transaction is then closed). Returns the milliseconds slept.
create function sync._source_pause(p_rows bigint, p_started timestamptz)
returns integer
language plpgsql
set search_path = ''
as $$
declare
    v_load jsonb := sync.get_config() -> 'source_load';
    v_ms numeric := greatest(coalesce((v_load ->> 'pause_ms')::numeric, 0),
                             coalesce(p_rows * 1000.0 / nullif((v_load ->> 'max_rows_per_second')::numeric, 0)
                                      - extract(epoch from clock_timestamp() - p_started) * 1000, 0));
begin
    if v_ms >= 1 then
        perform pg_catalog.pg_sleep(v_ms / 1000.0);
    end if;
    return round(v_ms)::integer;
end;
$$;
revoke execute on function sync._source_pause(bigint, timestamptz) from public;

-- Copies and applies one chunk: the source rows of an entity with key in (p_after, p_upto], read in
-- one remote snapshot whose xmax is their version (an older image never overwrites a newer one),
-- straight into the applier's work set (no inbox round trip for rows that apply).
-- Returns {rows, counts}.
create function sync._backfill_chunk(p_run_id bigint, p_entity text, p_after bigint, p_upto bigint)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_rows integer := sync._read_source(p_entity, null, p_after, p_upto - p_after);
begin
    return jsonb_build_object('rows', v_rows, 'counts', sync._apply_entity(p_entity, p_run_id, false));
end;
$$;
revoke execute on function sync._backfill_chunk(bigint, text, bigint, bigint) from public;

-- Progress of a backfill run, with overall done/total, rate and ETA computed from per-entity numbers.
create function sync._backfill_progress(p_entities jsonb, p_started timestamptz)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select jsonb_build_object(
        'entities', p_entities,
        'done', d.done, 'total', d.total,
        'rate', round(d.done / greatest(extract(epoch from clock_timestamp() - p_started), 0.001), 1),
        'eta_seconds', case when d.done > 0 then round((d.total - d.done) * extract(epoch from clock_timestamp() - p_started) / d.done) end)
      from (select coalesce(sum((v ->> 'done')::bigint), 0) as done, coalesce(sum((v ->> 'total')::bigint), 0) as total
              from jsonb_each(p_entities) x (k, v)) d;
$$;
revoke execute on function sync._backfill_progress(jsonb, timestamptz) from public;

create function sync.backfill_status()
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
    select coalesce((select jsonb_build_object('run_id', r.id, 'status', r.status, 'started_at', r.started_at,
                                               'ended_at', r.ended_at, 'progress', r.progress, 'error', r.error)
                       from sync.runs r where r.mode = 'backfill' order by r.id desc limit 1),
                    jsonb_build_object('status', 'none'));
$$;
comment on function sync.backfill_status() is 'Progress of the current or last backfill: per entity rows done and total, rate, ETA. Read-only.';
revoke execute on function sync.backfill_status() from public;

-- The chunks of a backfill run, per entity: key ranges (after, upto] of backfill_batch_size source
-- rows each, their ends read from the source's primary key index when the run opens, so that a
-- chunk holds a batch whatever the spread of the keys (ids far apart, gaps of millions, an outlier
-- id); the last range ends at the entity's highest key then. Dropped with their run.
create table sync.backfill_chunks (
    run_id bigint not null references sync.runs (id) on delete cascade,
    entity text not null,
    after bigint not null,
    upto bigint not null check (upto > after),
    primary key (run_id, entity, after)
);
revoke all on sync.backfill_chunks from public;

-- The end of the chunk of run p_run_id's entity p_entity that starts after key p_after (p_batch keys
-- further where the run has no such chunk recorded: the ranges stay contiguous whatever happens).
create function sync._backfill_upto(p_run_id bigint, p_entity text, p_after bigint, p_batch bigint)
returns bigint
language sql
stable
set search_path = ''
as $$
    select coalesce((select c.upto from sync.backfill_chunks c
                      where c.run_id = p_run_id and c.entity = p_entity and c.after = p_after), p_after + p_batch);
$$;
revoke execute on function sync._backfill_upto(bigint, text, bigint, bigint) from public;

-- Opens a backfill run of the given entities, or returns the unfinished one of the same entities
-- (a backfill killed half way is resumed, never restarted). Older unfinished backfills that the new
-- one covers are cancelled. A full backfill re-baselines a source whose identity changed (a
-- restored copy, a failover, another database): the recorded identity, the cursor and the id
-- map's source versions start again from the new source, and the changes still open from the
-- old one are superseded; a partial backfill of a changed source is refused (SY409).
create function sync._backfill_open(p_entities text[])
returns bigint
language plpgsql
set search_path = ''
as $$
declare
    v_run bigint;
    v_prog jsonb := '{}';
    v_name text;
    v_total bigint;
    v_min bigint;
    v_max bigint;
    v_identity jsonb;
    v_batch bigint := (sync.get_config() ->> 'backfill_batch_size')::bigint;
    v_pk text;
    v_rel text;
    v_after bigint;
    v_upto bigint;
begin
    select p.identity into v_identity from sync._source_point() p;
    if v_identity is distinct from (select s.identity from sync.source s) then
        if exists (select 1 from sync.entities e where not e.name = any (p_entities)) then
            perform sync._raise(409, 'the source changed identity: only a full backfill (all entities) re-baselines it',
                                'call sync.backfill() with no entity');
        end if;
        update sync.source set identity = v_identity, cursor_snapshot = null, pending_snapshot = null, page_block = null,
                               page_end = null, page_blocks = null;
        update sync.id_map set source_version = 0 where source_version <> 0;
        with old as (
            update sync.inbox i set status = 'superseded', applied_at = now(), reason = 'source re-baselined'
             where i.status in ('pending', 'parked', 'quarantined')
            returning i.entity, i.legacy_id
        )
        update sync.quarantine q set released_at = now(), released_by = 'sync', resolution = 'backfill'
          from old where q.entity = old.entity and q.legacy_id = old.legacy_id and q.released_at is null;
        perform sync._resolve_alert('source_changed', 're-baselined by a full backfill');
    else
        select r.id into v_run from sync.runs r
         where r.mode = 'backfill' and r.status in ('queued', 'running', 'failed', 'partial', 'paused') and r.entities = p_entities
         order by r.id desc limit 1;
    end if;
    if v_run is not null then
        update sync.runs set status = 'running', error = null, ended_at = null,
                             started_at = coalesce(started_at, clock_timestamp()) where id = v_run;
        return v_run;
    end if;
    -- A new backfill covers older unfinished ones of the same or fewer entities.
    update sync.runs r set status = 'cancelled', ended_at = clock_timestamp(),
                           error = jsonb_build_object('phase', 'backfill', 'category', 'cancelled',
                                                      'message', 'superseded by a newer backfill')
     where r.mode = 'backfill' and r.status in ('queued', 'running', 'failed', 'partial', 'paused') and r.entities <@ p_entities;
    insert into sync.runs (mode, status, trigger, entities, started_at, progress)
    values ('backfill', 'running', coalesce(nullif(current_setting('sync.trigger', true), ''), 'manual'), p_entities,
            clock_timestamp(), '{}')
    returning id into v_run;
    foreach v_name in array p_entities loop
        select e.source_pk, sync._source_relation(e.name) into v_pk, v_rel from sync.entities e where e.name = v_name;
        execute format('select count(*), coalesce(min(%1$I) - 1, 0), coalesce(max(%1$I), 0) from %2$s', v_pk, v_rel)
           into v_total, v_min, v_max;
        -- The chunk ends: the key of every v_batch-th row, found by the source in its primary key index
        -- (postgres_fdw ships the ORDER BY, OFFSET and LIMIT; one round trip per chunk, in the same
        -- remote snapshot as the count).
        v_after := v_min;
        while v_after < v_max loop
            execute format('select %1$I from %2$s where %1$I > $1 order by %1$I offset $2 limit 1', v_pk, v_rel)
               into v_upto using v_after, v_batch - 1;
            v_upto := least(coalesce(v_upto, v_max), v_max);
            insert into sync.backfill_chunks (run_id, entity, after, upto) values (v_run, v_name, v_after, v_upto);
            v_after := v_upto;
        end loop;
        v_prog := v_prog || jsonb_build_object(v_name, jsonb_build_object('done', 0, 'total', v_total, 'last_id', v_min,
                                                                          'max_id', v_max, 'finished', v_total = 0,
                                                                          'batch', v_batch,
                                                                          'chunks', (select count(*) from sync.backfill_chunks c
                                                                                      where c.run_id = v_run and c.entity = v_name),
                                                                          'chunks_done', 0));
    end loop;
    update sync.runs set progress = sync._backfill_progress(v_prog, started_at) where id = v_run;
    return v_run;
end;
$$;

-- The second keys (as pg_locks shows them: oid, here bigint) of the two-key advisory locks that other
-- sessions of this database hold under first key p_key. (pg_locks lists every database's locks, and
-- another database's sync may use the same keys: a bench or a test suite runs several on a cluster.)
create function sync._advisory_held(p_key integer)
returns setof bigint
language sql
stable
set search_path = ''
as $$
    select l.objid::bigint from pg_catalog.pg_locks l
     where l.locktype = 'advisory' and l.classid = p_key::oid and l.objsubid = 2 and l.granted
       and l.database = (select d.oid from pg_catalog.pg_database d where d.datname = pg_catalog.current_database())
       and l.pid <> pg_catalog.pg_backend_pid();
$$;
revoke execute on function sync._advisory_held(integer) from public;

-- The next chunk of a backfill run that this transaction may copy: the lowest key range that is
-- neither done nor being copied by another session, of the first entity in apply order that is
-- under way (a chunk done or being copied) and has such a range left, else of the first whose
-- dependencies in the run are copied. Entities are finished one after the other where they can be,
-- so that the sessions share an entity instead of interleaving two (each one's rate is then its
-- own). Ranges are fixed per run (sync.backfill_chunks), so that sessions
-- copying chunks side by side (sync.backfill_worker) never overlap: a session holds a
-- transaction-scoped advisory lock on its range while it copies it, and a range is done when the
-- transaction that copied it committed (the entity's last_id, or its list of ranges done ahead of
-- last_id). A session that dies mid-chunk releases its lock, and the range is copied again.
-- Returns {entity, after, upto}, or NULL when nothing is left to take.
create function sync._backfill_claim(p_run_id bigint)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_key integer := pg_catalog.hashtext('sync.backfill:' || p_run_id);
    v_entities text[];
    v_prog jsonb;
    v_locked bigint[];
    v_name text;
    v_batch bigint;
    v_after bigint;
    v_max bigint;
    v_busy boolean;
    v_held boolean;
    v_first jsonb;
    v_pick jsonb;
begin
    for v_try in 1..3 loop
        -- Each statement reads what other sessions committed (READ COMMITTED): ranges done meanwhile count.
        select r.entities, r.progress -> 'entities' into v_entities, v_prog from sync.runs r where r.id = p_run_id;
        -- The ranges other sessions are copying now (their advisory locks).
        v_locked := array(select sync._advisory_held(v_key));
        v_first := null;
        v_pick := null;
        for v_name in
            select n from unnest(v_entities) with ordinality x (n, o)
             where not (v_prog #>> array[n, 'finished'])::boolean
               and not exists (select 1 from sync.entities e, unnest(e.depends_on) d
                                where e.name = x.n and d <> x.n and d = any (v_entities)
                                  and not coalesce((v_prog #>> array[d, 'finished'])::boolean, true))
             order by o
        loop
            v_batch := coalesce((v_prog #>> array[v_name, 'batch'])::bigint, (sync.get_config() ->> 'backfill_batch_size')::bigint);
            v_after := (v_prog #>> array[v_name, 'last_id'])::bigint;
            v_max := (v_prog #>> array[v_name, 'max_id'])::bigint;
            v_busy := v_prog -> v_name ? 't0';
            while v_after < v_max loop
                v_held := pg_catalog.hashtext(v_name || ':' || v_after)::oid::bigint = any (v_locked);
                exit when not (v_held or coalesce(v_prog -> v_name -> 'ahead', '[]') @> pg_catalog.to_jsonb(v_after));
                v_busy := v_busy or v_held;
                v_after := sync._backfill_upto(p_run_id, v_name, v_after, v_batch);
            end loop;
            if v_after < v_max then
                v_pick := jsonb_build_object('entity', v_name, 'after', v_after,
                                             'upto', sync._backfill_upto(p_run_id, v_name, v_after, v_batch));
                v_first := coalesce(v_first, v_pick);
                exit when v_busy;
                v_pick := null;
            end if;
        end loop;
        v_pick := coalesce(v_pick, v_first);
        if v_pick is null then
            return null;
        end if;
        -- Taken, unless another session took it or committed it since.
        if pg_catalog.pg_try_advisory_xact_lock(v_key, pg_catalog.hashtext((v_pick ->> 'entity') || ':' || (v_pick ->> 'after')))
           and not exists (select 1 from sync.runs r
                            where r.id = p_run_id
                              and ((r.progress #>> array['entities', v_pick ->> 'entity', 'last_id'])::bigint > (v_pick ->> 'after')::bigint
                                   or coalesce(r.progress -> 'entities' -> (v_pick ->> 'entity') -> 'ahead', '[]') @> (v_pick -> 'after'))) then
            return v_pick;
        end if;
    end loop;
    return null;
end;
$$;

-- Records a copied chunk in its run, in the chunk's transaction (under the run row's lock, held to
-- the commit): rows and chunks done, the range done (last_id moves over every range done in a row),
-- the entity's time from its first chunk to its last, outcome counts. Returns whether the entity is
-- now copied.
create function sync._backfill_chunk_done(p_run_id bigint, p_claim jsonb, p_chunk jsonb, p_started timestamptz)
returns boolean
language plpgsql
set search_path = ''
as $$
declare
    v_name text := p_claim ->> 'entity';
    v_run sync.runs;
    v_e jsonb;
    v_last bigint;
    v_ahead jsonb;
    v_t0 numeric;
begin
    select * into v_run from sync.runs where id = p_run_id for update;
    v_e := v_run.progress -> 'entities' -> v_name;
    v_last := (v_e ->> 'last_id')::bigint;
    v_ahead := coalesce(v_e -> 'ahead', '[]') || pg_catalog.to_jsonb((p_claim ->> 'after')::bigint);
    while v_ahead @> pg_catalog.to_jsonb(v_last) loop
        v_ahead := (select coalesce(jsonb_agg(a), '[]') from jsonb_array_elements(v_ahead) a where a <> pg_catalog.to_jsonb(v_last));
        v_last := sync._backfill_upto(p_run_id, v_name, v_last, (v_e ->> 'batch')::bigint);
    end loop;
    v_t0 := least(coalesce((v_e ->> 't0')::numeric, 'infinity'), extract(epoch from p_started));
    v_e := v_e || jsonb_build_object(
        't0', v_t0,
        'ms', round((extract(epoch from clock_timestamp()) - v_t0) * 1000),
        'done', (v_e ->> 'done')::bigint + (p_chunk ->> 'rows')::bigint,
        'chunks_done', coalesce((v_e ->> 'chunks_done')::integer, 0) + 1,
        'last_id', v_last,
        'ahead', v_ahead,
        'finished', v_last >= (v_e ->> 'max_id')::bigint);
    update sync.runs set progress = sync._backfill_progress(jsonb_set(progress -> 'entities', array[v_name], v_e), v_run.started_at)
                                    || jsonb_strip_nulls(jsonb_build_object('throttle_ms', progress -> 'throttle_ms')),
                         counts = sync._add_counts(counts, jsonb_build_object(v_name, p_chunk -> 'counts'))
     where id = p_run_id;
    return (v_e ->> 'finished')::boolean;
end;
$$;

-- True while an entity of backfill run p_run_id is not copied yet.
create function sync._backfill_unfinished(p_run_id bigint)
returns boolean
language sql
stable
set search_path = ''
as $$
    select exists (select 1 from sync.runs r, unnest(r.entities) n
                    where r.id = p_run_id and not coalesce((r.progress #>> array['entities', n, 'finished'])::boolean, false));
$$;
revoke execute on function sync._backfill_unfinished(bigint) from public;

-- One step of a backfill run: the next chunk it may take (sync._backfill_claim), copied, applied
-- and recorded in the run (the caller commits: a kill loses at most this chunk). Returns 'chunk', or
-- 'last' when that chunk was the run's last; 'wait' after a moment's pause when every range left is
-- being copied by another session; 'done' when every entity of the run was already copied.
create function sync._backfill_next(p_run_id bigint)
returns text
language plpgsql
set search_path = ''
as $$
declare
    v_claim jsonb := sync._backfill_claim(p_run_id);
    v_name text := v_claim ->> 'entity';
    v_chunk jsonb;
    v_tc timestamptz := clock_timestamp();
begin
    if v_claim is null then
        if sync._backfill_unfinished(p_run_id) then
            perform pg_catalog.pg_sleep(0.02);
            return 'wait';
        end if;
        return 'done';
    end if;
    v_chunk := sync._backfill_chunk(p_run_id, v_name, (v_claim ->> 'after')::bigint, (v_claim ->> 'upto')::bigint);
    if sync._backfill_chunk_done(p_run_id, v_claim, v_chunk, v_tc) then
        -- A re-baseline (sync._rebaseline_capture) also deletes what the source no longer has.
        if (select r.trigger from sync.runs r where r.id = p_run_id) = 'rebaseline' then
            update sync.runs set counts = sync._add_counts(counts, jsonb_build_object(v_name, sync._sweep_orphans(p_run_id, v_name)))
             where id = p_run_id;
        end if;
        -- Fresh statistics before the dependents join against what was just loaded (a planner that
        -- still thinks the table is empty picks a scan per row); leaves need none.
        if exists (select 1 from sync.entities c where v_name = any (c.depends_on)) then
            execute format('analyze %s', (select e.target_table from sync.entities e where e.name = v_name));
            analyze sync.id_map;
        end if;
    end if;
    return case when sync._backfill_unfinished(p_run_id) then 'chunk' else 'last' end;
end;
$$;

-- sync._backfill_next, true when every entity of the run is copied (the caller pauses for the guest
-- between chunks, never after the last).
create function sync._backfill_step(p_run_id bigint)
returns boolean
language sql
set search_path = ''
as $$
    select sync._backfill_next(p_run_id) in ('last', 'done');
$$;

-- Ends a backfill run (succeeded, or failed with the error); returns its summary.
create function sync._backfill_close(p_run_id bigint, p_error jsonb)
returns jsonb
language sql
set search_path = ''
as $$
    update sync.runs set status = case when p_error is null then 'succeeded' else 'failed' end,
                         ended_at = clock_timestamp(), error = p_error,
                         timings = jsonb_build_object('backfill_ms', round(extract(epoch from clock_timestamp() - started_at) * 1000)),
                         summary = jsonb_build_object('run_id', id, 'status', case when p_error is null then 'succeeded' else 'failed' end,
                                                      'counts', counts, 'progress', progress, 'error', p_error,
                                                      'timings', jsonb_build_object('backfill_ms',
                                                          round(extract(epoch from clock_timestamp() - started_at) * 1000)))
     where id = p_run_id
     returning summary;
$$;
revoke execute on function sync._backfill_open(text[]), sync._backfill_claim(bigint), sync._backfill_chunk_done(bigint, jsonb, jsonb, timestamptz),
    sync._backfill_next(bigint), sync._backfill_step(bigint), sync._backfill_close(bigint, jsonb) from public;

-- The unfinished backfill run that ticks should advance now: the newest one not backing off.
create function sync._backfill_due()
returns bigint
language sql
stable
set search_path = ''
as $$
    select r.id from sync.runs r
     where r.mode = 'backfill' and r.status in ('queued', 'running', 'failed', 'partial')
       and coalesce((r.error ->> 'retry_at')::timestamptz, '-infinity') <= now()
     order by r.id desc limit 1;
$$;

-- One step of a backfill run in a subtransaction, for ticks (sync._backfill_advance), sync.backfill
-- and sync.backfill_worker: {step} (sync._backfill_next's answer), or {error} (the run's error form);
-- the caller rolls a failed step's transaction back whole (a source connection that failed in the
-- middle of a query cannot commit) and commits a good one.
create function sync._backfill_attempt(p_run_id bigint)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_state text;
    v_msg text;
    v_detail text;
begin
    return jsonb_build_object('step', sync._backfill_next(p_run_id));
exception when others then
    get stacked diagnostics v_state = returned_sqlstate, v_msg = message_text, v_detail = pg_exception_detail;
    return jsonb_build_object('error', sync._run_error('backfill', v_state, v_msg, v_detail));
end;
$$;
revoke execute on function sync._backfill_attempt(bigint) from public;

-- Advances a backfill run by one step (sync._backfill_attempt), and ends the run when it copied the
-- last chunk. Returns the step's error, or NULL;
-- the caller rolls a failed step's transaction back (a source connection that failed mid-query
-- cannot commit) and records it with sync._backfill_failed.
create function sync._backfill_advance(p_run_id bigint)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_try jsonb;
begin
    update sync.runs set status = 'running', error = null, ended_at = null, started_at = coalesce(started_at, clock_timestamp())
     where id = p_run_id and status <> 'running';
    v_try := sync._backfill_attempt(p_run_id);
    if v_try ->> 'step' in ('last', 'done') then
        perform sync._backfill_close(p_run_id, null);
    end if;
    return v_try -> 'error';
end;
$$;

-- Records a failed backfill step: the run backs off (retry.backoff_ms doubling per attempt,
-- capped by retry.max_backoff_ms) instead of failing the tick; pulls go on meanwhile.
create function sync._backfill_failed(p_run_id bigint, p_error jsonb)
returns void
language sql
set search_path = ''
as $$
    update sync.runs r
       set error = p_error || jsonb_build_object(
               'attempts', coalesce((r.error ->> 'attempts')::integer, 0) + 1,
               'retry_at', now() + make_interval(secs => least((c.retry ->> 'max_backoff_ms')::numeric,
                                                               (c.retry ->> 'backoff_ms')::numeric
                                                               * 2 ^ coalesce((r.error ->> 'attempts')::integer, 0)) / 1000.0))
      from (select sync.get_config() -> 'retry' as retry) c
     where r.id = p_run_id;
$$;
revoke execute on function sync._backfill_due(), sync._backfill_advance(bigint), sync._backfill_failed(bigint, jsonb) from public;

-- The guest's pause after a backfill step that began at p_started with p_done rows done
-- (sync._source_pause), added up in the run's progress as throttle_ms.
create function sync._backfill_throttled(p_run_id bigint, p_done bigint, p_started timestamptz)
returns void
language plpgsql
set search_path = ''
as $$
declare
    v_ms integer := sync._source_pause((select (r.progress ->> 'done')::bigint - p_done from sync.runs r where r.id = p_run_id),
                                       p_started);
begin
    if v_ms > 0 then
        update sync.runs r set progress = r.progress || jsonb_build_object('throttle_ms', coalesce((r.progress ->> 'throttle_ms')::bigint, 0) + v_ms)
         where r.id = p_run_id;
    end if;
end;
$$;
revoke execute on function sync._backfill_throttled(bigint, bigint, timestamptz) from public;

-- Starts or resumes a backfill (one entity, or all when NULL) as a run, chunk by chunk, each
-- committed; an unfinished backfill run of the same entities is resumed from its last committed
-- chunk (so is one that a tick finds: ticks advance unfinished backfills between their pulls).
-- Same applier lease as the tick: a second caller gets already_running. Cancelled
-- (sync.cancel_run) or paused (sync.pause_run) between chunks.
create procedure sync.backfill(entity text default null, inout summary jsonb default null)
language plpgsql
as $$
declare
    v_run bigint;
    v_holder jsonb;
    v_t timestamptz;
    v_rows bigint;
    v_done boolean := false;
    v_try jsonb;
    v_error jsonb;
begin
    if entity is not null and not exists (select 1 from sync.entities e where e.name = backfill.entity) then
        perform sync._raise(404, format('unknown entity "%s"', entity));
    end if;
    v_holder := sync._lease_claim();
    if v_holder is not null then
        summary := jsonb_build_object('status', 'already_running', 'run', v_holder);
        return;
    end if;
    v_run := sync._backfill_open(array(select o.name from sync._apply_order() o
                                        where (backfill.entity is null or o.name = backfill.entity)
                                          and coalesce((sync.get_config() #>> array['entities', o.name, 'enabled'])::boolean, true)));
    perform sync._lease_set(v_run, v_run);
    commit;
    while not v_done loop
        exit when not sync._lease_renew(v_run);
        exit when (select r.status from sync.runs r where r.id = v_run) in ('cancelled', 'paused');
        v_t := clock_timestamp();
        v_rows := (select (r.progress ->> 'done')::bigint from sync.runs r where r.id = v_run);
        v_try := sync._backfill_attempt(v_run);
        v_error := v_try -> 'error';
        v_done := coalesce(v_try ->> 'step' in ('last', 'done'), false);
        if v_error is null then
            commit;
        else
            rollback;
        end if;
        exit when v_error is not null;
        if not v_done then
            perform sync._backfill_throttled(v_run, v_rows, v_t);
            commit;
        end if;
    end loop;
    if (select r.status from sync.runs r where r.id = v_run) in ('cancelled', 'paused') then
        summary := (select jsonb_build_object('run_id', r.id, 'status', r.status, 'counts', r.counts, 'progress', r.progress,
                                              'error', r.error) from sync.runs r where r.id = v_run);
    elsif v_done or v_error is not null then
        summary := sync._backfill_close(v_run, v_error);
    else
        summary := jsonb_build_object('run_id', v_run, 'status', 'interrupted', 'error', 'the applier lease was lost');
    end if;
    perform sync._lease_release(v_run);
    commit;
end;
$$;
comment on procedure sync.backfill(text, jsonb) is
    'Starts or resumes a backfill of one entity (NULL: all) as a run, committing chunk by chunk; returns when every chunk is copied and applied, or it fails or is cancelled.';
revoke execute on procedure sync.backfill(text, jsonb) from public;

-- Whether a worker session may help run p_run (sync.backfill_worker, sync.verify_worker): NULL when
-- it may; {status: idle} when there is no run to help, {status: throttled, run_id} when source_load
-- caps the source's read load (one session keeps to the cap).
create function sync._worker_gate(p_run bigint)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select case when p_run is null then jsonb_build_object('status', 'idle')
                when coalesce((l ->> 'max_rows_per_second')::numeric, 0) > 0 or coalesce((l ->> 'pause_ms')::numeric, 0) > 0
                then jsonb_build_object('status', 'throttled', 'run_id', p_run) end
      from (select sync.get_config() -> 'source_load' as l) c;
$$;
revoke execute on function sync._worker_gate(bigint) from public;

-- A second (third, ...) session copying chunks of the backfill that sync.backfill is running, side
-- by side with it: each chunk in a transaction of its own, from the ranges nobody has
-- taken (sync._backfill_claim), with the same applier and the same run record. Returns when every
-- range is copied or taken, when the run stops (paused, cancelled, failed, its applier gone), or at
-- once when there is no backfill to help (status idle) or the source's read load is capped
-- (source_load: one session keeps to the cap; status throttled). A chunk that fails here is left to
-- the run's own session, which retries or fails the run as it would have alone.
create procedure sync.backfill_worker(inout summary jsonb default null)
language plpgsql
as $$
declare
    v_run bigint;
    v_lease sync.applier;
    v_chunks integer := 0;
    v_step text;
    v_try jsonb;
    v_error jsonb;
begin
    select * into v_lease from sync.applier;
    -- Only a backfill that sync.backfill runs: one that ticks advance has pulls in between, and a
    -- chunk read beside a pull could be older than a change the pull brought.
    v_run := case when v_lease.run_id = v_lease.backfill_run_id then v_lease.backfill_run_id end;
    if not sync._lease_alive(v_lease)
       or (select r.status from sync.runs r where r.id = v_run and r.mode = 'backfill') is distinct from 'running' then
        v_run := null;
    end if;
    summary := sync._worker_gate(v_run);
    if summary is not null then
        return;
    end if;
    commit;
    loop
        perform pg_catalog.pg_stat_clear_snapshot();
        select * into v_lease from sync.applier;
        exit when v_lease.backfill_run_id is distinct from v_run or not sync._lease_alive(v_lease)
               or (select r.status from sync.runs r where r.id = v_run) <> 'running';
        v_try := sync._backfill_attempt(v_run);
        v_error := v_try -> 'error';
        v_step := v_try ->> 'step';
        if v_error is null then
            commit;
        else
            rollback;
        end if;
        exit when v_error is not null;
        v_chunks := v_chunks + (v_step in ('chunk', 'last'))::integer;
        exit when v_step in ('last', 'done');
    end loop;
    summary := jsonb_strip_nulls(jsonb_build_object('status', case when v_error is null then 'done' else 'stopped' end,
                                                    'run_id', v_run, 'chunks', v_chunks, 'error', v_error));
end;
$$;
comment on procedure sync.backfill_worker(jsonb) is
    'Helps the running backfill from another session: copies chunks side by side with it until none is left; returns at once (idle) when no backfill runs.';
revoke execute on procedure sync.backfill_worker(jsonb) from public;
