-- Manual runs (api.md POST /sync/runs): one entry, sync.start_run, for every mode, rate-limited per
-- caller in SQL (Edge Function isolates are ephemeral) and audited with the verified caller.
--   incremental: queues a run that the caller's tick then runs (call sync.tick(..., run_id => id));
--   backfill:    queues a backfill run that ticks advance chunk by chunk (sync._queue_backfill);
--   dry_run:     pulls one batch and applies it inside a subtransaction that is rolled back, and
--                reports per entity what the apply would do, with sample rows; writes nothing but
--                the run record and the audit row (the source's log is not pruned either: the
--                remote transaction rolls back with it).
--   verify:      verification now (sync._verify_run), deep with all; repairs what it finds when auto_repair;
--   repair:      re-reads exactly the given legacy ids (or the rows updated in a since/until window) and applies them.
-- Returns {status: 'accepted', run} or {status: 'already_running', run} (the run in progress).
-- Errors: SY400 bad input; SY429 the caller's manual runs per minute are spent.

-- Refuses (SY429) a caller that started manual_runs_per_minute runs in the last minute. Serialised
-- per caller, so two requests at once cannot both slip under the limit.
create function sync._rate_limit(p_caller text)
returns void
language plpgsql
set search_path = ''
as $$
declare
    v_limit integer := (sync.get_config() ->> 'manual_runs_per_minute')::integer;
    v_oldest timestamptz;
    v_n integer;
begin
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('sync.rate:' || p_caller));
    select count(*), min(a.at) into v_n, v_oldest
      from sync.audit a
     where a.kind = 'run.start' and a.caller = p_caller and a.at > pg_catalog.clock_timestamp() - interval '1 minute';
    if v_n >= v_limit then
        perform sync._raise(429, format('%s manual runs started in the last minute (limit %s, manual_runs_per_minute): retry in %s s',
                                        v_n, v_limit,
                                        ceil(extract(epoch from v_oldest + interval '1 minute' - pg_catalog.clock_timestamp()))),
                            format('retry_after %s',
                                   ceil(extract(epoch from v_oldest + interval '1 minute' - pg_catalog.clock_timestamp()))));
    end if;
end;
$$;

-- The written columns of the target rows of an entity's legacy ids (those mapped), as the sync
-- compares them: what a dry run diffs before and after its rolled-back apply.
create function sync._target_images(p_entity text, p_legacy_ids bigint[])
returns table (legacy_id bigint, image jsonb)
language plpgsql
stable
set search_path = ''
as $$
declare
    e sync.entities;
begin
    select * into e from sync.entities where name = p_entity;
    return query execute format(
        'select m.legacy_id, %s from sync.id_map m join %s t on t.id = m.target_id where m.entity = $1 and m.legacy_id = any ($2)',
        sync._image_expr(e.write_columns, 't'), e.target_table)
    using p_entity, p_legacy_ids;
end;
$$;

-- A dry run's report of one entity's rows (p_before: {legacy id: image} before the apply, read
-- again after it): per row insert, update (with the columns that change) or unchanged, and for a
-- change not written its inbox outcome and reason; the columns counted over the updates, and up
-- to 3 sample rows. Returns {columns: {column: n}, samples: [...]}.
create function sync._dry_diff(p_run_id bigint, p_entity text, p_ids bigint[], p_before jsonb)
returns jsonb
language sql
stable
set search_path = ''
as $$
    with a as (select * from sync._target_images(p_entity, p_ids)),
         r as (select g.id as legacy_id, a.image as after, p_before -> g.id::text as before, i.status, i.reason, i.op
                 from unnest(p_ids) g (id)
                 left join a on a.legacy_id = g.id
                 left join lateral (select i.status, i.reason, i.op from sync.inbox i
                                     where i.run_id = p_run_id and i.entity = p_entity and i.legacy_id = g.id
                                     order by i.id desc limit 1) i on true),
         d as (select r.*, case when r.status in ('parked', 'quarantined', 'conflict', 'skipped') then r.status
                                when r.op = 'delete' or r.after is null and r.before is not null
                                     then case when r.before is null then 'unchanged' else 'delete' end
                                when r.after is null then coalesce(r.status, 'not written')
                                when r.before is null then 'insert'
                                when r.before = r.after then 'unchanged' else 'update' end as change,
                      array(select k.key from jsonb_each(r.after) k
                             where r.before is not null and k.value is distinct from r.before -> k.key order by k.key) as columns
                 from r)
    select jsonb_build_object(
        'columns', coalesce((select jsonb_object_agg(c, n) from (select c, count(*) as n from d, unnest(d.columns) c
                                                                 where d.change = 'update' group by c) x), '{}'),
        'samples', coalesce((select jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                                 'legacy_id', s.legacy_id, 'change', s.change, 'reason', s.reason,
                                 'columns', case when s.change = 'update' then to_jsonb(s.columns) end,
                                 'target', s.after)) order by s.legacy_id)
                               from (select * from d order by d.legacy_id limit 3) s), '[]'));
