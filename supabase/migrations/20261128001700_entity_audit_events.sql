-- Entity audit_events ← dispatch_auditlog: the application's own audit trail (who did what to which
-- object), one of the legacy tables the pack did not sync before. The worked example of the README's
-- "Adding an entity": its target table, its transform, its registry row, here; its pgTAP file
-- tests/pgtap/target/entity_audit_events.test.sql; its expectation in sql/oracle/oracle.sql.
--
-- Mapping (mappings.md's general rules apply): profile_id = map user(user_id), NULL stays NULL, a
-- user not mapped yet parks the row; action copied; object_repr blank → NULL; created_at from the
-- legacy row, updated_at = capture time (the table has no updated_at); a source delete soft-deletes.
--
-- The table is optional (the registry's `optional`): a legacy database that fits legacy-schema.md may
-- not have it (an older release of the application); connect_source then connects everything else and
-- marks this entity unavailable until a connect finds the table.

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
      from sync.work_images i
     cross join lateral (select (i.image ->> 'user_id')::bigint as user_id offset 0) st
      left join sync.id_map mu on mu.entity = 'profiles' and mu.legacy_id = st.user_id
     where i.op = 'upsert';
$$;
revoke execute on function sync.transform_audit_events() from public;

insert into sync.entities (name, source_table, target_table, legacy_id_column, transform, write_columns, depends_on, optional,
                           source_columns)
values ('audit_events', 'public.dispatch_auditlog', 'public.audit_events', 'legacy_auditlog_id', 'sync.transform_audit_events',
        '{profile_id,action,object_repr,created_at,updated_at}', '{profiles}', true, '{user_id,action,object_repr,created_at}');
