-- Makes a plain PostgreSQL 15+ database behave like a Supabase one for what the product uses.
-- Run by `deno task db:setup` before the migrations, as a superuser where one is at hand (the
-- platform's part: on hosted Supabase the platform did all of this, and `postgres` is not a
-- superuser). Idempotent: what exists already is left alone, so a second run needs no superuser.
--
-- psql variable `migration_role` (default: current_user): the role the migrations and the engine
-- run as (`postgres`); it gets what hosted Supabase grants `postgres`.
--
-- Creates: roles anon, authenticated, service_role (cluster-wide, nologin), authenticator; schema
-- extensions with uuid-ossp, pgcrypto, postgres_fdw (and pg_cron where this is cron.database_name);
-- the `net` and `vault` SQL surfaces as local stand-ins when the real extensions are absent.
-- Grants the migration role: USAGE on postgres_fdw, USAGE and CREATE on schema extensions, SET
-- session_replication_role, membership in pg_monitor, pg_read_all_data, pg_signal_backend, anon,
-- authenticated and service_role, and the use of cron, net and vault.
--
-- Errors: a step that needs a superuser, run without one, fails with
-- "<step> needs a superuser; on hosted Supabase run supabase db push instead".

\set ON_ERROR_STOP on
\if :{?migration_role}
\else
    select current_user as migration_role \gset
\endif
select set_config('compat.migration_role', :'migration_role', false);

-- Runs one step unless it is done already; names the step when it needs a superuser.
create function pg_temp.step(p_step text, p_done boolean, p_sql text)
returns void
language plpgsql
as $$
begin
    if p_done then
        return;
    end if;
    execute p_sql;
exception when insufficient_privilege then
    raise exception '% needs a superuser; on hosted Supabase run supabase db push instead', p_step
        using detail = sqlerrm,
              hint = 'run db:setup with a superuser URL, or set SYNC_ADMIN_DB_URL to one for this server';
end;
$$;

do $$
declare
    v_role text;
begin
    foreach v_role in array array['anon', 'authenticated', 'service_role'] loop
        perform pg_temp.step(format('create role %I', v_role),
                             exists (select 1 from pg_catalog.pg_roles where rolname = v_role),
                             format('create role %I nologin noinherit', v_role));
    end loop;
    perform pg_temp.step('create role authenticator',
                         exists (select 1 from pg_catalog.pg_roles where rolname = 'authenticator'),
                         'create role authenticator login noinherit');
    perform pg_temp.step('alter role service_role bypassrls',
                         (select rolbypassrls from pg_catalog.pg_roles where rolname = 'service_role'),
                         'alter role service_role bypassrls');
    foreach v_role in array array['anon', 'authenticated', 'service_role'] loop
        perform pg_temp.step(format('grant %I to authenticator', v_role),
                             pg_catalog.pg_has_role('authenticator', v_role, 'member'),
                             format('grant %I to authenticator', v_role));
    end loop;
end;
$$;

create schema if not exists extensions;
do $$
declare
    v_role text;
begin
    foreach v_role in array array['anon', 'authenticated', 'service_role'] loop
        perform pg_temp.step(format('grant usage on schema extensions to %I', v_role),
                             pg_catalog.has_schema_privilege(v_role, 'extensions', 'usage'),
                             format('grant usage on schema extensions to %I', v_role));
        perform pg_temp.step(format('grant usage on schema public to %I', v_role),
                             pg_catalog.has_schema_privilege(v_role, 'public', 'usage'),
                             format('grant usage on schema public to %I', v_role));
    end loop;
end;
$$;

do $$
begin
    perform pg_temp.step('create extension uuid-ossp',
                         exists (select 1 from pg_catalog.pg_extension where extname = 'uuid-ossp'),
                         'create extension if not exists "uuid-ossp" with schema extensions');
    perform pg_temp.step('create extension pgcrypto',
                         exists (select 1 from pg_catalog.pg_extension where extname = 'pgcrypto'),
                         'create extension if not exists pgcrypto with schema extensions');
    perform pg_temp.step('create extension postgres_fdw',
                         exists (select 1 from pg_catalog.pg_extension where extname = 'postgres_fdw'),
                         'create extension if not exists postgres_fdw with schema extensions');
end;
$$;

-- Supabase puts `extensions` on every role's search_path; the database default does the same here.
do $$
begin
    perform pg_temp.step('alter database set search_path', false,
        format('alter database %I set search_path = "$user", public, extensions', current_database()));
end;
$$;

-- pg_cron lives only in the database that cron.database_name names (as on hosted Supabase).
do $$
begin
    if exists (select 1 from pg_catalog.pg_available_extensions where name = 'pg_cron')
       and current_database() = coalesce(current_setting('cron.database_name', true), 'postgres') then
        perform pg_temp.step('create extension pg_cron',
                             exists (select 1 from pg_catalog.pg_extension where extname = 'pg_cron'),
                             'create extension if not exists pg_cron');
    end if;
end;
$$;