$$;

-- What an apply would do, without doing it, in a subtransaction that is rolled back (target rows,
-- id map, inbox, the remote prune). By default the next batch: one bounded pull (FDW transport;
-- over the HTTP bridge, what is already in the inbox) and one apply step. With p_all, a full
-- backfill of the entities, chunk by chunk, within tick_budget_seconds (complete: false when the
-- budget ran out first). Returns {counts: {entity: {outcome: n}}, columns: {entity: {column: n}}
-- (the columns the updates change), samples: {entity: up to 3 rows with their change, columns,
-- reason and the target row the apply would write}, changes, pulled, all, complete}.
create function sync._dry_run(p_entities text[], p_all boolean default false)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_config jsonb := sync.get_config();
    v_deadline timestamptz := pg_catalog.clock_timestamp()
                              + make_interval(secs => (v_config ->> 'tick_budget_seconds')::integer);
    v_run bigint;
    v_pulled bigint := 0;
    v_reasons jsonb;
    v_step jsonb;
    v_result jsonb;
    v_counts jsonb := '{}';
    v_columns jsonb := '{}';
    v_samples jsonb := '{}';
    v_before jsonb;
    v_diff jsonb;
    v_ids bigint[];
    v_entity text;
    v_pk text;
    v_after bigint;
    v_max bigint;
    v_chunk integer := (v_config ->> 'backfill_batch_size')::integer;
    v_complete boolean := true;
    v_state text;
    v_msg text;
