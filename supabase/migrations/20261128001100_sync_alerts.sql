-- Alerts (engine.md §9): conditions evaluated from the run records and the queues, stored and
-- deduplicated (sync._alert), resolved when their condition clears (sync._resolve_alert, which says
-- so), acknowledged through the API; delivered to the server log, a webhook (Slack-compatible body)
-- and email (an HTTP email API such as Resend, its key in Vault as sync_email_api_key) through
-- net.http_post, so that delivery never blocks a run, with retries; a daily digest; and retention.
-- Scheduled by sync.schedule() (jobs legacy-sync-alerts, legacy-sync-cleanup, legacy-sync-daily).
-- Nothing here carries a row value: alerts name entities, legacy ids, columns, reasons, SQLSTATEs.

create table sync.alert_deliveries (
    id bigserial primary key,
    alert_id bigint references sync.alerts (id) on delete cascade,  -- NULL: the digest
    destination text not null check (destination in ('webhook', 'email')),
    event text not null check (event in ('opened', 'resolved', 'digest')),
    request_id bigint,                -- net.http_post's id of the last attempt
    attempts integer not null default 0,
    status text not null default 'pending' check (status in ('pending', 'sent', 'delivered', 'failed')),
    next_at timestamptz not null default now(),
    body jsonb not null,              -- what the destination receives (no row values)
    last_error text,
    created_at timestamptz not null default now()
);
create index alert_deliveries_open_idx on sync.alert_deliveries (next_at) where status in ('pending', 'sent');
revoke all on sync.alert_deliveries from public;

-- Fires (p_fire) or resolves the alert of a dedup key. Returns its state: 'firing', 'resolved' or NULL.
create function sync._condition(p_fire boolean, p_kind text, p_severity text, p_dedup_key text, p_message text,
                                p_details jsonb default '{}', p_cleared text default 'the condition cleared')
returns text
language plpgsql
set search_path = ''
as $$
begin
    if p_fire then
        perform sync._alert(p_kind, p_severity, p_dedup_key, p_message, p_details);
        return 'firing';
    end if;
    return case when sync._resolve_alert(p_dedup_key, p_cleared) then 'resolved' end;
end;
$$;

