-- Entity case_files ← dispatch_file_instruction (mappings.md): the fan-in junction; a source
-- delete deletes the link (hard delete; the table has no updated_at or deleted_at).
create function sync.transform_case_files()
returns setof sync.transformed
language sql
stable
as $$
    select i.work_id,
           case when mf.target_id is null or mc.target_id is null then 'park' else 'write' end,
           case when mf.target_id is not null and mc.target_id is not null then jsonb_build_object(
               'file_id', mf.target_id, 'case_id', mc.target_id, 'created_at', i.image -> 'created_at') end,
           case when mf.target_id is null then 'files' when mc.target_id is null then 'cases' end,
           case when mf.target_id is null then st.file_id when mc.target_id is null then st.instruction_id end,
           null::text, null::text, null::jsonb
      from sync.work_images i
     cross join lateral (select (i.image ->> 'file_id')::bigint as file_id, (i.image ->> 'instruction_id')::bigint as instruction_id offset 0) st
      left join sync.id_map mf on mf.entity = 'files' and mf.legacy_id = st.file_id
      left join sync.id_map mc on mc.entity = 'cases' and mc.legacy_id = st.instruction_id
     where i.op = 'upsert';
$$;
revoke execute on function sync.transform_case_files() from public;

insert into sync.entities (name, source_table, target_table, legacy_id_column, transform, write_columns, depends_on,
                           delete_mode, has_updated_at, has_deleted_at)
values ('case_files', 'public.dispatch_file_instruction', 'public.case_files', 'legacy_file_instruction_id',
        'sync.transform_case_files', '{file_id,case_id,created_at}', '{files,cases}', 'hard', false, false);