begin
    begin
        insert into sync.runs (mode, status, trigger) values ('dry_run', 'running', 'manual') returning id into v_run;
        if p_all then
            for v_entity, v_pk in select o.name, e.source_pk from sync._apply_order() o join sync.entities e on e.name = o.name
                                   where (p_entities is null or o.name = any (p_entities)) and e.available order by o.depth, o.name loop
                execute format('select coalesce(min(%1$I) - 1, 0), coalesce(max(%1$I), 0) from %2$s', v_pk,
                               sync._source_relation(v_entity)) into v_after, v_max;
                while v_after < v_max loop
                    if pg_catalog.clock_timestamp() >= v_deadline then
                        v_complete := false;
                        exit;
                    end if;
                    perform sync._read_source(v_entity, null, v_after, v_chunk);
                    v_after := v_after + v_chunk;
                    v_ids := array(select w.legacy_id from pg_temp.work_in w order by w.legacy_id);
                    select coalesce(jsonb_object_agg(t.legacy_id::text, t.image), '{}') into v_before
                      from sync._target_images(v_entity, v_ids) t;
                    v_counts := jsonb_set(v_counts, array[v_entity],
                                          sync._sum_outcomes(coalesce(v_counts -> v_entity, '{}'), sync._apply_entity(v_entity, v_run, false)));
                    v_diff := sync._dry_diff(v_run, v_entity, v_ids, v_before);
                    v_columns := jsonb_set(v_columns, array[v_entity], sync._sum_outcomes(coalesce(v_columns -> v_entity, '{}'), v_diff -> 'columns'));
                    if not v_samples ? v_entity then
                        v_samples := v_samples || jsonb_build_object(v_entity, v_diff -> 'samples');
                    end if;
                end loop;
            end loop;
        else
            -- Every pending change: rounds of one bounded pull and one apply step, until drained or out
            -- of the budget.
            loop
                if pg_catalog.clock_timestamp() >= v_deadline then
                    v_complete := false;
                    exit;
                end if;
                v_step := null;
                if v_config ->> 'transport' = 'fdw' then
                    v_step := sync._pull(v_run, (v_config ->> 'batch_size')::integer);
                    if v_step ? 'refused' then
                        perform sync._raise(409, format('the source was refused: %s', v_step ->> 'refused'));
                    end if;
                    v_pulled := v_pulled + coalesce((v_step ->> 'changes')::bigint, 0);
                end if;
                update sync.inbox i set status = 'superseded'
                 where i.status = 'pending' and p_entities is not null and i.entity <> all (p_entities);
                exit when not exists (select 1 from sync.inbox i where i.status = 'pending');
                -- Each pending entity's target rows before the apply (one statement per entity).
                select coalesce(jsonb_object_agg(x.entity, jsonb_build_object(
                           'ids', to_jsonb(x.ids),
                           'images', (select coalesce(jsonb_object_agg(t.legacy_id::text, t.image), '{}')
                                        from sync._target_images(x.entity, x.ids) t))), '{}')
                  into v_before
                  from (select i.entity, array_agg(distinct i.legacy_id) as ids from sync.inbox i where i.status = 'pending'
                         group by i.entity) x;
                v_step := sync._apply_step(v_run, null);
                for v_entity, v_diff in
                    select x.key, sync._dry_diff(v_run, x.key, array(select jsonb_array_elements_text(x.value -> 'ids')::bigint),
                                                 x.value -> 'images')
                      from jsonb_each(v_before) x
                loop
                    v_counts := jsonb_set(v_counts, array[v_entity],
                                          sync._sum_outcomes(v_counts -> v_entity, v_step #> array['counts', v_entity]));
                    if v_diff -> 'columns' <> '{}' then
                        v_columns := jsonb_set(v_columns, array[v_entity],
                                               sync._sum_outcomes(v_columns -> v_entity, v_diff -> 'columns'));
                    end if;
                    if not v_samples ? v_entity then
                        v_samples := v_samples || jsonb_build_object(v_entity, v_diff -> 'samples');
                    end if;
                end loop;
                exit when (v_step ->> 'taken')::integer = 0;
            end loop;
        end if;
        -- Why changes would be quarantined, per entity and reason.
        select coalesce(jsonb_object_agg(q.entity, q.reasons), '{}') into v_reasons
          from (select r.entity, jsonb_object_agg(r.reason, r.n) as reasons
                  from (select i.entity, i.reason, count(*) as n from sync.inbox i
                         where i.run_id = v_run and i.status = 'quarantined' group by 1, 2) r
                 group by r.entity) q;
        v_result := jsonb_build_object(
            'counts', (select coalesce(jsonb_object_agg(x.key, x.value), '{}') from jsonb_each(v_counts) x where x.value <> '{}'),
            'columns', v_columns, 'quarantined', v_reasons, 'samples', v_samples, 'all', p_all, 'complete', v_complete,
            'changes', (select count(*) from sync.inbox i where i.run_id = v_run), 'pulled', v_pulled);
        -- Undo everything: the pull, the inbox, the target rows, the id map, the remote prune.
        raise exception using errcode = 'SYDRY', message = 'dry run', detail = v_result::text;
    exception when others then
        get stacked diagnostics v_state = returned_sqlstate, v_msg = pg_exception_detail;
        if v_state <> 'SYDRY' then
            raise;
        end if;
        return v_msg::jsonb;
    end;
end;
$$;

-- The legacy ids of the rows updated in [since, until) per entity (those whose source table has an
-- updated_at column; NULL: all),
-- read from the source: what a repair of a window re-reads. Returns {entity: [ids]}.
create function sync._window_ids(p_entities text[], p_since timestamptz, p_until timestamptz)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    e sync.entities;
    v jsonb := '{}';
    v_ids jsonb;
begin
    for e in select x.* from sync.entities x
              where (p_entities is null or x.name = any (p_entities))
                and exists (select 1 from pg_catalog.pg_attribute a
                             where a.attrelid = sync._source_relation(x.name)::regclass and a.attname = 'updated_at'
                               and not a.attisdropped)
              order by x.name loop
        execute format('select coalesce(jsonb_agg(s.%1$I order by s.%1$I), ''[]'') from %2$s s
                         where ($1 is null or s.updated_at >= $1) and ($2 is null or s.updated_at < $2)',
                       e.source_pk, sync._source_relation(e.name))
           into v_ids using p_since, p_until;
        if jsonb_array_length(v_ids) > 0 then v := v || jsonb_build_object(e.name, v_ids); end if;
    end loop;
    return v;
end;
$$;

create function sync.start_run(
    mode text, entities text[] default null, legacy_ids jsonb default null, since timestamptz default null,
    "until" timestamptz default null, "all" boolean default false, caller text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_who text := sync._caller(start_run.caller);
    v_bad text;
    v_run bigint;
    v_live jsonb;
    v_t0 timestamptz := pg_catalog.clock_timestamp();
    v_result jsonb;
    r sync.runs;
begin
    if start_run.mode is null or start_run.mode not in ('incremental', 'backfill', 'verify', 'repair', 'dry_run') then
        perform sync._raise(400, format('mode must be incremental, backfill, verify, repair or dry_run, got %s',
                                        coalesce(start_run.mode, 'nothing')));
    end if;
    select n into v_bad from unnest(start_run.entities) n where not exists (select 1 from sync.entities e where e.name = n) limit 1;
    if v_bad is not null then
        perform sync._raise(400, format('unknown entity "%s"', v_bad));
    end if;
    if start_run.mode = 'incremental' and start_run.entities is not null then
        perform sync._raise(400, 'an incremental run covers every entity: leave entities out');
    end if;
    if start_run.mode <> 'repair' and (start_run.legacy_ids is not null or start_run.since is not null or start_run."until" is not null) then
        perform sync._raise(400, format('legacy_ids, since and until belong to repair runs, not to %s', start_run.mode));
    end if;
    if start_run."all" and start_run.mode not in ('verify', 'dry_run') then
        perform sync._raise(400, format('all (a deep check of every row, a dry run of a full backfill) belongs to verify and dry_run runs, not to %s',
                                        start_run.mode));
    end if;
    if start_run.mode = 'repair' then
        if start_run.since >= start_run."until" then
            perform sync._raise(400, format('since (%s) must be before until (%s)', start_run.since, start_run."until"));
        end if;
        if (start_run.legacy_ids is null) = (start_run.since is null and start_run."until" is null) then
            perform sync._raise(400, 'a repair takes legacy_ids ({entity: [ids]}) or a since/until window, one of them');
        end if;
        if start_run.legacy_ids is not null and (jsonb_typeof(start_run.legacy_ids) <> 'object' or exists (
               select 1 from jsonb_each(start_run.legacy_ids) x
                where not exists (select 1 from sync.entities e where e.name = x.key) or jsonb_typeof(x.value) <> 'array'
                   or exists (select 1 from jsonb_array_elements(x.value) v where jsonb_typeof(v) <> 'number'))) then
            perform sync._raise(400, 'legacy_ids must map known entities to arrays of legacy ids');
        end if;
    end if;
    perform sync._rate_limit(v_who);

    if start_run.mode = 'backfill' then
        select * into r from sync.runs x
         where x.mode = 'backfill' and x.status in ('queued', 'running', 'paused') order by x.id desc limit 1;
        if found then
            return jsonb_build_object('status', 'already_running', 'run', sync._run_json(r));
        end if;
        v_run := (sync._queue_backfill(start_run.entities, v_who)).id;
    elsif start_run.mode = 'incremental' then
        -- Two triggers at once: serialised here, the second sees the first's queued run.
        perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('sync.start_run'));
        -- A queued run whose tick never came (its isolate died before calling it) is closed.
        update sync.runs x set status = 'cancelled', ended_at = v_t0,
                               error = jsonb_build_object('phase', 'run', 'category', 'conflict', 'message', 'its tick never started')
         where x.mode = 'incremental' and x.status = 'queued' and x.created_at < v_t0 - interval '5 minutes';
        v_live := coalesce((select sync.get_run(l.run_id) from sync.applier l where sync._lease_alive(l)),
                           (select sync._run_json(x) from sync.runs x
                             where x.mode = 'incremental' and x.status = 'queued' order by x.id limit 1));
        if v_live is not null then
            return jsonb_build_object('status', 'already_running', 'run', v_live);
        end if;
        insert into sync.runs (mode, status, trigger, caller) values ('incremental', 'queued', 'manual', v_who)
        returning id into v_run;
    elsif start_run.mode in ('verify', 'repair') then
        r := sync._verify_run(start_run.mode, start_run."all", start_run.entities,
                              coalesce(start_run.legacy_ids, sync._window_ids(start_run.entities, start_run.since, start_run."until")),
                              v_who);
        if r.id is null then
            return jsonb_build_object('status', 'already_running',
                                      'run', (select sync.get_run(l.run_id) from sync.applier l where sync._lease_alive(l)));
        end if;
        v_run := r.id;
        -- A window names the entities it could not cover: their source rows have no updated_at.
        if start_run.mode = 'repair' and start_run.legacy_ids is null then
            update sync.runs x set summary = x.summary || jsonb_build_object(
                       'window', jsonb_build_object('since', start_run.since, 'until', start_run."until"),
                       'without_timestamp', coalesce((select jsonb_agg(e.name order by e.name) from sync.entities e
                                                       where (start_run.entities is null or e.name = any (start_run.entities)) and e.available
                                                         and not exists (select 1 from pg_catalog.pg_attribute a
                                                                          where a.attrelid = sync._source_relation(e.name)::regclass
                                                                            and a.attname = 'updated_at' and not a.attisdropped)),
                                                     '[]'))
             where x.id = v_run;
        end if;
    else
        v_result := sync._dry_run(start_run.entities, start_run."all");
        insert into sync.runs (mode, status, trigger, caller, entities, started_at, ended_at, counts, summary, timings)
        values ('dry_run', 'succeeded', 'manual', v_who, start_run.entities, v_t0, pg_catalog.clock_timestamp(),
                v_result -> 'counts', v_result,
                jsonb_build_object('total_ms', round(extract(epoch from pg_catalog.clock_timestamp() - v_t0) * 1000)))
        returning id into v_run;
    end if;
    insert into sync.audit (kind, subject, caller, details)
    values ('run.start', 'run:' || v_run, v_who,
            jsonb_strip_nulls(jsonb_build_object('mode', start_run.mode, 'entities', start_run.entities)));
    select * into r from sync.runs x where x.id = v_run;
    return jsonb_build_object('status', 'accepted',
                              'run', sync._run_json(r) || case when r.mode in ('dry_run', 'verify', 'repair')
                                                               then jsonb_build_object('result', r.summary) else '{}' end);
end;
$$;
comment on function sync.start_run(text, text[], jsonb, timestamptz, timestamptz, boolean, text) is
    'Starts a manual run (incremental, backfill, dry_run, verify, repair): {status: accepted | already_running, run}. Rate-limited per caller (SY429), audited.';

revoke execute on function sync._rate_limit(text), sync._dry_run(text[], boolean), sync._target_images(text, bigint[]),
    sync._dry_diff(bigint, text, bigint[], jsonb), sync._window_ids(text[], timestamptz, timestamptz),
    sync.start_run(text, text[], jsonb, timestamptz, timestamptz, boolean, text) from public;
