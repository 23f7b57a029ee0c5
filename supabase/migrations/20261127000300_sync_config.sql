-- Configuration: defaults, JSON merge patch, validation (SY400 naming the key), audit.

-- Raises an API error: SQLSTATE SY<status>, so the HTTP layer maps it in one place.
create function sync._raise(p_status integer, p_message text, p_detail text default null)
returns void
language plpgsql
set search_path = ''
as $$
begin
    raise exception using errcode = 'SY' || p_status::text, message = p_message, detail = coalesce(p_detail, '');
end;
$$;

create function sync._config_defaults()
returns jsonb
language sql
immutable
set search_path = ''
as $$
    select jsonb_build_object(
        'batch_size', 5000,
        'backfill_batch_size', 20000,
        'tick_budget_seconds', 50,
        'schedule_interval', '1 minute',
        'transport', 'fdw',
        'capture', 'trigger',
        'polling', jsonb_build_object('overlap_seconds', 300, 'reconcile_minutes', 10),
        'auto_repair', true,
        'auto_rebuild_mappings', false,
        'verify_after_run', true,
        'retry', jsonb_build_object('attempts', 5, 'backoff_ms', 200, 'max_backoff_ms', 30000),
        'alerts', jsonb_build_object(
            'thresholds', jsonb_build_object(
                'consecutive_failures', 3, 'no_success_minutes', 30, 'lag_seconds', 60, 'gaps', 5,
                'parked_minutes', 60, 'quarantine_growth', 100, 'conflicts_waiting', 1, 'slow_run_factor', 0.5,
                'slot_retained_mb', 1024),
            'destinations', jsonb_build_object(
                'webhook_url', null, 'webhook_min_severity', 'warning',
                'email', null, 'email_min_severity', 'critical', 'email_from', 'legacy-sync <sync@example.com>',
                'email_api_url', 'https://api.resend.com/emails'),
            'digest_hour_utc', 7),
        'retention', jsonb_build_object('inbox_days', 7, 'runs_days', 90, 'audit_days', 90, 'conflicts_days', 90,
                                        'alerts_days', 90, 'logs_days', 2),
        'quarantine_retry_minutes', jsonb_build_array(5, 15, 60, 240),
        'source_load', jsonb_build_object('max_rows_per_second', null, 'pause_ms', 0),
        'manual_runs_per_minute', 6,
        'entities', '{}'::jsonb);
$$;

-- RFC 7386 JSON merge patch: objects merge recursively, null removes a key, anything else replaces.
create function sync._merge_patch(p_target jsonb, p_patch jsonb)
returns jsonb
language plpgsql
immutable
set search_path = ''
as $$
declare
    v_key text;
    v_value jsonb;
    v_out jsonb := case when jsonb_typeof(p_target) = 'object' then p_target else '{}'::jsonb end;
begin
    if jsonb_typeof(p_patch) is distinct from 'object' then
        return p_patch;
    end if;
    for v_key, v_value in select key, value from jsonb_each(p_patch) loop
        if v_value = 'null'::jsonb then
            v_out := v_out - v_key;
        else
            v_out := jsonb_set(v_out, array[v_key], sync._merge_patch(v_out -> v_key, v_value));
        end if;
    end loop;
    return v_out;
end;
$$;

-- The effective configuration: defaults, then each registered entity's defaults, then what is stored.
create function sync._effective_config(p_settings jsonb)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select sync._merge_patch(
        jsonb_set(sync._config_defaults(), '{entities}',
                  coalesce((select jsonb_object_agg(e.name, jsonb_build_object(
                                'enabled', true, 'conflict_strategy', 'source_wins', 'tie', 'source'))
                              from sync.entities e), '{}'::jsonb)),
        p_settings);
$$;

-- Validates an effective configuration; raises SY400 naming the first bad key.
create function sync._validate_config(p_config jsonb)
returns void
language plpgsql
stable
set search_path = ''
as $$
declare
    v_key text;
    v_value jsonb;
    v_sub text;
    v_subvalue jsonb;
