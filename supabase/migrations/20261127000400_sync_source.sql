-- Source connection: FDW server, user mapping, imported source tables.

-- The engine's extensions, created where the migration role may (on hosted Supabase supautils lets
-- `postgres` create them; locally db:setup's compatibility part made them already): postgres_fdw
-- for the transport, uuid-ossp for the target ids (sync_apply on).
create extension if not exists postgres_fdw with schema extensions;
create extension if not exists "uuid-ossp" with schema extensions;

-- Decodes %XX escapes of a URI component (UTF-8).
create function sync._url_decode(p text)
returns text
language sql
immutable
set search_path = ''
as $$
    select convert_from(coalesce(string_agg(case when x.m[1] is not null then decode(x.m[1], 'hex')
                                                 else convert_to(x.m[2], 'UTF8') end, ''::bytea order by x.ord), ''::bytea), 'UTF8')
      from regexp_matches(p, '%([0-9A-Fa-f]{2})|([^%]+|%)', 'g') with ordinality x (m, ord);
$$;

-- Parses a libpq conninfo (key=value or postgres:// URI) into a jsonb object of options.
create function sync._parse_conninfo(p_conninfo text)
returns jsonb
language plpgsql
immutable
set search_path = ''
as $$
declare
    v_out jsonb := '{}';
    v_m text[];
    v_q text;
begin
    if p_conninfo ~* '^postgres(ql)?://' then
        v_m := regexp_match(p_conninfo, '^postgres(?:ql)?://(?:([^:@/]*)(?::([^@/]*))?@)?([^:/?]*)(?::([0-9]+))?(?:/([^?]*))?(?:\?(.*))?$', 'i');
        if v_m is null then
            perform sync._raise(400, 'the source connection string is not a valid postgres:// URI');
        end if;
        v_out := jsonb_strip_nulls(jsonb_build_object(
            'user', nullif(sync._url_decode(coalesce(v_m[1], '')), ''),
            'password', nullif(v_m[2], ''),
            'host', nullif(v_m[3], ''), 'port', v_m[4], 'dbname', nullif(v_m[5], '')));
        if v_out ? 'password' then
            v_out := jsonb_set(v_out, '{password}', to_jsonb(sync._url_decode(v_m[2])));
        end if;
        if v_out ? 'dbname' then
            v_out := jsonb_set(v_out, '{dbname}', to_jsonb(sync._url_decode(v_out ->> 'dbname')));
        end if;
        for v_m in select regexp_matches(coalesce(v_m[6], ''), '([^&=]+)=([^&]*)', 'g') loop
            v_out := v_out || jsonb_build_object(sync._url_decode(v_m[1]), sync._url_decode(v_m[2]));
        end loop;
        return v_out;
    end if;
    for v_m in select regexp_matches(p_conninfo, '([A-Za-z_]+)\s*=\s*(''((?:[^''\\]|\\.)*)''|[^\s'']+)', 'g') loop
        v_q := case when left(v_m[2], 1) = '''' then regexp_replace(v_m[3], '\\(.)', '\1', 'g') else v_m[2] end;
        v_out := v_out || jsonb_build_object(v_m[1], v_q);
    end loop;
    if v_out = '{}' then
        perform sync._raise(400, 'the source connection string has no key=value pairs and is not a postgres:// URI');
    end if;
    return v_out;
end;
$$;

-- The foreign table of an entity's source table; NULL while the source lacks it (unavailable).
create function sync._source_relation(p_entity text)
returns text
language sql
stable
set search_path = ''
as $$
    select format('sync_src.%I', split_part(source_table, '.', 2)) from sync.entities where name = p_entity and available;
$$;

-- Imports the registered source tables (minus excluded columns) and, for the capture modes that
-- install something on the source (trigger, logical), the capture objects they share. A missing
-- table raises SY400, unless its entity is optional: then the entity is marked unavailable and a
-- warning alert says so (resolved by the connect that finds the table).
create function sync._import_source(p_mode text default 'trigger')
returns void
language plpgsql
set search_path = ''
as $$
declare
    v_schema text;
    v_tables text;
    v_entity record;
    v_col text;
begin
    if to_regnamespace('sync_src') is not null then drop schema sync_src cascade; end if;
    if to_regnamespace('sync_src_capture') is not null then drop schema sync_src_capture cascade; end if;
    create schema sync_src;
    create schema sync_src_capture;
    revoke all on schema sync_src, sync_src_capture from public;
    -- One import per source schema (LIMIT TO skips a table the source lacks).
    for v_schema, v_tables in
        select split_part(source_table, '.', 1), string_agg(format('%I', split_part(source_table, '.', 2)), ', ')
          from sync.entities group by 1
    loop
        execute format('import foreign schema %I limit to (%s) from server sync_source into sync_src', v_schema, v_tables);
    end loop;
    -- Per entity: is its table there; the columns never to read (a loop: DDL per foreign table).
    for v_entity in select name, source_table, source_exclude, optional,
                           to_regclass(format('sync_src.%I', split_part(source_table, '.', 2))) is not null as found
                      from sync.entities order by name loop
        if not v_entity.found and not v_entity.optional then
            perform sync._raise(400, format('source table %s of entity %s was not found on the source', v_entity.source_table, v_entity.name));
        end if;
        update sync.entities set available = v_entity.found where name = v_entity.name and available is distinct from v_entity.found;
        if not v_entity.found then
            perform sync._alert('entity_unavailable', 'warning', 'entity_unavailable:' || v_entity.name,
                                format('the source has no table %s: optional entity %s is not synced', v_entity.source_table, v_entity.name),
                                jsonb_build_object('entity', v_entity.name, 'source_table', v_entity.source_table));
            continue;
        end if;
        perform sync._resolve_alert('entity_unavailable:' || v_entity.name, 'the source has the table again');
        -- Columns the target must never see (credential material) are not even read.
        foreach v_col in array v_entity.source_exclude loop
            execute format('alter foreign table %s drop column if exists %I', sync._source_relation(v_entity.name), v_col);
        end loop;
    end loop;
    if p_mode = 'polling' then
        return;  -- nothing is installed on the source
    end if;
    begin
        import foreign schema sync_capture limit to (log, tables, current_snapshot, version)
            from server sync_source into sync_src_capture;
    exception when invalid_schema_name or fdw_schema_not_found then
        perform sync._raise(400, 'capture is not installed on the source; install it: deno task source:install -- <legacy-db-url>');
    end;
end;
$$;

-- sync.connect_source(conninfo text, password_secret text default null) returns jsonb
-- (password_secret: the name of a Vault secret holding the password, for hosted Supabase, where the
-- conninfo then carries none).
-- Creates or replaces the FDW server `sync_source` and its user mapping (for PUBLIC: sync.tick runs
-- as its caller; the server's USAGE stays unpublished) from a libpq conninfo, imports the source
-- tables, checks that capture (version 2 or later) is installed, enables it on the registered
-- tables and records the source's identity the first time (a reconnect keeps the recorded one).
-- Returns {connected: true, source, capture_version, tables}.
-- Never raises once it has the conninfo: the caller's statement holds the password and would be
-- logged with an error. Every failure returns {connected: false, error: {code: SY400, message}} and
-- raises a WARNING with the same message (a warning does not log the statement); the message names
-- host, port, database and user, never the password. A failed call changes nothing (subtransaction).
-- Writes: sync.source; schemas sync_src, sync_src_capture (imported); the source's sync_capture.tables.
create function sync.connect_source(conninfo text, password_secret text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
set client_min_messages = warning
as $$
declare
    v_opts jsonb;
    v_server_opts text;
    v_user text;
    v_redacted text;
    v_mode text;
    v_capture jsonb;
    v_rebaseline bigint;
    v_old_mode text;
    v_result jsonb;
    v_state text;
    v_msg text;
    v_detail text;
    v_password text;
begin
    begin
        v_opts := sync._parse_conninfo(conninfo);
        -- On hosted Supabase the password lives in Vault: read by name here, into the user mapping.
        if connect_source.password_secret is not null then
            if v_opts ? 'password' then
                perform sync._raise(400, 'give the password in the conninfo or in password_secret, not both');
            end if;
            if to_regclass('vault.decrypted_secrets') is null then
                perform sync._raise(400, 'Vault (vault.decrypted_secrets) is not installed in this database');
            end if;
            execute format('select decrypted_secret from %I.decrypted_secrets where name = $1', 'vault')
               into v_password using connect_source.password_secret;
            if v_password is null then
                perform sync._raise(400, format('no Vault secret named %L', connect_source.password_secret));
            end if;
            v_opts := v_opts || jsonb_build_object('password', v_password);
        end if;
        v_user := coalesce(v_opts ->> 'user', session_user);
        select string_agg(format('%s=%s', key, value), ' ') into v_redacted
          from jsonb_each_text(v_opts || jsonb_build_object('user', v_user)) where key <> 'password';
        -- A guest on the live legacy database (engine.md §1): the sync's sessions there give up on a
        -- lock after 2 s and on a statement after 60 s rather than queue behind, or hold up, the
        -- application. Options of the conninfo come after, so an operator can set other values.
        v_opts := v_opts || jsonb_build_object('options', concat_ws(' ', '-c lock_timeout=2s -c statement_timeout=60s',
                                                                      v_opts ->> 'options'));
        select string_agg(format('%I %L', key, value), ', ') into v_server_opts
          from jsonb_each_text(v_opts) where key not in ('user', 'password');

        if exists (select 1 from pg_catalog.pg_foreign_server where srvname = 'sync_source') then
            drop server sync_source cascade;
        end if;
        execute format('create server sync_source foreign data wrapper postgres_fdw options (%s)',
                       coalesce(v_server_opts || ', ', '') || 'fetch_size ''10000'', application_name ''legacy-sync''');
        execute format('create user mapping for public server sync_source options (user %L%s)', v_user,
                       case when v_opts ? 'password' then format(', password %L', v_opts ->> 'password') else '' end);
        v_mode := sync.get_config() ->> 'capture';
        perform sync._import_source(v_mode);
        -- The configured capture mode's own checks and setup on the source: {capture_version, identity}.
        v_capture := sync._connect_capture(v_mode);

        -- The capture mode changed after pulls began: re-baseline (the new mode starts at its own "now").
        select s.capture_mode into v_old_mode from sync.source s where s.capture_mode is distinct from v_mode and s.last_pull_at is not null;
        if v_old_mode is not null then
            v_rebaseline := sync._rebaseline_capture(v_old_mode);
        end if;
        insert into sync.source (server_name, conninfo_redacted, identity, capture_mode)
        values ('sync_source', v_redacted, v_capture -> 'identity', v_mode)
        on conflict (id) do update
            set conninfo_redacted = excluded.conninfo_redacted, connected_at = now(),
                identity = coalesce(sync.source.identity, excluded.identity),
                capture_mode = excluded.capture_mode;
        v_result := jsonb_build_object('connected', true, 'source', v_redacted, 'capture', v_mode,
                                       'capture_version', v_capture -> 'capture_version',
                                       'tables', (select count(*) from sync.entities where available),
                                       'unavailable', (select coalesce(jsonb_agg(name order by name), '[]')
                                                         from sync.entities where not available))
                    || case when v_rebaseline is null then '{}' else jsonb_build_object('rebaseline_run', v_rebaseline) end;
    exception when others then
        get stacked diagnostics v_state = returned_sqlstate, v_msg = message_text, v_detail = pg_exception_detail;
        v_msg := v_msg || coalesce(': ' || nullif(v_detail, ''), '');
        if v_state like '08%' then
            v_msg := 'cannot reach it: ' || v_msg;
        end if;
        if v_redacted is not null then
            v_msg := format('source %s: %s', v_redacted, v_msg);
        end if;
        -- postgres_fdw's messages name host and user, never the password; strip it anyway.
        if coalesce(v_opts ->> 'password', '') <> '' then
            v_msg := replace(v_msg, v_opts ->> 'password', '***');
        end if;
        v_msg := regexp_replace(v_msg, '\s+', ' ', 'g');
        raise warning using message = v_msg, errcode = 'SY400';
        return jsonb_build_object('connected', false, 'error', jsonb_build_object('code', 'SY400', 'message', v_msg));
    end;
    return v_result;
end;
$$;
comment on function sync.connect_source(text, text) is
    'Creates or replaces the FDW server and user mapping for the legacy source, imports its tables, checks that capture v2+ is installed, enables it on the registered tables and records the source identity once. Idempotent. Never raises, never echoes the password: a failure returns {connected: false, error} and changes nothing.';
revoke execute on function sync.connect_source(text, text) from public;
revoke execute on function sync._url_decode(text), sync._parse_conninfo(text), sync._source_relation(text), sync._import_source(text) from public;
