-- Runs: the applier's lease (one applier at a time, no lock outliving its transaction), the sweep
-- of interrupted runs, error categories, cancelling a run.
--
-- Why a lease and not a session-level advisory lock: a session lock is released only by an
-- explicit unlock or the end of the session. A tick cancelled by statement_timeout on a pooled
-- connection that stays open never unlocks, and every later tick would answer already_running.
-- Here the advisory lock is transaction-scoped (released by commit, rollback, cancel or
-- termination alike) and guards sync.applier, whose claim counts only while its backend still
-- runs the statement that made it.

-- True while the lease's backend still runs the statement that took it.
create function sync._lease_alive(p_lease sync.applier)
returns boolean
language sql
stable
set search_path = ''
as $$
    select p_lease.run_id is not null
       and p_lease.pid is distinct from pg_catalog.pg_backend_pid()
       and exists (select 1 from pg_catalog.pg_stat_activity a
                    where a.pid = p_lease.pid
                      and (a.backend_start is null or a.backend_start = p_lease.backend_start)
                      and (a.state = 'active' and a.query_start = p_lease.query_start
                           -- Another role's session shows no state here: trust a recent heartbeat.
                           or a.state is null and p_lease.heartbeat_at > pg_catalog.now() - interval '10 minutes'));
$$;

-- The error category of a SQLSTATE (engine.md §7): network, source, validation, conflict, database.
create function sync._error_category(p_state text, p_detail text default null)
returns text
language sql
immutable
set search_path = ''
as $$
    select case
        when p_state like '08%' and coalesce(p_detail, '') ~* 'authentication|password|role .* (does not exist|is not permitted)|pg_hba|permission denied' then 'source'
        when p_state like '08%' or p_state in ('HV00N', 'HV00D', '57P01', '57P02', '57P03') then 'network'
        when p_state like '28%' or p_state in ('SY409', '42501') then 'source'
        when p_state like 'SY4%' or p_state like '22%' or p_state like '23%' then 'validation'
        when p_state = '57014' then 'interrupted'
        else 'database' end;
$$;

-- The error object of a run: phase, SQLSTATE, category, message. Never the DETAIL: a
-- constraint's detail lists the failing row's values, and the data is medical and financial.
create function sync._run_error(p_phase text, p_state text, p_message text, p_detail text default null)
returns jsonb
language sql
immutable
set search_path = ''
as $$
    -- A data exception's text can quote the value it refused (invalid input syntax for type
    -- integer: "…"): the run keeps its SQLSTATE, not the text (engine.md §9). (An integrity
    -- error's text names the constraint; its DETAIL, which lists the row, is never kept.)
    select jsonb_build_object('phase', p_phase, 'sqlstate', p_state, 'category', sync._error_category(p_state, p_detail),
                              'message', case when left(p_state, 2) = '22'
                                              then format('a value was refused with SQLSTATE %s (data_exception); its text, which can quote the value, is left out',
                                                          p_state)
                                              else p_message end);
$$;

-- Marks runs that nobody runs any more as failed, category interrupted (client gone, backend
-- terminated, statement cancelled, pooler connection reset). Incremental runs other than the live
-- holder's; backfill runs only when the dead holder was running them (a backfill advanced by
-- ticks stays running between ticks, and an interrupted one stays resumable). Returns how many.
create function sync._sweep_interrupted(p_dead sync.applier default null)
returns integer
language plpgsql
set search_path = ''
as $$
declare
    v_live bigint := (select l.run_id from sync.applier l where sync._lease_alive(l));
    v_n integer;
begin
    update sync.runs r
       set status = 'failed', ended_at = coalesce(r.ended_at, pg_catalog.clock_timestamp()),
           error = sync._run_error(case r.mode when 'backfill' then 'backfill' else 'run' end, '57014',
                                   'the run was interrupted (client gone, backend terminated, statement cancelled or connection reset)')
                   || case when r.mode = 'backfill' then jsonb_build_object('retry_at', pg_catalog.now(), 'attempts', 0) else '{}' end
     where r.status = 'running' and r.id is distinct from v_live
       and (r.mode <> 'backfill' or r.id in (p_dead.run_id, p_dead.backfill_run_id));
    get diagnostics v_n = row_count;
    return v_n;
end;
$$;

