-- Entity orders ← dispatch_order (mappings.md): total copied exactly.
create function sync.transform_orders()
returns setof sync.transformed
language sql
stable
as $$
    select i.work_id,
           case when miss.entity is null then 'write' else 'park' end,
           case when miss.entity is null then jsonb_build_object(
               'case_id', mc.target_id, 'patient_id', mp.target_id, 'office_id', mo.target_id,
               'total', i.image -> 'total', 'status', coalesce(st.label, 'unknown'),
               'created_at', i.image -> 'created_at', 'updated_at', i.image -> 'updated_at') end,
           miss.entity, miss.legacy_id, null::text, null::text,
           case when st.label is null then jsonb_build_array(jsonb_build_object('column', 'status', 'code', i.image ->> 'status')) end
      from sync.work_images i
     cross join lateral (select (i.image ->> 'instruction_id')::bigint as instruction_id, (i.image ->> 'patient_id')::bigint as patient_id,
                                (i.image ->> 'office_id')::bigint as office_id,
                                sync.code_label((i.image ->> 'status')::integer, '{pending,paid,shipped,cancelled,refunded}') as label offset 0) st
      left join sync.id_map mc on mc.entity = 'cases' and mc.legacy_id = st.instruction_id
      left join sync.id_map mp on mp.entity = 'patients' and mp.legacy_id = st.patient_id
      left join sync.id_map mo on mo.entity = 'offices' and mo.legacy_id = st.office_id
      left join lateral (select r.entity, r.legacy_id
                           from (values (1, 'patients', st.patient_id, mp.target_id), (2, 'cases', st.instruction_id, mc.target_id),
                                        (3, 'offices', st.office_id, mo.target_id)) r (ord, entity, legacy_id, target_id)
                          where r.legacy_id is not null and r.target_id is null order by r.ord limit 1) miss on true
     where i.op = 'upsert';
$$;
revoke execute on function sync.transform_orders() from public;

insert into sync.entities (name, source_table, target_table, legacy_id_column, transform, write_columns, depends_on)
values ('orders', 'public.dispatch_order', 'public.orders', 'legacy_order_id', 'sync.transform_orders',
        '{case_id,patient_id,office_id,total,status,created_at,updated_at}', '{cases,patients,offices}');
