-- Scheduling (engine.md §7, api.md): sync.schedule(every) creates the pg_cron job that calls the
-- `sync` Edge Function's POST /sync/tick through net.http_post (pg_net), with the project URL and a
-- secret API key read from Vault at each call (names sync_project_url and sync_secret_key, created
-- by a documented step, never by a migration); sync.unschedule() removes it. A second job cleans
-- cron.job_run_details and net._http_response. Migrations schedule nothing; everything that names
-- cron, net or vault is dynamic SQL, so this applies where they are absent.
-- Errors: SY400 an interval pg_cron cannot run; SY409 pg_cron, pg_net or the Vault entries missing.

-- The pg_cron schedule of an interval: 'N seconds' (pg_cron 1.5+), 'N minute(s)' (N dividing 60).
create function sync._cron_schedule(p_every text, p_cron_version text)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
    v_m text[] := regexp_match(coalesce(p_every, ''), '^\s*([1-9][0-9]*)\s+(second|seconds|minute|minutes)\s*$');
    v_n integer := v_m[1]::integer;
begin
    if v_m is null then
        perform sync._raise(400, format('the schedule must look like ''10 seconds'' or ''1 minute'', got %L', p_every));
    end if;
    if v_m[2] like 'second%' then
        if string_to_array(split_part(p_cron_version, '-', 1), '.')::integer[] < array[1, 5] then
            perform sync._raise(400, format('pg_cron %s takes minutes only (seconds need pg_cron 1.5+, as on hosted Supabase): use ''1 minute''',
                                            p_cron_version));
        end if;
        if v_n > 59 then
            perform sync._raise(400, 'a schedule in seconds must be 1 to 59 seconds; use minutes above that');
        end if;
        return format('%s seconds', v_n);
    end if;
    if 60 % v_n <> 0 then
        perform sync._raise(400, format('a schedule in minutes must divide an hour (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60), got %s', v_n));
    end if;
    return case when v_n = 1 then '* * * * *' when v_n = 60 then '0 * * * *' else format('*/%s * * * *', v_n) end;
end;
$$;

