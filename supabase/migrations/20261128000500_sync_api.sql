-- The read side of the HTTPS API (api.md): one run, a keyset-paged list of runs, the quarantine list.
-- Each returns jsonb in the API's shape, so a route is one call.

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
    v_items jsonb;
    v_count integer;
    v_last bigint;
begin
    if list_runs."limit" is null or list_runs."limit" < 1 or list_runs."limit" > 500 then
        perform sync._raise(400, 'limit must be between 1 and 500', format('limit %s', list_runs."limit"));
    end if;
    if list_runs.legacy_id is not null and list_runs.entity is null then
        perform sync._raise(400, 'legacy_id needs entity');
    end if;
    if list_runs.entity is not null and not exists (select 1 from sync.entities e where e.name = list_runs.entity) then
        perform sync._raise(400, format('unknown entity "%s"', list_runs.entity));
    end if;
    select coalesce(jsonb_agg(sync._run_json(p) order by p.id desc), '[]'), count(*), min(p.id)
      into v_items, v_count, v_last
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
             limit list_runs."limit") p;
    return jsonb_build_object('items', v_items,
        'next_cursor', case when v_count = list_runs."limit" then v_last end);
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
    v_items jsonb;
    v_count integer;
    v_last bigint;
begin
    if list_quarantine."limit" is null or list_quarantine."limit" < 1 or list_quarantine."limit" > 500 then
        perform sync._raise(400, 'limit must be between 1 and 500', format('limit %s', list_quarantine."limit"));
    end if;
    select coalesce(jsonb_agg(p.item order by p.id desc), '[]'), count(*), min(p.id)
      into v_items, v_count, v_last
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
             limit list_quarantine."limit") p;
    return jsonb_build_object('items', v_items,
        'next_cursor', case when v_count = list_quarantine."limit" then v_last end);
end;
$$;
comment on function sync.list_quarantine(boolean, integer, bigint, boolean) is
    'Quarantine rows newest first, keyset-paged by id: {items, next_cursor}; row images only when asked.';
revoke execute on function sync.list_quarantine(boolean, integer, bigint, boolean) from public;
