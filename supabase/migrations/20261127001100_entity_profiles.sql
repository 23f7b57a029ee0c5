-- Entity profiles ← auth_user (mappings.md). The password hash is never read (source_exclude).
create function sync.transform_profiles()
returns setof sync.transformed
language sql
stable
as $$
    select i.work_id, 'write',
           jsonb_build_object(
               'username', i.image -> 'username',
               'email', nullif(i.image ->> 'email', ''),
               'first_name', nullif(i.image ->> 'first_name', ''),
               'last_name', nullif(i.image ->> 'last_name', ''),
               'full_name', nullif(btrim((i.image ->> 'first_name') || ' ' || (i.image ->> 'last_name'), ' '), ''),
               'role', case when (i.image ->> 'is_superuser')::boolean then 'admin'
                            when (i.image ->> 'is_staff')::boolean then 'staff' else 'user' end,
               'is_active', i.image -> 'is_active',
               'date_joined', i.image -> 'date_joined',
               'last_login', i.image -> 'last_login',
               'created_at', i.image -> 'date_joined',
               'updated_at', i.captured_at),
           null::text, null::bigint, null::text, null::text, null::jsonb
      from sync.work_images i
     where i.op = 'upsert';
$$;
revoke execute on function sync.transform_profiles() from public;

insert into sync.entities (name, source_table, source_exclude, target_table, legacy_id_column, transform,
                           write_columns, depends_on)
values ('profiles', 'public.auth_user', '{password}', 'public.profiles', 'legacy_user_id', 'sync.transform_profiles',
        '{username,email,first_name,last_name,full_name,role,is_active,date_joined,last_login,created_at,updated_at}', '{}');