-- Claims the applier for this backend, in the caller's transaction: NULL when claimed (the lease
-- names this backend, without a run yet: sync._lease_set names it), else the run that holds it.
-- A claim being made right now (its run not committed yet) is waited for, briefly, so that the
-- answer always names the run.
create function sync._lease_claim()
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    l sync.applier;
begin
    for i in 1..300 loop
        exit when pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('sync.applier'));
        -- A run is in one of its transactions: its committed lease names it.
        perform pg_catalog.pg_stat_clear_snapshot();
        select * into l from sync.applier;
        if sync._lease_alive(l) then
            return coalesce((select to_jsonb(r) from sync.runs r where r.id = l.run_id), '{}');
        end if;
        perform pg_catalog.pg_sleep(0.01);
    end loop;
    if not pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('sync.applier')) then
        return coalesce((select to_jsonb(r) from sync.runs r where r.id = l.run_id), '{}');
    end if;
    perform pg_catalog.pg_stat_clear_snapshot();
    select * into l from sync.applier for update;
    if sync._lease_alive(l) then
        return coalesce((select to_jsonb(r) from sync.runs r where r.id = l.run_id), '{}');
    end if;
    perform sync._sweep_interrupted(l);
    update sync.applier a
       set run_id = null, backfill_run_id = null, pid = s.pid, backend_start = s.backend_start, query_start = s.query_start,
           heartbeat_at = pg_catalog.now()
      from (select x.pid, x.backend_start, x.query_start from pg_catalog.pg_stat_activity x where x.pid = pg_catalog.pg_backend_pid()) s;
    return null;
end;
$$;

-- Names the run (and the backfill run it steps) that holds the lease this backend claimed.
create function sync._lease_set(p_run_id bigint, p_backfill_run_id bigint default null)
returns void
language sql
set search_path = ''
as $$
    update sync.applier set run_id = p_run_id, backfill_run_id = p_backfill_run_id, heartbeat_at = pg_catalog.now()
     where pid = pg_catalog.pg_backend_pid();
$$;

-- Starts one of a run's transactions: takes the transaction-scoped lock (waiting for a claimer's
-- instant) and says whether the lease is still this run's.
create function sync._lease_renew(p_run_id bigint)
returns boolean
language plpgsql
set search_path = ''
as $$
begin
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('sync.applier'));
    update sync.applier set heartbeat_at = pg_catalog.now() where run_id = p_run_id and pid = pg_catalog.pg_backend_pid();
    return found;
end;
$$;