create function sync.schedule(every text default null, caller text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_version text := (select e.extversion from pg_catalog.pg_extension e where e.extname = 'pg_cron');
    v_cron text;
    v_budget integer := (sync.get_config() ->> 'tick_budget_seconds')::integer;
    v_secs integer;
    v_max integer;
    v_command text;
    v_job bigint;
    v_id bigint;
    v_jobs text[];
    v_who text := sync._caller(schedule.caller);
begin
    -- Where pg_cron lives in another database, its version is unknown here: seconds are assumed
    -- possible (pg_cron 1.5+), and the jobs are given to the operator to create there (below).
    -- Without an interval: the configured schedule_interval (default '1 minute').
    every := coalesce(every, sync.get_config() ->> 'schedule_interval');
    v_cron := sync._cron_schedule(every, coalesce(v_version, '1.5'));
    -- The call itself reads the URL and key at run time: rotating them in Vault needs no reschedule.
    -- Up to the Edge Function's wall clock, a tick lasts the whole interval less a second and polls
    -- while idle, so consecutive ticks leave no gap and the lag is a poll, not the interval; longer
    -- intervals run tick_budget_seconds.
    v_secs := case when v_cron like '%seconds' then split_part(v_cron, ' ', 1)::integer
                   when v_cron = '* * * * *' then 60
                   when v_cron = '0 * * * *' then 3600
                   else split_part(split_part(v_cron, ' ', 1), '/', 2)::integer * 60 end;
    v_max := case when v_secs - 1 <= 140 then v_secs - 1 else v_budget end;
    v_command := format($c$select net.http_post(
    url := (select decrypted_secret from vault.decrypted_secrets where name = 'sync_project_url') || '/functions/v1/sync/tick',
    body := '{"max_seconds": %1$s, "idle_seconds": %1$s}'::jsonb,
    headers := jsonb_build_object('Content-Type', 'application/json',
                                  'apikey', (select decrypted_secret from vault.decrypted_secrets where name = 'sync_secret_key')),
    timeout_milliseconds := %2$s)$c$, v_max, (v_max + 15) * 1000);
    -- The jobs: the tick; alerts every minute (evaluated and delivered outside the runs: delivery
    -- never blocks one); retention every hour; the digest and the deep verification once a day.
    v_jobs := array[
        array['legacy-sync-tick', v_cron, v_command],
        array['legacy-sync-alerts', '* * * * *', 'select sync.evaluate_alerts(); select sync.deliver_alerts();'],
        array['legacy-sync-cleanup', '17 * * * *', 'select sync.prune();'],
        array['legacy-sync-daily', format('0 %s * * *', (sync.get_config() #>> '{alerts,digest_hour_utc}')::integer),
              'select sync.digest(); select sync.verify(true, null, ''schedule'', 300);']];
    if v_version is null then
        -- pg_cron lives in another database (cron.database_name): the jobs must run here, so they
        -- are created there with cron.schedule_in_database, by the operator.
        perform sync._raise(409, format('pg_cron is not installed in this database (%s): run the statements of this '
                                        || 'error''s detail in the database where pg_cron lives', current_database()),
                            (select string_agg(format('select cron.schedule_in_database(%L, %L, %L, %L);', v_jobs[i][1],
                                                      v_jobs[i][2], v_jobs[i][3], current_database()), e'\n' order by i)
                               from generate_series(1, array_length(v_jobs, 1)) i));
    end if;
    if to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') is null then
        perform sync._raise(409, 'pg_net (net.http_post) is not installed in this database');
    end if;
    if to_regclass('vault.decrypted_secrets') is null then
        perform sync._raise(409, 'Vault (vault.decrypted_secrets) is not installed in this database');
    end if;
    execute format('select count(*) from %I.decrypted_secrets where name in ($1, $2)', 'vault')
       into v_job using 'sync_project_url', 'sync_secret_key';
    if v_job < 2 then
        perform sync._raise(409, 'the Vault entries sync_project_url and sync_secret_key are missing',
                            'select vault.create_secret(''https://<ref>.supabase.co'', ''sync_project_url''); '
                            || 'select vault.create_secret(''sb_secret_...'', ''sync_secret_key'');');
    end if;
    -- Names of optional extensions go through format(): this compiles, and checks, without them.
    for i in 1..array_length(v_jobs, 1) loop
        execute format('select %I.schedule($1, $2, $3)', 'cron') into v_id using v_jobs[i][1], v_jobs[i][2], v_jobs[i][3];
        if i = 1 then v_job := v_id; end if;
    end loop;
    perform sync.set_config(jsonb_build_object('schedule_interval', every), v_who);
    insert into sync.audit (kind, subject, caller, details)
    values ('schedule.set', 'schedule', v_who, jsonb_build_object('every', every, 'cron', v_cron));
    return jsonb_build_object('job_id', v_job, 'job', 'legacy-sync-tick', 'schedule', v_cron, 'every', every,
                              'tick_seconds', v_max);
end;
$$;
comment on function sync.schedule(text, text) is
    'Creates or replaces the pg_cron job that calls POST /sync/tick through pg_net (URL and key from Vault) every interval, and the alerts, cleanup and daily jobs. Where pg_cron lives in another database, SY409 whose detail holds the cron.schedule_in_database statements to run there. Idempotent. Returns the job.';

create function sync.unschedule(caller text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_removed text[] := '{}';
    v_name text;
begin
    if to_regclass('cron.job') is null then
        return jsonb_build_object('removed', v_removed);
    end if;
    for v_name in execute format('select jobname from %I.job where jobname = any ($1) order by jobname', 'cron')
                  using array['legacy-sync-tick', 'legacy-sync-alerts', 'legacy-sync-cleanup', 'legacy-sync-daily'] loop
        execute format('select %I.unschedule($1)', 'cron') using v_name;
        v_removed := v_removed || v_name;
    end loop;
    insert into sync.audit (kind, subject, caller, details)
    values ('schedule.remove', 'schedule', sync._caller(unschedule.caller), jsonb_build_object('removed', v_removed));
    return jsonb_build_object('removed', v_removed);
end;
$$;
comment on function sync.unschedule(text) is 'Removes the pg_cron jobs that sync.schedule created. Idempotent. Returns the names removed.';

revoke execute on function sync._cron_schedule(text, text), sync.schedule(text, text), sync.unschedule(text) from public;
