-- Entity audit_events ← dispatch_auditlog: the application's own audit trail (who did what to which
-- object), one of the legacy tables the pack did not sync before. The worked example of the README's
-- "Adding an entity": its target table, its transform, its registry row, here; its pgTAP file
-- tests/pgtap/target/entity_audit_events.test.sql; its expectation in sql/oracle/oracle.sql.
--
-- Mapping (mappings.md's general rules apply): profile_id = map user(user_id), NULL stays NULL, a
-- user not mapped yet parks the row; action copied; object_repr blank → NULL; created_at from the
-- legacy row, updated_at = capture time (the table has no updated_at); a source delete soft-deletes.
--
-- The table is optional: a legacy database that fits legacy-schema.md may not have it (an older
-- release of the application). sync.entities.optional says so; connect_source then connects
-- everything else, marks the entity unavailable (sync.entities.available), captures nothing for it,
-- reports it in its result (`unavailable`) and raises a warning alert `entity_unavailable`; the
-- applier, backfill, verification, run control (sync._apply_order) and the oracle leave it out until
-- a connect finds the table again (the alert resolves then). Every other capture mode's connect and
-- pull, and sync.get_bridge_request, are to take `sync.entities where available` likewise.

-- The target table, as the application's tables are (target-schema.md's common columns, RLS on, an
-- index on the foreign key, the legacy id unique). In production the application's team may create
-- it first; this migration then fails on `create table`: create it with exactly these columns.
create table public.audit_events (
    id uuid primary key,
    legacy_auditlog_id bigint unique,
    profile_id uuid references public.profiles (id),
    action text not null,
    object_repr text,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    deleted_at timestamptz
);
create index audit_events_profile_id_idx on public.audit_events (profile_id);
alter table public.audit_events enable row level security;

create function sync.transform_audit_events()
returns setof sync.transformed
language sql
stable
as $$
    select i.work_id,
           case when st.user_id is not null and mu.target_id is null then 'park' else 'write' end,
           case when st.user_id is null or mu.target_id is not null then jsonb_build_object(
               'profile_id', mu.target_id,
               'action', i.image -> 'action',
               'object_repr', nullif(i.image ->> 'object_repr', ''),
               'created_at', i.image -> 'created_at',
               'updated_at', i.captured_at) end,
           case when st.user_id is not null and mu.target_id is null then 'profiles' end,
           case when st.user_id is not null and mu.target_id is null then st.user_id end,
           null::text, null::text, null::jsonb
      from sync.work_in i
     cross join lateral (select (i.image ->> 'user_id')::bigint as user_id offset 0) st
      left join sync.id_map mu on mu.entity = 'profiles' and mu.legacy_id = st.user_id
     where i.op = 'upsert';
$$;
revoke execute on function sync.transform_audit_events() from public;

-- Optional entities (the registry's own flag) and whether the connected source has their table.
alter table sync.entities add column optional boolean not null default false;
alter table sync.entities add column available boolean not null default true;
comment on column sync.entities.optional is
    'The source table may be missing on a legacy database: connect_source then connects the others and marks this entity unavailable.';
comment on column sync.entities.available is
    'Set by connect_source: false while the connected source lacks an optional entity''s table (not captured, applied, backfilled or verified).';

insert into sync.entities (name, source_table, target_table, legacy_id_column, transform, write_columns, depends_on, optional)
values ('audit_events', 'public.dispatch_auditlog', 'public.audit_events', 'legacy_auditlog_id', 'sync.transform_audit_events',
        '{profile_id,action,object_repr,created_at,updated_at}', '{profiles}', true);

-- Entities in apply order (as before: each after everything it depends on), leaving out those the
-- connected source lacks: the applier, backfill, verification and run control all take this list.
create or replace function sync._apply_order()
returns table (name text, depth integer)
language sql
stable
set search_path = ''
as $$
    with recursive walk (name, depth, path) as (
        select e.name, 0, array[e.name] from sync.entities e where e.depends_on = '{}'
        union all
        select e.name, w.depth + 1, w.path || e.name
          from sync.entities e join walk w on w.name = any (e.depends_on)
         where not e.name = any (w.path)
    )
    select w.name, max(w.depth)::integer from walk w
     where exists (select 1 from sync.entities e where e.name = w.name and e.available)
     group by w.name order by max(w.depth), w.name;
$$;

-- The foreign table of an entity's source table; NULL while the source lacks it (unavailable).
create or replace function sync._source_relation(p_entity text)
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
create or replace function sync._import_source(p_mode text default 'trigger')
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

-- The configured mode's checks and setup on a just-imported source, in connect_source's transaction
-- (as before; trigger capture is switched on for the available entities' tables only).
-- Returns {capture_version, identity}. Raises SY400 with what to do when the source is not ready.
create or replace function sync._connect_capture(p_mode text)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_version integer;
    v_identity jsonb;
begin
    if p_mode = 'logical' then
        return sync._connect_logical();
    elsif p_mode = 'polling' then
        return sync._connect_polling();
    end if;
    select version into v_version from sync_src_capture.version;
    if v_version is null then
        perform sync._raise(400, 'capture is not installed on the source; install it: deno task source:install -- <legacy-db-url>');
    elsif v_version < 2 then
        perform sync._raise(400, format('capture on the source is version %s; upgrade it: deno task source:install -- <legacy-db-url>',
                                        v_version));
    end if;
    select identity into v_identity from sync_src_capture.current_snapshot;
    -- Capture the registered tables the source has (the source's own trigger adds the capture triggers).
    insert into sync_src_capture.tables (tbl, enabled, changed_at)
    select source_table, true, now() from sync.entities where available
    on conflict do nothing;
    update sync_src_capture.tables set enabled = true, changed_at = now()
     where not enabled and tbl in (select source_table from sync.entities where available);
    return jsonb_build_object('capture_version', v_version, 'identity', v_identity);
end;
$$;

-- sync.connect_source(conninfo text, password_secret text default null) returns jsonb
-- As before (see 20261127000400_sync_source.sql); its result now counts the tables it captures
-- (`tables`) and names the optional entities whose table the source lacks (`unavailable`).
create or replace function sync.connect_source(conninfo text, password_secret text default null)
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
        select string_agg(format('%I %L', key, value), ', ') into v_server_opts
          from jsonb_each_text(v_opts) where key not in ('user', 'password');
        select string_agg(format('%s=%s', key, value), ' ') into v_redacted
          from jsonb_each_text(v_opts || jsonb_build_object('user', v_user)) where key <> 'password';

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
                                                         from sync.entities where not available));
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