-- Gives the lease up (the run's last transaction).
create function sync._lease_release(p_run_id bigint)
returns void
language sql
set search_path = ''
as $$
    update sync.applier set run_id = null, backfill_run_id = null, pid = null, backend_start = null, query_start = null
     where run_id = p_run_id and pid = pg_catalog.pg_backend_pid();
$$;

-- The caller of an API call: the argument, else the verified JWT's subject, else the session role.
create function sync._caller(p_caller text)
returns text
language sql
stable
set search_path = ''
as $$
    select coalesce(p_caller, nullif(pg_catalog.current_setting('request.jwt.claim.sub', true), ''), session_user);
$$;

create function sync.cancel_run(id bigint, reason text default null, caller text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    r sync.runs;
    v_who text := sync._caller(cancel_run.caller);
begin
    select * into r from sync.runs x where x.id = cancel_run.id for update;
    if not found then
        perform sync._raise(404, format('run %s does not exist', cancel_run.id), format('id %s', cancel_run.id));
    end if;
    if r.status in ('succeeded', 'cancelled') or r.status in ('failed', 'partial') and r.mode <> 'backfill' then
        perform sync._raise(409, format('run %s has ended (%s): nothing to cancel', r.id, r.status), format('id %s', r.id));
    end if;
    -- A running tick or backfill sees this between two batches and stops there.
    update sync.runs x
       set status = 'cancelled', ended_at = pg_catalog.clock_timestamp(),
           error = jsonb_build_object('phase', 'run', 'category', 'cancelled',
                                      'message', coalesce(cancel_run.reason, 'cancelled by ' || v_who))
     where x.id = r.id
     returning * into r;
    insert into sync.audit (kind, subject, caller, details)
    values ('run.cancel', 'run:' || r.id, v_who, jsonb_build_object('mode', r.mode, 'reason', cancel_run.reason));
    return to_jsonb(r);
end;
$$;
comment on function sync.cancel_run(bigint, text, text) is
    'Cancels a queued, running, paused or unfinished backfill run; a running tick or backfill stops between batches. SY404 unknown, SY409 ended. Audited. Returns the run.';

revoke execute on function sync._lease_alive(sync.applier), sync._error_category(text, text), sync._run_error(text, text, text, text),
    sync._sweep_interrupted(sync.applier), sync._lease_claim(), sync._lease_set(bigint, bigint), sync._lease_renew(bigint),
    sync._lease_release(bigint), sync._caller(text), sync.cancel_run(bigint, text, text) from public;

-- Raises (or refreshes) an alert: one open alert per dedup key, its occurrences counted.
create function sync._alert(p_kind text, p_severity text, p_dedup_key text, p_message text, p_details jsonb default '{}')
returns void
language sql
set search_path = ''
as $$
    insert into sync.alerts as a (kind, severity, dedup_key, message, details)
    values (p_kind, p_severity, p_dedup_key, p_message, p_details)
    on conflict (dedup_key) where acknowledged_at is null and resolved_at is null
    do update set occurrences = a.occurrences + 1, last_seen_at = pg_catalog.now(), message = excluded.message,
                  details = excluded.details;
$$;
revoke execute on function sync._alert(text, text, text, text, jsonb) from public;

-- Resolves the open alert of a dedup key: its condition cleared. It says so (details.resolved) and,
-- for a critical one, raises an info `recovery` alert. Returns whether one was open.
create function sync._resolve_alert(p_dedup_key text, p_reason text)
returns boolean
language plpgsql
set search_path = ''
as $$
declare
    a sync.alerts;
begin
    update sync.alerts x set resolved_at = pg_catalog.now(), details = x.details || jsonb_build_object('resolved', p_reason)
     where x.dedup_key = p_dedup_key and x.acknowledged_at is null and x.resolved_at is null
    returning * into a;
    if not found then
        return false;
    end if;
    if a.severity = 'critical' then
        perform sync._alert('recovery', 'info', 'recovery:' || a.dedup_key,
                            format('recovered: %s (%s)', a.kind, p_reason), jsonb_build_object('alert_id', a.id, 'kind', a.kind));
    end if;
    return true;
end;
$$;
revoke execute on function sync._resolve_alert(text, text) from public;

-- True for the errors worth retrying within a tick: the network, a lock or serialization
-- conflict, a statement timeout on the source.
create function sync._transient(p_state text)
returns boolean
language sql
immutable
set search_path = ''
as $$
    select p_state like '08%' or p_state in ('HV00N', 'HV00D', '40001', '40P01', '55P03', '57014', '57P01', '57P02', '57P03');
$$;

-- Records a tick's pull outcome in the circuit breaker: a success closes it (and says so, when it
-- was failing); a failure counts, and from the second failing tick in a row opens it for
-- retry.backoff_ms × 2^(failures + 4), capped by retry.max_backoff_ms (doubling per failing probe).
create function sync._breaker_record(p_ok boolean, p_error jsonb default null)
returns void
language plpgsql
set search_path = ''
as $$
declare
    v_retry jsonb := sync.get_config() -> 'retry';
    v_failures integer;
begin
    if p_ok then
        update sync.source s set failures = 0, open_until = null where s.failures > 0
        returning s.failures into v_failures;
        if found then
            perform sync._resolve_alert('source_unreachable', 'the source answers again');
        end if;
        return;
    end if;
    update sync.source s set failures = s.failures + 1,
           open_until = case when s.failures + 1 >= 2 then pg_catalog.now() + make_interval(secs =>
               least((v_retry ->> 'max_backoff_ms')::numeric, (v_retry ->> 'backoff_ms')::numeric * 2 ^ (s.failures + 1 + 4)) / 1000.0) end
    returning s.failures into v_failures;
    if v_failures >= 2 then
        perform sync._alert('source_unreachable', 'warning', 'source_unreachable',
                            format('the source failed %s ticks in a row (%s); ticks back off', v_failures, p_error ->> 'category'),
                            jsonb_build_object('failures', v_failures, 'sqlstate', p_error ->> 'sqlstate'));
    end if;
end;
$$;
revoke execute on function sync._transient(text), sync._breaker_record(boolean, jsonb) from public;
