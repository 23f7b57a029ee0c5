-- Entity offices ← dispatch_office (mappings.md): address joins the non-blank parts.
create function sync.transform_offices()
returns setof sync.transformed
language sql
stable
as $$
    select i.work_id, 'write',
           jsonb_build_object(
               'name', i.image -> 'name',
               'phone', nullif(i.image ->> 'phone', ''),
               'address', nullif(concat_ws(', ', nullif(i.image ->> 'address', ''), nullif(i.image ->> 'city', ''),
                                           nullif(concat_ws(' ', nullif(i.image ->> 'state', ''),
                                                            nullif(i.image ->> 'zip_code', '')), '')), ''),
               'is_active', i.image -> 'is_active',
               'created_at', i.image -> 'created_at',
               'updated_at', i.image -> 'updated_at'),
           null::text, null::bigint, null::text, null::text, null::jsonb
      from sync.work_images i
     where i.op = 'upsert';
$$;
revoke execute on function sync.transform_offices() from public;

insert into sync.entities (name, source_table, target_table, legacy_id_column, transform, write_columns, depends_on)
values ('offices', 'public.dispatch_office', 'public.offices', 'legacy_office_id', 'sync.transform_offices',
        '{name,phone,address,is_active,created_at,updated_at}', '{}');