-- Whether a verification repaired what it found in an entity: a repair ran and none of the rows it
-- re-read was quarantined or parked (a repair that could not write them leaves the problem, which
-- the gaps and verification_failed alerts must report now, not at the next verification).
create function sync._repaired_clean(p_summary jsonb, p_entity text)
returns boolean
language sql
immutable
set search_path = ''
as $$
    select (p_summary -> 'repaired') ? p_entity
       and coalesce((p_summary #>> array['repaired', p_entity, 'quarantined'])::bigint, 0) = 0
       and coalesce((p_summary #>> array['repaired', p_entity, 'parked'])::bigint, 0) = 0;
$$;
revoke execute on function sync._repaired_clean(jsonb, text) from public;

-- Evaluates every condition of engine.md §9 against the thresholds of alerts.thresholds. Event alerts
-- (source_changed, financial_delete, source_unreachable) are raised where they happen. Info alerts
-- are acknowledged automatically after 30 days. Returns {kind: firing | resolved} for what changed
-- or fires.
create function sync.evaluate_alerts()
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    t jsonb := sync.get_config() #> '{alerts,thresholds}';
    v_out jsonb := '{}';
    v_state text;
    v_n bigint;
    v_last_ok timestamptz;
    v_verify sync.runs;
    v_run sync.runs;
    v_median numeric;
    v_blame text;
    v_entity text;
    v_x jsonb;
begin
    -- More than N failed incremental runs in a row.
    select count(*) into v_n from sync.runs r
     where r.mode = 'incremental' and r.status = 'failed'
       and r.id > coalesce((select max(x.id) from sync.runs x where x.mode = 'incremental' and x.status in ('succeeded', 'partial')), 0);
    v_state := sync._condition(v_n > (t ->> 'consecutive_failures')::numeric, 'consecutive_failures', 'critical', 'consecutive_failures',
                               format('%s runs failed in a row', v_n), jsonb_build_object('failed', v_n), 'a run succeeded');
    v_out := v_out || jsonb_strip_nulls(jsonb_build_object('consecutive_failures', v_state));

    -- No successful run for N minutes (once the sync has run at all).
    select max(r.ended_at) into v_last_ok from sync.runs r where r.mode = 'incremental' and r.status in ('succeeded', 'partial');
    v_state := sync._condition(exists (select 1 from sync.runs r where r.mode = 'incremental')
                                   and coalesce(v_last_ok, '-infinity') < pg_catalog.now() - make_interval(mins => (t ->> 'no_success_minutes')::integer),
                               'no_success', 'critical', 'no_success',
                               format('no successful run for %s minutes', coalesce(floor(extract(epoch from pg_catalog.now() - v_last_ok) / 60)::text, 'ever')),
                               jsonb_build_object('last_success', v_last_ok), 'a run succeeded');
    v_out := v_out || jsonb_strip_nulls(jsonb_build_object('no_success', v_state));

    -- Lag of the last successful run above the threshold.
    select * into v_run from sync.runs r where r.mode = 'incremental' and r.status in ('succeeded', 'partial') order by r.id desc limit 1;
    v_state := sync._condition(coalesce((v_run.summary #>> '{lag_ms,p99}')::numeric, 0) > (t ->> 'lag_seconds')::numeric * 1000,
                               'lag', 'warning', 'lag',
                               format('lag p99 %s s (threshold %s s)', round((v_run.summary #>> '{lag_ms,p99}')::numeric / 1000, 1), t ->> 'lag_seconds'),
                               jsonb_build_object('run_id', v_run.id, 'lag_ms', v_run.summary -> 'lag_ms'), 'the lag is back under the threshold');
    v_out := v_out || jsonb_strip_nulls(jsonb_build_object('lag', v_state));

    -- The last verification: gaps above the threshold; integrity or drift it could not repair; a reseed.
    select * into v_verify from sync.runs r where r.mode = 'verify' and r.status = 'succeeded' order by r.id desc limit 1;
    select coalesce(sum(coalesce((e.value #>> '{gaps,missing}')::bigint, 0) + coalesce((e.value #>> '{gaps,orphaned}')::bigint, 0)), 0)
      into v_n from jsonb_each(coalesce(v_verify.summary -> 'entities', '{}')) e
     where not sync._repaired_clean(v_verify.summary, e.key);
    v_state := sync._condition(v_n > (t ->> 'gaps')::numeric, 'gaps', 'warning', 'gaps',
                               format('verification found %s gaps it did not repair', v_n),
                               jsonb_build_object('run_id', v_verify.id), 'the last verification found no gaps above the threshold');
    v_out := v_out || jsonb_strip_nulls(jsonb_build_object('gaps', v_state));
    select string_agg(e.key, ', ' order by e.key) into v_entity from jsonb_each(coalesce(v_verify.summary -> 'entities', '{}')) e
     where not (e.value ->> 'ok')::boolean and not sync._repaired_clean(v_verify.summary, e.key);
    v_state := sync._condition(v_entity is not null, 'verification_failed', 'warning', 'verification_failed',
                               format('verification found problems it did not repair in %s', v_entity),
                               jsonb_build_object('run_id', v_verify.id), 'the last verification is clean');
    v_out := v_out || jsonb_strip_nulls(jsonb_build_object('verification_failed', v_state));
    for v_entity, v_x in select e.key, e.value from jsonb_each(coalesce(v_verify.summary -> 'entities', '{}')) e loop
        -- A reseed: mapped rows gone while rows with the same legacy ids live under new UUIDs.
        v_state := sync._condition(
            coalesce((v_x #>> '{integrity,reseeded}')::bigint, 0) > 0,
            'target_reseeded', 'info', 'target_reseeded:' || v_entity,
            case when v_verify.summary -> 'rebuilt_mappings' is not null
                 then format('%s: %s mapped rows were gone from the target while rows with the same legacy ids exist under new UUIDs (a reseed); sync.rebuild_mappings() ran (auto_rebuild_mappings): %s remapped, %s unmatched',
                             v_entity, v_x #>> '{integrity,reseeded}',
                             coalesce(v_verify.summary #>> array['rebuilt_mappings', 'entities', v_entity, 'remapped'], '0'),
                             coalesce(v_verify.summary #>> array['rebuilt_mappings', 'entities', v_entity, 'unmatched'], '0'))
                 else format('%s: %s mapped rows are gone from the target while rows with the same legacy ids exist under new UUIDs (a reseed): run sync.rebuild_mappings()',
                             v_entity, v_x #>> '{integrity,reseeded}') end,
            jsonb_build_object('entity', v_entity, 'run_id', v_verify.id, 'rebuilt', v_verify.summary ? 'rebuilt_mappings'),
            'the id map matches the target');
        v_out := v_out || jsonb_strip_nulls(jsonb_build_object('target_reseeded:' || v_entity, v_state));
    end loop;

    -- Parked rows older than the limit.
    select count(*) into v_n from sync.inbox i
     where i.status = 'parked' and i.created_at < pg_catalog.now() - make_interval(mins => (t ->> 'parked_minutes')::integer);
    v_state := sync._condition(v_n > 0, 'parked_stale', 'warning', 'parked_stale',
                               format('%s changes parked for more than %s minutes (their parents never came)', v_n, t ->> 'parked_minutes'),
                               jsonb_build_object('parked', v_n), 'no change is parked that long');
    v_out := v_out || jsonb_strip_nulls(jsonb_build_object('parked_stale', v_state));

    -- Quarantine growth in the last hour.
    select count(*) into v_n from sync.quarantine q where q.created_at > pg_catalog.now() - interval '1 hour';
    v_state := sync._condition(v_n >= greatest((t ->> 'quarantine_growth')::numeric, 1), 'quarantine_growth', 'warning', 'quarantine_growth',
                               format('%s changes quarantined in the last hour', v_n), jsonb_build_object('last_hour', v_n),
                               'quarantine growth is back under the threshold');
    v_out := v_out || jsonb_strip_nulls(jsonb_build_object('quarantine_growth', v_state));

    -- Conflicts waiting for a decision.
    select count(*) into v_n from sync.conflicts c where c.status = 'open';
    v_state := sync._condition(v_n >= greatest((t ->> 'conflicts_waiting')::numeric, 1), 'conflicts_waiting', 'warning', 'conflicts_waiting',
                               format('%s conflicts wait for a decision', v_n), jsonb_build_object('open', v_n), 'no conflict waits');
    v_out := v_out || jsonb_strip_nulls(jsonb_build_object('conflicts_waiting', v_state));

    -- A run much slower than the 7-day median of runs that moved rows, with the phase to blame.
    select * into v_run from sync.runs r
     where r.mode = 'incremental' and r.status in ('succeeded', 'partial') and (r.summary ->> 'rows')::bigint > 0
     order by r.id desc limit 1;
    select percentile_cont(0.5) within group (order by (r.timings ->> 'total_ms')::numeric) into v_median
      from sync.runs r
     where r.mode = 'incremental' and r.status in ('succeeded', 'partial') and (r.summary ->> 'rows')::bigint > 0
       and r.started_at > pg_catalog.now() - interval '7 days' and r.id <> v_run.id;
    select p.key into v_blame
      from jsonb_each_text(coalesce(v_run.timings, '{}')) p
     where p.key <> 'total_ms' and p.key like '%_ms'
     order by p.value::numeric / nullif((select percentile_cont(0.5) within group (order by (r.timings ->> p.key)::numeric)
                                           from sync.runs r where r.mode = 'incremental' and r.status in ('succeeded', 'partial')
                                            and r.started_at > pg_catalog.now() - interval '7 days' and r.id <> v_run.id), 0) desc nulls last
     limit 1;
    v_state := sync._condition(
        (select count(*) from sync.runs r where r.mode = 'incremental' and r.started_at > pg_catalog.now() - interval '7 days') >= 10
            and (v_run.timings ->> 'total_ms')::numeric > v_median * (1 + (t ->> 'slow_run_factor')::numeric),
        'slow_run', 'warning', 'slow_run',
        format('run %s took %s ms, %s× the 7-day median of %s ms; slowest against its median: %s', v_run.id, v_run.timings ->> 'total_ms',
               round((v_run.timings ->> 'total_ms')::numeric / nullif(v_median, 0), 1), round(v_median), coalesce(v_blame, '-')),
        jsonb_build_object('run_id', v_run.id, 'phase', v_blame), 'the last run was not slow');
    v_out := v_out || jsonb_strip_nulls(jsonb_build_object('slow_run', v_state));

    -- Info alerts acknowledge themselves after 30 days.
    update sync.alerts a set acknowledged_at = pg_catalog.now(), acknowledged_by = 'sync (info, 30 days)'
     where a.severity = 'info' and a.acknowledged_at is null and a.created_at < pg_catalog.now() - interval '30 days';
    return v_out;
end;
$$;
comment on function sync.evaluate_alerts() is
    'Evaluates the alert conditions of engine.md §9 (failures, no success, lag, gaps, verification, reseed, parked, quarantine growth, conflicts, slow runs): fires or resolves each. Scheduled every minute.';

create function sync._severity_rank(p_severity text)
returns integer
language sql
immutable
set search_path = ''
as $$
    select case p_severity when 'info' then 1 when 'warning' then 2 when 'critical' then 3 else 0 end;
$$;

-- The text an alert event is told with (no row values: alerts carry none).
create function sync._alert_text(a sync.alerts, p_event text)
returns text
language sql
stable
set search_path = ''
as $$
    select format('[%s] %s%s: %s', a.severity, case when p_event = 'resolved' then 'resolved ' else '' end, a.kind,
                  case when p_event = 'resolved' then coalesce(a.details ->> 'resolved', a.message) else a.message end);
$$;

-- Sends one delivery attempt through net.http_post (when pg_net is there). Returns the request id.
create function sync._send(d sync.alert_deliveries)
returns bigint
language plpgsql
set search_path = ''
as $$
declare
    v_dest jsonb := sync.get_config() #> '{alerts,destinations}';
    v_key text;
    v_id bigint;
begin
    if to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') is null then
        return null;
    end if;
    if d.destination = 'webhook' then
        execute format('select %I.http_post($1, $2, ''{}''::jsonb, $3, 5000)', 'net')
           into v_id using v_dest ->> 'webhook_url', d.body, '{"Content-Type": "application/json"}'::jsonb;
    else
        if to_regclass('vault.decrypted_secrets') is not null then
            execute format('select decrypted_secret from %I.decrypted_secrets where name = $1', 'vault') into v_key using 'sync_email_api_key';
        end if;
        if v_key is null then
            perform sync._raise(409, 'the Vault entry sync_email_api_key is missing');
        end if;
        execute format('select %I.http_post($1, $2, ''{}''::jsonb, $3, 5000)', 'net')
           into v_id using v_dest ->> 'email_api_url', d.body,
                           jsonb_build_object('Content-Type', 'application/json', 'Authorization', 'Bearer ' || v_key);
    end if;
    return v_id;
end;
$$;

-- Queues a message to every configured destination whose minimum severity it reaches.
create function sync._enqueue(p_alert_id bigint, p_event text, p_severity text, p_subject text, p_text text, p_extra jsonb default '{}')
returns integer
language plpgsql
set search_path = ''
as $$
declare
    v_dest jsonb := sync.get_config() #> '{alerts,destinations}';
    v_n integer := 0;
begin
    if v_dest ->> 'webhook_url' is not null
       and (p_event = 'digest' or sync._severity_rank(p_severity) >= sync._severity_rank(v_dest ->> 'webhook_min_severity')) then
        insert into sync.alert_deliveries (alert_id, destination, event, body)
        values (p_alert_id, 'webhook', p_event, jsonb_build_object('text', p_text) || p_extra);
        v_n := v_n + 1;
    end if;
    if v_dest ->> 'email' is not null
       and (p_event = 'digest' or sync._severity_rank(p_severity) >= sync._severity_rank(v_dest ->> 'email_min_severity')) then
        insert into sync.alert_deliveries (alert_id, destination, event, body)
        values (p_alert_id, 'email', p_event,
                jsonb_build_object('from', v_dest ->> 'email_from', 'to', jsonb_build_array(v_dest ->> 'email'),
                                   'subject', p_subject, 'text', p_text));
        v_n := v_n + 1;
    end if;
    return v_n;
end;
$$;

-- Delivers: every alert opened or resolved since it was last told goes to the server log and is
-- queued for its destinations; queued deliveries are sent; sent ones are checked against their
-- net._http_response (2xx: delivered; else retried with backoff, 5 attempts). Never raises for a
-- destination's fault. Returns {queued, sent, delivered, failed}.
create function sync.deliver_alerts()
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    a sync.alerts;
    d sync.alert_deliveries;
    v_event text;
    v_queued integer := 0;
    v_sent integer := 0;
    v_delivered integer := 0;
    v_failed integer := 0;
    v_status integer;
    v_error text;
    v_done boolean;
    v_id bigint;
begin
    for a in select * from sync.alerts x
              where x.notified_at is null or x.resolved_at > x.notified_at
              order by x.id for update skip locked loop
        v_event := case when a.resolved_at is not null then 'resolved' else 'opened' end;
        raise log 'sync alert %', sync._alert_text(a, v_event);
        v_queued := v_queued + sync._enqueue(a.id, v_event, a.severity, 'legacy-sync: ' || sync._alert_text(a, v_event),
                                             sync._alert_text(a, v_event),
                                             jsonb_build_object('alert', jsonb_build_object('id', a.id, 'kind', a.kind, 'severity', a.severity,
                                                                'event', v_event, 'at', coalesce(a.resolved_at, a.created_at))));
        update sync.alerts x set notified_at = pg_catalog.now() where x.id = a.id;
    end loop;

    -- Sent attempts: their answers.
    if to_regclass('net._http_response') is not null then
        for d in select * from sync.alert_deliveries x where x.status = 'sent' order by x.id for update skip locked loop
            v_done := false;
            execute format('select status_code, coalesce(error_msg, case when timed_out then ''timed out'' end), true
                              from %I._http_response where id = $1', 'net')
               into v_status, v_error, v_done using d.request_id;
            continue when not coalesce(v_done, false);
            if v_status between 200 and 299 then
                update sync.alert_deliveries x set status = 'delivered', last_error = null where x.id = d.id;
                v_delivered := v_delivered + 1;
            else
                update sync.alert_deliveries x
                   set status = case when x.attempts >= 5 then 'failed' else 'pending' end,
                       next_at = pg_catalog.now() + make_interval(secs => 15 * 2 ^ (x.attempts - 1)),
                       last_error = coalesce(v_error, format('HTTP %s', v_status))
                 where x.id = d.id;
                v_failed := v_failed + case when d.attempts >= 5 then 1 else 0 end;
            end if;
        end loop;
    end if;

    -- Due attempts.
    for d in select * from sync.alert_deliveries x where x.status = 'pending' and x.next_at <= pg_catalog.now()
              order by x.id for update skip locked loop
        begin
            v_id := sync._send(d);
            if v_id is null then
                update sync.alert_deliveries x set status = 'failed', last_error = 'pg_net is not installed' where x.id = d.id;
                v_failed := v_failed + 1;
            else
                update sync.alert_deliveries x set status = 'sent', request_id = v_id, attempts = x.attempts + 1 where x.id = d.id;
                v_sent := v_sent + 1;
            end if;
        exception when others then
            update sync.alert_deliveries x set status = 'failed', last_error = sqlerrm where x.id = d.id;
            v_failed := v_failed + 1;
        end;
    end loop;
    return jsonb_build_object('queued', v_queued, 'sent', v_sent, 'delivered', v_delivered, 'failed', v_failed);
end;
$$;
comment on function sync.deliver_alerts() is
    'Logs every alert opened or resolved since last told, queues it for the webhook and email destinations its severity reaches, sends due attempts through net.http_post and retries failed ones (5 attempts, backoff). Scheduled every minute.';

-- The daily digest: the last 24 hours in numbers, queued for every configured destination. Returns it.
create function sync.digest()
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v jsonb;
    v_text text;
begin
    with runs as (select * from sync.runs r where r.created_at > pg_catalog.now() - interval '24 hours'),
    moved as (select coalesce(sum(o.value::bigint), 0) as n
                from runs r, jsonb_each(r.counts) e, jsonb_each_text(e.value) o
               where jsonb_typeof(e.value) = 'object' and o.key in ('inserted', 'updated', 'deleted')),
    phases as (select p.key, avg(p.value::numeric) as avg_ms from runs r, jsonb_each_text(r.timings) p
                where p.key like '%_ms' and p.key <> 'total_ms' group by p.key)
    select jsonb_build_object(
        'since', pg_catalog.now() - interval '24 hours',
        'runs', (select coalesce(jsonb_object_agg(s.status, s.n), '{}') from (select r.status, count(*) as n from runs r group by 1) s),
        'rows_moved', (select n from moved),
        'gaps', (select coalesce(sum(coalesce((e.value #>> '{gaps,missing}')::bigint, 0) + coalesce((e.value #>> '{gaps,orphaned}')::bigint, 0)), 0)
                   from (select r.summary from sync.runs r where r.mode = 'verify' and r.status = 'succeeded' order by r.id desc limit 1) v,
                        jsonb_each(v.summary -> 'entities') e),
        'conflicts_open', (select count(*) from sync.conflicts c where c.status = 'open'),
        'quarantined_open', (select count(*) from sync.quarantine q where q.released_at is null),
        -- Grouped by severity, most severe first.
        'alerts_opened', (select jsonb_build_object('critical', count(*) filter (where a.severity = 'critical'),
                                                    'warning', count(*) filter (where a.severity = 'warning'),
                                                    'info', count(*) filter (where a.severity = 'info'))
                            from sync.alerts a where a.created_at > pg_catalog.now() - interval '24 hours'),
        'slowest_phase', (select jsonb_build_object('phase', p.key, 'avg_ms', round(p.avg_ms)) from phases p order by p.avg_ms desc limit 1))
      into v;
    v_text := format('legacy-sync, last 24 h: runs %s; %s rows moved; %s gaps; %s conflicts open; %s quarantined; %s alerts opened; slowest phase %s',
                     v -> 'runs', v -> 'rows_moved', v -> 'gaps', v -> 'conflicts_open', v -> 'quarantined_open',
                     format('%s critical, %s warning, %s info', v #>> '{alerts_opened,critical}', v #>> '{alerts_opened,warning}',
                            v #>> '{alerts_opened,info}'),
                     coalesce(format('%s (%s ms on average)', v #>> '{slowest_phase,phase}', v #>> '{slowest_phase,avg_ms}'), '-'));
    raise log 'sync digest %', v_text;
    perform sync._enqueue(null, 'digest', 'info', 'legacy-sync: daily digest', v_text, jsonb_build_object('digest', v));
    return v;
end;
$$;
comment on function sync.digest() is 'The daily digest (runs, rows moved, gaps, conflicts, quarantine, alerts, slowest phase), logged and queued for the destinations. Returns it.';

-- Retention: deletes what is older than the retention ages (retention.*_days). Returns counts.
create function sync.prune()
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    r jsonb := sync.get_config() -> 'retention';
    v jsonb := '{}';
    v_n bigint;
begin
    -- Inbox rows that are done (their images hold personal data), and the batches left without rows.
    delete from sync.inbox i
     where i.status in ('applied', 'skipped', 'superseded', 'discarded')
       and i.created_at < pg_catalog.now() - make_interval(days => (r ->> 'inbox_days')::integer)
       and not exists (select 1 from sync.quarantine q where q.inbox_id = i.id)
       and not exists (select 1 from sync.conflicts c where c.inbox_id = i.id);
    get diagnostics v_n = row_count;
    v := v || jsonb_build_object('inbox', v_n);
    delete from sync.conflicts c
     where c.status = 'resolved' and c.resolved_at < pg_catalog.now() - make_interval(days => (r ->> 'conflicts_days')::integer);
    get diagnostics v_n = row_count;
    v := v || jsonb_build_object('conflicts', v_n);
    delete from sync.quarantine q
     where q.released_at < pg_catalog.now() - make_interval(days => (r ->> 'inbox_days')::integer)
       and not exists (select 1 from sync.inbox i where i.id = q.inbox_id and i.status = 'quarantined');
    get diagnostics v_n = row_count;
    v := v || jsonb_build_object('quarantine', v_n);
    delete from sync.alerts a
     where (a.acknowledged_at < pg_catalog.now() - make_interval(days => (r ->> 'alerts_days')::integer))
        or (a.resolved_at < pg_catalog.now() - make_interval(days => (r ->> 'alerts_days')::integer));
    get diagnostics v_n = row_count;
    v := v || jsonb_build_object('alerts', v_n);
    delete from sync.alert_deliveries d
     where d.status in ('delivered', 'failed') and d.created_at < pg_catalog.now() - make_interval(days => (r ->> 'alerts_days')::integer);
    delete from sync.audit a where a.at < pg_catalog.now() - make_interval(days => (r ->> 'audit_days')::integer);
    get diagnostics v_n = row_count;
    v := v || jsonb_build_object('audit', v_n);
    delete from sync.config_audit a where a.changed_at < pg_catalog.now() - make_interval(days => (r ->> 'audit_days')::integer);
    -- Empty batches (every idle poll records one: the lag's commit bound reads the last) after a few days.
    delete from sync.batches b
     where b.changes = 0 and b.pulled_at < pg_catalog.now() - make_interval(days => (r ->> 'logs_days')::integer)
       and b.id < (select max(x.id) from sync.batches x)
       and not exists (select 1 from sync.inbox i where i.batch_id = b.id);
    get diagnostics v_n = row_count;
    v := v || jsonb_build_object('empty_batches', v_n);
    -- Runs, except the last of each mode (health and alerts read them), with their batches.
    delete from sync.batches b
     where b.run_id in (select x.id from sync.runs x where x.created_at < pg_catalog.now() - make_interval(days => (r ->> 'runs_days')::integer))
       and not exists (select 1 from sync.inbox i where i.batch_id = b.id);
    delete from sync.runs x
     where x.created_at < pg_catalog.now() - make_interval(days => (r ->> 'runs_days')::integer)
       and x.status not in ('queued', 'running', 'paused')
       and x.id not in (select max(y.id) from sync.runs y group by y.mode)
       and not exists (select 1 from sync.batches b where b.run_id = x.id)
       and not exists (select 1 from sync.applier l where x.id in (l.run_id, l.backfill_run_id));
    get diagnostics v_n = row_count;
    v := v || jsonb_build_object('runs', v_n);
    -- pg_cron's run log and pg_net's responses, where they are.
    if to_regclass('cron.job_run_details') is not null then
        execute format('delete from %I.job_run_details where end_time < now() - make_interval(days => $1)', 'cron')
          using (r ->> 'logs_days')::integer;
        get diagnostics v_n = row_count;
        v := v || jsonb_build_object('cron_job_run_details', v_n);
    end if;
    if to_regclass('net._http_response') is not null then
        execute format('delete from %I._http_response where created < now() - make_interval(days => $1)', 'net')
          using (r ->> 'logs_days')::integer;
        get diagnostics v_n = row_count;
        v := v || jsonb_build_object('net_http_response', v_n);
    end if;
    return v;
end;
$$;
comment on function sync.prune() is
    'Retention: deletes done inbox rows, resolved conflicts, released quarantine rows, acknowledged or resolved alerts, audit rows, old runs and batches, cron.job_run_details and net._http_response older than retention.*_days. Returns counts.';

revoke execute on function sync._condition(boolean, text, text, text, text, jsonb, text), sync.evaluate_alerts(),
    sync._severity_rank(text), sync._alert_text(sync.alerts, text), sync._send(sync.alert_deliveries),
    sync._enqueue(bigint, text, text, text, text, jsonb), sync.deliver_alerts(), sync.digest(), sync.prune() from public;
