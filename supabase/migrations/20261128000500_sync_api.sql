-- The read side of the HTTPS API (api.md): one run, a keyset-paged list of runs, the quarantine list.
-- Each returns jsonb in the API's shape, so a route is one call.

-- A page: the items (a jsonb array, newest first, each with an id) and the cursor for the next one
-- (the last id of a full page, else NULL). SY400 for a limit outside 1..500.
create function sync._page(p_items jsonb, p_limit integer)
returns jsonb
language sql
immutable
set search_path = ''
as $$
    select jsonb_build_object('items', coalesce(p_items, '[]'),
                              'next_cursor', case when jsonb_array_length(coalesce(p_items, '[]')) = p_limit
                                                  then p_items -> -1 -> 'id' end);
$$;

create function sync._check_limit(p_limit integer)
returns integer
language plpgsql
immutable
set search_path = ''
as $$
begin
    if p_limit is null or p_limit < 1 or p_limit > 500 then
        perform sync._raise(400, 'limit must be between 1 and 500', format('limit %s', p_limit));
    end if;
    return p_limit;
end;
$$;

revoke execute on function sync._page(jsonb, integer), sync._check_limit(integer) from public;

-- sync._run_json(r): a run as the API shows it. Returns jsonb. Writes nothing.
create function sync._run_json(r sync.runs)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select jsonb_build_object(
        'id', r.id, 'mode', r.mode, 'status', r.status, 'trigger', r.trigger, 'caller', r.caller,
        'entities', r.entities, 'started_at', r.started_at, 'ended_at', r.ended_at, 'created_at', r.created_at,
        'progress', r.progress, 'counts', r.counts, 'timings', r.timings, 'error', r.error)
$$;
comment on function sync._run_json(sync.runs) is 'A run row as the HTTPS API returns it.';
revoke execute on function sync._run_json(sync.runs) from public;

-- sync.get_run(id): one run. Returns jsonb; SY404 when unknown. Writes nothing.
create function sync.get_run(id bigint)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    v_run jsonb;
begin
    select sync._run_json(r) into v_run from sync.runs r where r.id = get_run.id;
    if v_run is null then
        perform sync._raise(404, format('run %s does not exist', get_run.id), format('id %s', get_run.id));
    end if;
    return v_run;
end;
$$;
comment on function sync.get_run(bigint) is 'One run as the API shows it; SY404 when unknown.';
revoke execute on function sync.get_run(bigint) from public;

-- sync.list_runs(status, from, to, limit, cursor, entity, legacy_id): runs newest first, keyset-paged by id.
-- entity: runs that covered it (a backfill of it, or changes of it applied); with legacy_id: runs that
-- applied a change of that row (as long as the inbox keeps it: retention.inbox_days).
-- Returns {items, next_cursor} (next_cursor: the id to pass as cursor, NULL on the last page). Writes nothing.
create function sync.list_runs(
    status text default null, "from" timestamptz default null, "to" timestamptz default null,
    "limit" integer default 50, cursor bigint default null, entity text default null, legacy_id bigint default null)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    v_limit integer := sync._check_limit(list_runs."limit");
begin
    if list_runs.legacy_id is not null and list_runs.entity is null then
        perform sync._raise(400, 'legacy_id needs entity');
    end if;
    if list_runs.entity is not null and not exists (select 1 from sync.entities e where e.name = list_runs.entity) then
        perform sync._raise(400, format('unknown entity "%s"', list_runs.entity));
    end if;
    return sync._page((
        select jsonb_agg(sync._run_json(p) order by p.id desc)
          from (select r.* from sync.runs r
                 where (list_runs.status is null or r.status = list_runs.status)
                   and (list_runs."from" is null or r.created_at >= list_runs."from")
                   and (list_runs."to" is null or r.created_at < list_runs."to")
                   and (list_runs.cursor is null or r.id < list_runs.cursor)
                   and (list_runs.entity is null or list_runs.legacy_id is not null
                        or r.entities @> array[list_runs.entity] or r.counts ? list_runs.entity)
                   and (list_runs.legacy_id is null
                        or r.id in (select i.run_id from sync.inbox i
                                     where i.entity = list_runs.entity and i.legacy_id = list_runs.legacy_id))
                 order by r.id desc
                 limit v_limit) p), v_limit);
end;
$$;
comment on function sync.list_runs(text, timestamptz, timestamptz, integer, bigint, text, bigint) is
    'Runs newest first, filtered by status, created_at window, entity and legacy id, keyset-paged by id: {items, next_cursor}.';
revoke execute on function sync.list_runs(text, timestamptz, timestamptz, integer, bigint, text, bigint) from public;

-- sync.list_quarantine(open_only, limit, cursor, images): quarantine rows newest first, keyset-paged by id;
-- with images, each row carries the change's image (admins only at the API). Returns {items, next_cursor}.
create function sync.list_quarantine(
    open_only boolean default true, "limit" integer default 50, cursor bigint default null,
    images boolean default false)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    v_limit integer := sync._check_limit(list_quarantine."limit");
begin
    return sync._page((
        select jsonb_agg(p.item order by p.id desc)
          from (select q.id,
                       jsonb_build_object('id', q.id, 'entity', q.entity, 'legacy_id', q.legacy_id, 'reason', q.reason,
                           'message', q.message, 'created_at', q.created_at, 'released_at', q.released_at,
                           'released_by', q.released_by, 'resolution', q.resolution)
                       || case when list_quarantine.images then jsonb_build_object('image', i.image) else '{}' end as item
                  from sync.quarantine q
                  left join sync.inbox i on i.id = q.inbox_id
                 where (not list_quarantine.open_only or q.released_at is null)
                   and (list_quarantine.cursor is null or q.id < list_quarantine.cursor)
                 order by q.id desc
                 limit v_limit) p), v_limit);
end;
$$;
comment on function sync.list_quarantine(boolean, integer, bigint, boolean) is
    'Quarantine rows newest first, keyset-paged by id: {items, next_cursor}; row images only when asked.';
revoke execute on function sync.list_quarantine(boolean, integer, bigint, boolean) from public;
