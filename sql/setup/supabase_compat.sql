-- Makes a plain PostgreSQL 15+ database behave like a Supabase one for what the product uses.
-- Run by `deno task db:setup` before the migrations. Idempotent. On hosted Supabase none of this
-- runs: the platform already has the roles, the `extensions` schema, pg_net and Vault.
--
-- Creates: roles anon, authenticated, service_role (cluster-wide, nologin); schema extensions
-- with uuid-ossp, pgcrypto, postgres_fdw (and pg_cron where this is cron.database_name); the
-- `net` and `vault` SQL surfaces as local stand-ins when the real extensions are absent.

do $$
declare
    v_role text;
begin
    foreach v_role in array array['anon', 'authenticated', 'service_role'] loop
        if not exists (select 1 from pg_catalog.pg_roles where rolname = v_role) then
            execute format('create role %I nologin noinherit', v_role);
        end if;
    end loop;
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'authenticator') then
        create role authenticator login noinherit;
    end if;
    alter role service_role bypassrls;
end;
$$;

grant anon, authenticated, service_role to authenticator;

create schema if not exists extensions;
grant usage on schema extensions to anon, authenticated, service_role;
grant usage on schema public to anon, authenticated, service_role;

create extension if not exists "uuid-ossp" with schema extensions;
create extension if not exists pgcrypto with schema extensions;
create extension if not exists postgres_fdw with schema extensions;

-- Supabase puts `extensions` on every role's search_path; the database default does the same here.
do $$
begin
    execute format('alter database %I set search_path = "$user", public, extensions', current_database());
end;
$$;

-- pg_cron lives only in the database that cron.database_name names (as on hosted Supabase).
do $$
begin
    if exists (select 1 from pg_catalog.pg_available_extensions where name = 'pg_cron')
       and current_database() = coalesce(current_setting('cron.database_name', true), 'postgres') then
        create extension if not exists pg_cron;
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