begin
    for v_key, v_value in select key, value from jsonb_each(p_config) loop
        case v_key
        when 'batch_size' then
            if jsonb_typeof(v_value) <> 'number' or v_value::numeric <> trunc(v_value::numeric)
               or v_value::numeric not between 1 and 100000 then
                perform sync._raise(400, format('batch_size must be an integer from 1 to 100000, got %s', v_value));
            end if;
        when 'backfill_batch_size' then
            if jsonb_typeof(v_value) <> 'number' or v_value::numeric <> trunc(v_value::numeric)
               or v_value::numeric not between 100 and 200000 then
                perform sync._raise(400, format('backfill_batch_size must be an integer from 100 to 200000, got %s', v_value));
            end if;
        when 'manual_runs_per_minute' then
            if jsonb_typeof(v_value) <> 'number' or v_value::numeric <> trunc(v_value::numeric)
               or v_value::numeric not between 1 and 600 then
                perform sync._raise(400, format('manual_runs_per_minute must be an integer from 1 to 600, got %s', v_value));
            end if;
        when 'tick_budget_seconds' then
            if jsonb_typeof(v_value) <> 'number' or v_value::numeric <> trunc(v_value::numeric)
               or v_value::numeric not between 1 and 140 then
                perform sync._raise(400, format('tick_budget_seconds must be an integer from 1 to 140 (Edge Function wall clock), got %s', v_value));
            end if;
        when 'schedule_interval' then
            if jsonb_typeof(v_value) <> 'string' or v_value #>> '{}' !~ '^[1-9][0-9]* (second|seconds|minute|minutes)$' then
                perform sync._raise(400, format('schedule_interval must look like ''10 seconds'' or ''1 minute'', got %s', v_value));
            end if;
        when 'transport' then
            if v_value not in ('"fdw"', '"http"') then
                perform sync._raise(400, format('transport must be "fdw" or "http", got %s', v_value));
            end if;
        when 'capture' then
            if v_value not in ('"trigger"', '"logical"', '"polling"') then
                perform sync._raise(400, format('capture must be "trigger", "logical" or "polling", got %s', v_value));
            end if;
        when 'polling' then
            if jsonb_typeof(v_value) <> 'object' then
                perform sync._raise(400, format('polling must be an object, got %s', v_value));
            end if;
            for v_sub, v_subvalue in select key, value from jsonb_each(v_value) loop
                if v_sub not in ('overlap_seconds', 'reconcile_minutes') then
                    perform sync._raise(400, format('unknown configuration key "polling.%s"', v_sub));
                elsif jsonb_typeof(v_subvalue) <> 'number' or v_subvalue::numeric <> trunc(v_subvalue::numeric)
                      or v_sub = 'overlap_seconds' and v_subvalue::numeric not between 0 and 86400
                      or v_sub = 'reconcile_minutes' and v_subvalue::numeric not between 1 and 10080 then
                    perform sync._raise(400, format('polling.%s must be a whole number (overlap_seconds 0 to 86400, reconcile_minutes 1 to 10080), got %s',
                                                    v_sub, v_subvalue));
                end if;
            end loop;
        when 'quarantine_retry_minutes' then
            if jsonb_typeof(v_value) <> 'array' or jsonb_array_length(v_value) > 20
               or exists (select 1 from jsonb_array_elements(v_value) x
                           where jsonb_typeof(x) <> 'number' or x::numeric <> trunc(x::numeric) or x::numeric not between 1 and 525600) then
                perform sync._raise(400, format('quarantine_retry_minutes must be a list of at most 20 whole minutes from 1 to 525600, got %s', v_value));
            end if;
        when 'source_load' then
            if jsonb_typeof(v_value) <> 'object' then
                perform sync._raise(400, format('source_load must be an object, got %s', v_value));
            end if;
            for v_sub, v_subvalue in select key, value from jsonb_each(v_value) loop
                if v_sub not in ('max_rows_per_second', 'pause_ms') then
                    perform sync._raise(400, format('unknown configuration key "source_load.%s"', v_sub));
                elsif v_sub = 'max_rows_per_second' and v_subvalue <> 'null'::jsonb
                      and (jsonb_typeof(v_subvalue) <> 'number' or v_subvalue::numeric < 1) then
                    perform sync._raise(400, format('source_load.max_rows_per_second must be null (unlimited) or a number >= 1, got %s', v_subvalue));
                elsif v_sub = 'pause_ms' and (jsonb_typeof(v_subvalue) <> 'number' or v_subvalue::numeric <> trunc(v_subvalue::numeric)
                                              or v_subvalue::numeric not between 0 and 60000) then
                    perform sync._raise(400, format('source_load.pause_ms must be a whole number of milliseconds from 0 to 60000, got %s', v_subvalue));
                end if;
            end loop;
        when 'verify_after_run' then
            if jsonb_typeof(v_value) <> 'boolean' then
                perform sync._raise(400, format('verify_after_run must be true or false, got %s', v_value));
            end if;
        when 'auto_repair', 'auto_rebuild_mappings' then
            if jsonb_typeof(v_value) <> 'boolean' then
                perform sync._raise(400, format('%s must be true or false, got %s', v_key, v_value));
            end if;
        when 'retry', 'retention', 'alerts' then
            if jsonb_typeof(v_value) <> 'object' then
                perform sync._raise(400, format('%s must be an object, got %s', v_key, v_value));
            end if;
            for v_sub, v_subvalue in select key, value from jsonb_each(v_value) loop
                if v_key = 'retry' and v_sub not in ('attempts', 'backoff_ms', 'max_backoff_ms')
                   or v_key = 'retention' and v_sub not in ('inbox_days', 'runs_days', 'audit_days', 'conflicts_days', 'alerts_days', 'logs_days')
                   or v_key = 'alerts' and v_sub not in ('thresholds', 'destinations', 'digest_hour_utc') then
                    perform sync._raise(400, format('unknown configuration key "%s.%s"', v_key, v_sub));
                end if;
                if v_key in ('retry', 'retention') and (jsonb_typeof(v_subvalue) <> 'number'
                   or v_subvalue::numeric <> trunc(v_subvalue::numeric) or v_subvalue::numeric < 0
                   or v_sub = 'attempts' and v_subvalue::numeric > 20
                   or v_key = 'retention' and v_subvalue::numeric not between 1 and 3650) then
                    perform sync._raise(400, format('%s.%s must be a whole number in range, got %s', v_key, v_sub, v_subvalue));
                end if;
                if v_key = 'alerts' and v_sub = 'digest_hour_utc' then
                    if jsonb_typeof(v_subvalue) <> 'number' or v_subvalue::numeric <> trunc(v_subvalue::numeric)
                       or v_subvalue::numeric not between 0 and 23 then
                        perform sync._raise(400, format('alerts.digest_hour_utc must be an hour from 0 to 23, got %s', v_subvalue));
                    end if;
                elsif v_key = 'alerts' and jsonb_typeof(v_subvalue) <> 'object' then
                    perform sync._raise(400, format('alerts.%s must be an object, got %s', v_sub, v_subvalue));
                end if;
            end loop;
            if v_key = 'retry' and (v_value ->> 'max_backoff_ms')::numeric < (v_value ->> 'backoff_ms')::numeric then
                perform sync._raise(400, 'retry.max_backoff_ms must not be below retry.backoff_ms');
            end if;
            if v_key = 'alerts' then
                for v_sub, v_subvalue in select key, value from jsonb_each(v_value -> 'thresholds') loop
                    if v_sub not in ('consecutive_failures', 'no_success_minutes', 'lag_seconds', 'gaps', 'parked_minutes',
                                     'quarantine_growth', 'conflicts_waiting', 'slow_run_factor', 'slot_retained_mb') then
                        perform sync._raise(400, format('unknown configuration key "alerts.thresholds.%s"', v_sub));
                    end if;
                    if jsonb_typeof(v_subvalue) <> 'number' or v_subvalue::numeric < 0 then
                        perform sync._raise(400, format('alerts.thresholds.%s must be a number >= 0, got %s', v_sub, v_subvalue));
                    end if;
                end loop;
                for v_sub, v_subvalue in select key, value from jsonb_each(v_value -> 'destinations') loop
                    if v_sub not in ('webhook_url', 'webhook_min_severity', 'email', 'email_min_severity', 'email_from',
                                     'email_api_url') then
                        perform sync._raise(400, format('unknown configuration key "alerts.destinations.%s"', v_sub));
                    elsif v_sub like '%_min_severity' then
                        if v_subvalue not in ('"info"', '"warning"', '"critical"') then
                            perform sync._raise(400, format('alerts.destinations.%s must be info, warning or critical, got %s',
                                                            v_sub, v_subvalue));
                        end if;
                    elsif v_subvalue <> 'null'::jsonb and (jsonb_typeof(v_subvalue) <> 'string'
                          or v_sub in ('webhook_url', 'email_api_url') and v_subvalue #>> '{}' !~ '^https?://'
                          or v_sub = 'email' and v_subvalue #>> '{}' !~ '^[^@\s]+@[^@\s]+$'
                          or v_sub = 'email_from' and v_subvalue #>> '{}' !~ '@') then
                        perform sync._raise(400, format('alerts.destinations.%s is not a valid %s: %s', v_sub,
                            case when v_sub like 'email%' and v_sub <> 'email_api_url' then 'email address' else 'http(s) URL' end, v_subvalue));
                    end if;
                end loop;
            end if;
        when 'entities' then
            for v_sub, v_subvalue in select key, value from jsonb_each(v_value) loop
                if not exists (select 1 from sync.entities where name = v_sub) then
                    perform sync._raise(400, format('unknown entity "%s" in entities', v_sub));
                end if;
                if jsonb_typeof(v_subvalue) <> 'object' then
                    perform sync._raise(400, format('entities.%s must be an object', v_sub));
                end if;
                if exists (select 1 from jsonb_object_keys(v_subvalue) k where k not in ('enabled', 'conflict_strategy', 'tie')) then
                    perform sync._raise(400, format('unknown configuration key "entities.%s.%s"', v_sub,
                        (select k from jsonb_object_keys(v_subvalue) k where k not in ('enabled', 'conflict_strategy', 'tie') limit 1)));
                end if;
                if jsonb_typeof(v_subvalue -> 'enabled') <> 'boolean' then
                    perform sync._raise(400, format('entities.%s.enabled must be true or false, got %s', v_sub, v_subvalue -> 'enabled'));
                end if;
                if (v_subvalue -> 'conflict_strategy') not in ('"source_wins"', '"target_wins"', '"merge"', '"newest_wins"', '"manual"') then
                    perform sync._raise(400, format('entities.%s.conflict_strategy must be source_wins, target_wins, merge, newest_wins or manual, got %s',
                        v_sub, v_subvalue -> 'conflict_strategy'));
                end if;
                -- newest_wins compares the legacy row's timestamp (the registry's poll_column) with the
                -- target row's updated_at: only for entities that have both.
                if v_subvalue -> 'conflict_strategy' = '"newest_wins"'
                   and not exists (select 1 from sync.entities e
                                    where e.name = v_sub and e.poll_column is not null and 'updated_at' = any (e.write_columns)) then
                    perform sync._raise(400, format('entities.%s.conflict_strategy newest_wins needs a timestamp on both sides (the legacy row''s updated_at and the target''s); %s has none: use source_wins, target_wins, merge or manual',
                        v_sub, v_sub));
                end if;
                if (v_subvalue -> 'tie') not in ('"source"', '"target"') then
                    perform sync._raise(400, format('entities.%s.tie must be source or target, got %s', v_sub, v_subvalue -> 'tie'));
                end if;
            end loop;
        else
            perform sync._raise(400, format('unknown configuration key "%s"', v_key));
        end case;
    end loop;
