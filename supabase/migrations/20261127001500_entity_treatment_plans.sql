-- Entity treatment_plans ← dispatch_plan (mappings.md).
create function sync.transform_treatment_plans()
returns setof sync.transformed
language sql
stable
as $$
    select i.work_id,
           case when mc.target_id is null then 'park' else 'write' end,
           case when mc.target_id is not null then jsonb_build_object(
               'case_id', mc.target_id, 'version', i.image -> 'version',
               'status', coalesce(st.label, 'unknown'), 'approved_at', i.image -> 'approved_at',
               'created_at', i.image -> 'created_at', 'updated_at', i.image -> 'updated_at') end,
           case when mc.target_id is null then 'cases' end,
           case when mc.target_id is null then st.instruction_id end,
           null::text, null::text,
           case when st.label is null then jsonb_build_array(jsonb_build_object('column', 'status', 'code', i.image ->> 'status')) end
      from sync.work_images i
     cross join lateral (select (i.image ->> 'instruction_id')::bigint as instruction_id,
                                sync.code_label((i.image ->> 'status')::integer, '{proposed,approved,rejected,superseded}') as label offset 0) st
      left join sync.id_map mc on mc.entity = 'cases' and mc.legacy_id = st.instruction_id
     where i.op = 'upsert';
$$;
revoke execute on function sync.transform_treatment_plans() from public;

insert into sync.entities (name, source_table, target_table, legacy_id_column, transform, write_columns, depends_on)
values ('treatment_plans', 'public.dispatch_plan', 'public.treatment_plans', 'legacy_plan_id', 'sync.transform_treatment_plans',
        '{case_id,version,status,approved_at,created_at,updated_at}', '{cases}');