-- pg_net stand-in: the same SQL surface (net.http_post, net.http_request_queue,
-- net._http_response), drained by the local stack's worker. Created only when the real
-- extension is neither installed nor installable here.
do $$
begin
    if exists (select 1 from pg_catalog.pg_namespace where nspname = 'net') then
        return;
    end if;
    if exists (select 1 from pg_catalog.pg_available_extensions where name = 'pg_net') then
        create extension if not exists pg_net;
        return;
    end if;
    create schema net;
    create table net.http_request_queue (
        id bigserial primary key,
        method text not null,
        url text not null,
        headers jsonb not null default '{}',
        body bytea,
        timeout_milliseconds integer not null default 5000,
        created timestamptz not null default now()
    );
    create table net._http_response (
        id bigint primary key,
        status_code integer,
        content_type text,
        headers jsonb,
        content text,
        timed_out boolean,
        error_msg text,
        created timestamptz not null default now()
    );
    create function net.http_post(
        url text,
        body jsonb default '{}'::jsonb,
        params jsonb default '{}'::jsonb,
        headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
        timeout_milliseconds integer default 5000
    ) returns bigint
    language sql
    security definer
    set search_path = ''
    as $f$
        insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
        values ('POST', url, headers, convert_to(body::text, 'UTF8'), timeout_milliseconds)
        returning id;
    $f$;
    comment on schema net is 'Local stand-in for pg_net (hosted Supabase uses the real extension).';
end;
$$;

-- Vault stand-in: vault.create_secret and vault.decrypted_secrets, without encryption at rest
-- (the local stack's secrets are throwaway). Hosted Supabase uses supabase_vault.
do $$
begin
    if exists (select 1 from pg_catalog.pg_namespace where nspname = 'vault') then
        return;
    end if;
    if exists (select 1 from pg_catalog.pg_available_extensions where name = 'supabase_vault') then
        create extension if not exists supabase_vault;
        return;
    end if;
    create schema vault;
    revoke all on schema vault from public;
    create table vault.secrets (
        id uuid primary key default extensions.gen_random_uuid(),
        name text unique,
        description text not null default '',
        secret text not null,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now()
    );
    create view vault.decrypted_secrets as
        select id, name, description, secret, secret as decrypted_secret, created_at, updated_at
        from vault.secrets;
    create function vault.create_secret(new_secret text, new_name text default null, new_description text default '')
    returns uuid
    language sql
    security definer
    set search_path = ''
    as $f$
        insert into vault.secrets (secret, name, description)
        values (new_secret, new_name, coalesce(new_description, ''))
        returning id;
    $f$;
    create function vault.update_secret(secret_id uuid, new_secret text default null, new_name text default null,
                                        new_description text default null)
    returns void
    language sql
    as $f$
        update vault.secrets
           set secret = coalesce(new_secret, secret), name = coalesce(new_name, name),
               description = coalesce(new_description, description), updated_at = now()
         where id = secret_id;
    $f$;
    comment on schema vault is 'Local stand-in for Supabase Vault (hosted Supabase uses supabase_vault).';
end;
$$;

-- What hosted Supabase grants `postgres`, given to the migration role (a no-op for a superuser).
do $$
declare
    v_role text := current_setting('compat.migration_role');
    v_granted text;
    v_schema text;
begin
    perform pg_temp.step(format('grant usage on foreign data wrapper postgres_fdw to %I', v_role),
                         pg_catalog.has_foreign_data_wrapper_privilege(v_role, 'postgres_fdw', 'usage'),
                         format('grant usage on foreign data wrapper postgres_fdw to %I', v_role));
    perform pg_temp.step(format('grant usage, create on schema extensions to %I', v_role),
                         pg_catalog.has_schema_privilege(v_role, 'extensions', 'usage')
                             and pg_catalog.has_schema_privilege(v_role, 'extensions', 'create'),
                         format('grant usage, create on schema extensions to %I', v_role));
    perform pg_temp.step(format('grant set on parameter session_replication_role to %I', v_role),
                         pg_catalog.has_parameter_privilege(v_role, 'session_replication_role', 'set'),
                         format('grant set on parameter session_replication_role to %I', v_role));
    foreach v_granted in array array['pg_monitor', 'pg_read_all_data', 'pg_signal_backend',
                                     'anon', 'authenticated', 'service_role'] loop
        perform pg_temp.step(format('grant %I to %I', v_granted, v_role),
                             pg_catalog.pg_has_role(v_role, v_granted, 'member'),
                             format('grant %I to %I', v_granted, v_role));
    end loop;
    -- pg_cron's schedule and run log; the pg_net and Vault surfaces.
    foreach v_schema in array array['cron', 'net', 'vault'] loop
        continue when not exists (select 1 from pg_catalog.pg_namespace where nspname = v_schema);
        perform pg_temp.step(format('grant the use of schema %I to %I', v_schema, v_role),
                             pg_catalog.has_schema_privilege(v_role, v_schema, 'usage')
                                 and not exists (select 1 from pg_catalog.pg_class c
                                                  where c.relnamespace = v_schema::regnamespace and c.relkind in ('r', 'v')
                                                    and not pg_catalog.has_table_privilege(v_role, c.oid,
                                                            case c.relkind when 'r' then 'insert' else 'select' end)),
                             format('grant usage on schema %1$I to %2$I; '
                                    'grant all on all tables in schema %1$I to %2$I; '
                                    'grant all on all sequences in schema %1$I to %2$I; '
                                    'grant execute on all functions in schema %1$I to %2$I', v_schema, v_role));
    end loop;
end;
$$;
