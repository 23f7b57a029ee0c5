-- Run control for the API (engine.md §7): queueing a backfill that ticks advance, pausing and
-- resuming it between chunks. (Cancelling: sync.cancel_run.) Each call is audited with its caller.
-- Errors: SY400 unknown entity; SY404 unknown run; SY409 the action does not fit the run's state,
-- or a backfill is already unfinished.

-- Queues the backfill run (not audited: its callers are). Returns the run row.
create function sync._queue_backfill(entities text[], p_who text)
returns sync.runs
language plpgsql
set search_path = ''
as $$
declare
    v_entities text[];
    v_bad text;
    v_run bigint;
    r sync.runs;
begin
    select n into v_bad from unnest(entities) n where not exists (select 1 from sync.entities e where e.name = n) limit 1;
    if v_bad is not null then
        perform sync._raise(400, format('unknown entity "%s"', v_bad));
    end if;
    v_entities := array(select o.name from sync._apply_order() o
                         where (_queue_backfill.entities is null or o.name = any (_queue_backfill.entities))
                           and coalesce((sync.get_config() #>> array['entities', o.name, 'enabled'])::boolean, true));
    select x.id into v_run from sync.runs x
     where x.mode = 'backfill' and x.status in ('queued', 'running', 'paused') order by x.id desc limit 1;
    if v_run is not null then
        perform sync._raise(409, format('backfill run %s is not finished: cancel it first, or let it finish', v_run),
                            format('id %s', v_run));
    end if;
    v_run := sync._backfill_open(v_entities);
    update sync.runs x set status = 'queued', trigger = 'manual', caller = p_who, started_at = null
     where x.id = v_run returning * into r;
    return r;
end;
$$;

create function sync.queue_backfill(entities text[] default null, caller text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    r sync.runs := sync._queue_backfill(entities, sync._caller(queue_backfill.caller));
begin
    insert into sync.audit (kind, subject, caller, details)
    values ('run.queue', 'run:' || r.id, r.caller, jsonb_build_object('mode', 'backfill', 'entities', r.entities));
    return to_jsonb(r);
end;
$$;
comment on function sync.queue_backfill(text[], text) is
    'Queues a backfill run of the given entities (NULL: all) that ticks advance chunk by chunk. SY409 while another is unfinished. Audited. Returns the run.';

-- Pauses (p_pause) or resumes a backfill run; a paused run keeps its progress and is skipped by
-- ticks, and a backfill procedure stepping it stops after its current chunk.
create function sync._pause_resume(p_id bigint, p_pause boolean, p_caller text)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    r sync.runs;
begin
    select * into r from sync.runs x where x.id = p_id for update;
    if not found then
        perform sync._raise(404, format('run %s does not exist', p_id), format('id %s', p_id));
    end if;
    if r.mode <> 'backfill' then
        perform sync._raise(409, format('run %s is %s: only a backfill can be paused; unschedule to stop the ticks', r.id, r.mode),
                            format('id %s', r.id));
    end if;
    if p_pause and r.status not in ('queued', 'running', 'failed')
       or not p_pause and r.status <> 'paused' then
        perform sync._raise(409, format('run %s is %s: it cannot be %s', r.id, r.status, case when p_pause then 'paused' else 'resumed' end),
                            format('id %s', r.id));
    end if;
    update sync.runs x set status = case when p_pause then 'paused' else 'queued' end,
                           error = case when p_pause then x.error end
     where x.id = r.id
    returning * into r;
    insert into sync.audit (kind, subject, caller, details)
    values (case when p_pause then 'run.pause' else 'run.resume' end, 'run:' || r.id, sync._caller(p_caller),
            jsonb_build_object('done', r.progress -> 'done', 'total', r.progress -> 'total'));
    return to_jsonb(r);
end;
$$;

create function sync.pause_run(id bigint, caller text default null)
returns jsonb
language sql
security definer
set search_path = ''
as $$
    select sync._pause_resume(pause_run.id, true, pause_run.caller);
$$;
comment on function sync.pause_run(bigint, text) is
    'Pauses a backfill run between chunks, progress kept. SY404 unknown, SY409 not a backfill or not pausable. Audited. Returns the run.';

create function sync.resume_run(id bigint, caller text default null)
returns jsonb
language sql
security definer
set search_path = ''
as $$
    select sync._pause_resume(resume_run.id, false, resume_run.caller);
$$;
comment on function sync.resume_run(bigint, text) is
    'Resumes a paused backfill run: queued, ticks continue it from its last chunk. SY404 unknown, SY409 not paused. Audited. Returns the run.';

revoke execute on function sync._queue_backfill(text[], text), sync.queue_backfill(text[], text), sync._pause_resume(bigint, boolean, text),
    sync.pause_run(bigint, text), sync.resume_run(bigint, text) from public;
