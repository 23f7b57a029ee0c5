-- Entity patients ← dispatch_patient (mappings.md): office required, users optional, both park
-- while unmapped; unknown status codes become 'unknown' and an integrity issue.
create function sync.transform_patients()
returns setof sync.transformed
language sql
stable
as $$
    select i.work_id,
           case when mo.target_id is null or (v.user_id is not null and mu.target_id is null)
                     or (v.doctor_id is not null and md.target_id is null) then 'park' else 'write' end,
           case when mo.target_id is not null then jsonb_build_object(
               'office_id', mo.target_id,
               'profile_id', mu.target_id,
               'doctor_id', md.target_id,
               'patient_number', i.image -> 'patient_number',
               'first_name', i.image -> 'first_name',
               'last_name', i.image -> 'last_name',
               'birthdate', i.image -> 'birthdate',
               'email', nullif(i.image ->> 'email', ''),
               'status', coalesce(s.status, 'unknown'),
               'legacy_status_id', i.image -> 'status_id',
               'medical_notes', i.image -> 'medical_notes',
               'created_at', i.image -> 'created_at',
               'updated_at', i.image -> 'updated_at') end,
           case when mo.target_id is null then 'offices' when v.user_id is not null and mu.target_id is null then 'profiles'
                when v.doctor_id is not null and md.target_id is null then 'profiles' end,
           case when mo.target_id is null then v.office_id when v.user_id is not null and mu.target_id is null then v.user_id
                when v.doctor_id is not null and md.target_id is null then v.doctor_id end,
           null::text, null::text,
           case when s.status is null then jsonb_build_array(jsonb_build_object('column', 'status_id', 'code', i.image ->> 'status_id')) end
      from sync.work_images i
     cross join lateral (select (i.image ->> 'office_id')::bigint as office_id, (i.image ->> 'user_id')::bigint as user_id,
                                (i.image ->> 'doctor_id')::bigint as doctor_id) v
      left join sync.id_map mo on mo.entity = 'offices' and mo.legacy_id = v.office_id
      left join sync.id_map mu on mu.entity = 'profiles' and mu.legacy_id = v.user_id
      left join sync.id_map md on md.entity = 'profiles' and md.legacy_id = v.doctor_id
      left join (values (1, 'lead'), (2, 'active'), (3, 'in_treatment'), (4, 'retention'), (5, 'completed'), (6, 'archived'))
                s (code, status) on s.code = (i.image ->> 'status_id')::integer
     where i.op = 'upsert';
$$;
revoke execute on function sync.transform_patients() from public;

insert into sync.entities (name, source_table, target_table, legacy_id_column, transform, write_columns, depends_on)
values ('patients', 'public.dispatch_patient', 'public.patients', 'legacy_patient_id', 'sync.transform_patients',
        '{office_id,profile_id,doctor_id,patient_number,first_name,last_name,birthdate,email,status,legacy_status_id,medical_notes,created_at,updated_at}',
        '{offices,profiles}');
