-- Entity files ← dispatch_file (mappings.md).
create function sync.transform_files()
returns setof sync.transformed
language sql
stable
as $$
    select i.work_id,
           case when st.uploaded_by_id is not null and mu.target_id is null then 'park' else 'write' end,
           case when st.uploaded_by_id is null or mu.target_id is not null then jsonb_build_object(
               'name', i.image -> 'name', 'storage_path', i.image -> 'path', 'size_bytes', i.image -> 'size',
               'mime_type', i.image -> 'mime_type', 'uploaded_by', mu.target_id,
               'created_at', i.image -> 'created_at', 'updated_at', i.captured_at) end,
           case when st.uploaded_by_id is not null and mu.target_id is null then 'profiles' end,
           case when st.uploaded_by_id is not null and mu.target_id is null then st.uploaded_by_id end,
           null::text, null::text, null::jsonb
      from sync.work_images i
     cross join lateral (select (i.image ->> 'uploaded_by_id')::bigint as uploaded_by_id offset 0) st
      left join sync.id_map mu on mu.entity = 'profiles' and mu.legacy_id = st.uploaded_by_id
     where i.op = 'upsert';
$$;
revoke execute on function sync.transform_files() from public;

insert into sync.entities (name, source_table, target_table, legacy_id_column, transform, write_columns, depends_on)
values ('files', 'public.dispatch_file', 'public.files', 'legacy_file_id', 'sync.transform_files',
        '{name,storage_path,size_bytes,mime_type,uploaded_by,created_at,updated_at}', '{profiles}');
