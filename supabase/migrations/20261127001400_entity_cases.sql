-- Entity cases ← dispatch_instruction (mappings.md).
create function sync.transform_cases()
returns setof sync.transformed
language sql
stable
as $$
    select i.work_id,
           case when miss.entity is null then 'write' else 'park' end,
           case when miss.entity is null then jsonb_build_object(
               'patient_id', mp.target_id, 'doctor_id', md.target_id, 'office_id', mo.target_id,
               'status', coalesce(st.label, 'unknown'),
               'product', i.image -> 'product',
               'notes', nullif(i.image ->> 'notes', ''),
               'submitted_at', i.image -> 'submitted_at',
               'created_at', i.image -> 'created_at', 'updated_at', i.image -> 'updated_at') end,
           miss.entity, miss.legacy_id, null::text, null::text,
           case when st.label is null then jsonb_build_array(jsonb_build_object('column', 'status', 'code', i.image ->> 'status')) end
      from sync.work_images i
     cross join lateral (select (i.image ->> 'patient_id')::bigint as patient_id, (i.image ->> 'doctor_id')::bigint as doctor_id,
                                (i.image ->> 'office_id')::bigint as office_id,
                                sync.code_label((i.image ->> 'status')::integer,
                                    '{draft,submitted,in_progress,on_hold,completed,cancelled}', 0) as label offset 0) st
      left join sync.id_map mp on mp.entity = 'patients' and mp.legacy_id = st.patient_id
      left join sync.id_map md on md.entity = 'profiles' and md.legacy_id = st.doctor_id
      left join sync.id_map mo on mo.entity = 'offices' and mo.legacy_id = st.office_id
      left join lateral (select r.entity, r.legacy_id
                           from (values (1, 'patients', st.patient_id, mp.target_id), (2, 'profiles', st.doctor_id, md.target_id),
                                        (3, 'offices', st.office_id, mo.target_id)) r (ord, entity, legacy_id, target_id)
                          where r.legacy_id is not null and r.target_id is null order by r.ord limit 1) miss on true
     where i.op = 'upsert';
$$;
revoke execute on function sync.transform_cases() from public;

insert into sync.entities (name, source_table, target_table, legacy_id_column, transform, write_columns, depends_on)
values ('cases', 'public.dispatch_instruction', 'public.cases', 'legacy_instruction_id', 'sync.transform_cases',
        '{patient_id,doctor_id,office_id,status,product,notes,submitted_at,created_at,updated_at}', '{patients,profiles,offices}');
