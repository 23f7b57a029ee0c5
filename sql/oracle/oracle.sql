-- The exact check: mappings.md restated as plain SQL over the source rows (through the foreign
-- tables that sync.connect_source imports into sync_src), written independently of the transform
-- functions, compared row by row and column by column with the target. Used by every test that
-- claims "the target equals the mapping"; installable on any target: psql -f sql/oracle/oracle.sql.
--
-- oracle.diff(entity default null) returns one row per difference:
--   missing     a row the mapping expects is not in the target (or is soft-deleted)
--   unexpected  a live target row whose legacy row is gone, filtered or quarantined
--   differs     a column whose value is not what the mapping gives
--   id          the target row's id is not the one the id map holds
-- Columns the mapping derives from the capture time (profiles.updated_at) are not compared.

create schema if not exists oracle;

create or replace function oracle.code(p_code integer, p_codes text[], p_fallback text default 'unknown')
returns text language sql immutable
return coalesce(p_codes[p_code], p_fallback);

create or replace function oracle.expected(p_entity text)
returns table (legacy_id bigint, expected jsonb)
language plpgsql stable
as $$
begin
    case p_entity
    when 'profiles' then
        return query
        select u.id::bigint, jsonb_build_object(
                   'username', u.username, 'email', nullif(u.email, ''), 'first_name', nullif(u.first_name, ''),
                   'last_name', nullif(u.last_name, ''),
                   'full_name', nullif(trim(both ' ' from u.first_name || ' ' || u.last_name), ''),
                   'role', case when u.is_superuser then 'admin' when u.is_staff then 'staff' else 'user' end,
                   'is_active', u.is_active, 'date_joined', u.date_joined, 'last_login', u.last_login,
                   'created_at', u.date_joined, 'deleted_at', null)
          from sync_src.auth_user u;
    when 'offices' then
        return query
        select o.id::bigint, jsonb_build_object(
                   'name', o.name, 'phone', nullif(o.phone, ''),
                   'address', nullif(array_to_string(array_remove(array[
                        nullif(o.address, ''), nullif(o.city, ''),
                        nullif(array_to_string(array_remove(array[nullif(o.state, ''), nullif(o.zip_code, '')], null), ' '), '')
                   ], null), ', '), ''),
                   'is_active', o.is_active, 'created_at', o.created_at, 'updated_at', o.updated_at, 'deleted_at', null)
          from sync_src.dispatch_office o;
    when 'patients' then
        return query
        select p.id::bigint, jsonb_build_object(
                   'office_id', (select t.id from public.offices t where t.legacy_office_id = p.office_id),
                   'profile_id', (select t.id from public.profiles t where t.legacy_user_id = p.user_id),
                   'doctor_id', (select t.id from public.profiles t where t.legacy_user_id = p.doctor_id),
                   'patient_number', p.patient_number, 'first_name', p.first_name, 'last_name', p.last_name,
                   'birthdate', p.birthdate, 'email', nullif(p.email, ''),
                   'status', oracle.code(p.status_id, array['lead', 'active', 'in_treatment', 'retention', 'completed', 'archived']),
                   'legacy_status_id', p.status_id, 'medical_notes', p.medical_notes,
                   'created_at', p.created_at, 'updated_at', p.updated_at, 'deleted_at', null)
          from sync_src.dispatch_patient p;
    else
        raise exception 'oracle: no expectation for entity %', p_entity;
    end case;
end;
$$;

create or replace function oracle.diff(p_entity text default null)
returns table (entity text, legacy_id bigint, problem text, column_name text, expected jsonb, actual jsonb)
language plpgsql stable
as $$
declare
    e record;
begin
    for e in select s.name, s.target_table, s.legacy_id_column from sync.entities s
              where (p_entity is null or s.name = p_entity) and s.name <> 'content_types'
                and (p_entity is not null or to_regclass('sync_src.' || split_part(s.source_table, '.', 2)) is not null)
                and s.name in ('profiles', 'offices', 'patients')
              order by s.name
    loop
        return query execute format($q$
            with exp as (select * from oracle.expected($1)),
                 act as (select (to_jsonb(t) ->> %2$L)::bigint as legacy_id, to_jsonb(t) as actual
                           from %1$s t where %2$I is not null and (to_jsonb(t) -> 'deleted_at') in ('null', null)),
                 j as (select coalesce(x.legacy_id, a.legacy_id) as legacy_id, x.expected, a.actual
                         from exp x full join act a on a.legacy_id = x.legacy_id)
            select $1, j.legacy_id, 'missing', null::text, j.expected, null::jsonb from j where j.actual is null
            union all
            select $1, j.legacy_id, 'unexpected', null, null, j.actual from j where j.expected is null
            union all
            select $1, j.legacy_id, 'differs', k.key, k.value, j.actual -> k.key
              from j, jsonb_each(j.expected) k
             where j.actual is not null and j.expected is not null and k.value is distinct from j.actual -> k.key
            union all
            select $1, j.legacy_id, 'id', null, to_jsonb(m.target_id), j.actual -> 'id'
              from j left join sync.id_map m on m.entity = $1 and m.legacy_id = j.legacy_id
             where j.actual is not null and (m.target_id is null or to_jsonb(m.target_id) <> j.actual -> 'id')
            order by 2, 3, 4 $q$, e.target_table, e.legacy_id_column)
        using e.name;
    end loop;
end;
$$;
