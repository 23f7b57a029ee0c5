-- Entity content_types ← django_content_type: the lookup that messages resolve recipients
-- through, by natural key (app_label, model). No application table: rows go to sync.content_types.
create function sync.transform_content_types()
returns setof sync.transformed
language sql
stable
as $$
    select i.work_id, 'write',
           jsonb_build_object('app_label', i.image ->> 'app_label', 'model', i.image ->> 'model',
                              'created_at', i.captured_at, 'updated_at', i.captured_at),
           null::text, null::bigint, null::text, null::text, null::jsonb
      from sync.work_images i
     where i.op = 'upsert';
$$;
revoke execute on function sync.transform_content_types() from public;

insert into sync.entities (name, source_table, target_table, legacy_id_column, transform, write_columns, depends_on)
values ('content_types', 'public.django_content_type', 'sync.content_types', 'legacy_content_type_id',
        'sync.transform_content_types', '{app_label,model,created_at,updated_at}', '{}');