end;
$$;

create function sync.get_config()
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
    select sync._effective_config(settings) from sync.config;
$$;
comment on function sync.get_config() is 'Returns the effective configuration (defaults merged with what is set). Read-only.';

create function sync.set_config(patch jsonb, changed_by text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_before jsonb;
    v_stored jsonb;
    v_after jsonb;
    v_who text := sync._caller(changed_by);
    v_scheduled boolean;
begin
    if patch is null or jsonb_typeof(patch) <> 'object' then
        perform sync._raise(400, 'the configuration patch must be a JSON object');
    end if;
    select settings into v_stored from sync.config for update;
    v_before := sync._effective_config(v_stored);
    v_stored := sync._merge_patch(v_stored, patch);
    v_after := sync._effective_config(v_stored);
    perform sync._validate_config(v_after);
    -- The schedule's interval must be one pg_cron can run (engine.md §10), by the scheduler's rule.
    if v_after ->> 'schedule_interval' is distinct from v_before ->> 'schedule_interval' then
        perform sync._cron_schedule(v_after ->> 'schedule_interval',
                                    coalesce((select x.extversion from pg_catalog.pg_extension x where x.extname = 'pg_cron'), '1.5'));
    end if;
    update sync.config set settings = v_stored, updated_at = now(), updated_by = v_who;
    insert into sync.config_audit (patch, before, after, changed_by) values (patch, v_before, v_after, v_who);
    insert into sync.audit (kind, subject, caller, details) values ('config.set', 'config', v_who, jsonb_build_object('patch', patch));
    -- An info alert (engine.md §9) naming the keys and who changed them, never their values (a
    -- destination URL or address is an operator's secret as much as a setting).
    perform sync._alert('config_changed', 'info', 'config_changed',
                        format('configuration changed by %s: %s', v_who,
                               (select string_agg(k, ', ' order by k) from jsonb_object_keys(patch) k)),
                        jsonb_build_object('keys', (select jsonb_agg(k order by k) from jsonb_object_keys(patch) k), 'by', v_who));
    -- A new interval applies to the running schedule at once (sync.schedule records the same value,
    -- which changes nothing more); without a schedule it is what the next sync.schedule() uses.
    if v_after ->> 'schedule_interval' is distinct from v_before ->> 'schedule_interval' and to_regclass('cron.job') is not null then
        execute format('select exists (select 1 from %I.job where jobname = $1)', 'cron') into v_scheduled using 'legacy-sync-tick';
        if v_scheduled then
            perform sync.schedule(v_after ->> 'schedule_interval', v_who);
        end if;
    end if;
    return v_after;
end;
$$;
comment on function sync.set_config(jsonb, text) is
    'Applies a JSON merge patch to the configuration after validating it (SY400 naming the bad key; nothing changes then), audits it, returns the new effective configuration.';

revoke execute on function sync._raise(integer, text, text), sync._config_defaults(), sync._merge_patch(jsonb, jsonb),
    sync._effective_config(jsonb), sync._validate_config(jsonb), sync.get_config(), sync.set_config(jsonb, text) from public;
