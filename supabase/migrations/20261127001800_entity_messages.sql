-- Entity messages ← dispatch_record (mappings.md): the recipient from Django ContentTypes, by
-- natural key through the content_types lookup (never by id number); any other content type
-- is quarantined (unsupported_content_type).
create function sync.transform_messages()
returns setof sync.transformed
language sql
stable
as $$
    select i.work_id,
           case when ct.id is null then 'park'
                when k.kind is null then 'quarantine'
                when k.target_entity is null then 'park'
                when st.author_id is not null and ma.target_id is null then 'park'
                else 'write' end,
           case when k.target_entity is not null and (st.author_id is null or ma.target_id is not null) then jsonb_build_object(
               'message_type', coalesce(sync.code_label((i.image ->> 'type')::integer,
                                        '{null,null,support,null,clinical_note,notification,null,status_update}'), 'general'),
               'content', i.image -> 'text',
               'sender_id', ma.target_id,
               'recipient_type', k.kind,
               'recipient_patient_id', case when k.kind = 'patient' then k.target_entity end,
               'recipient_profile_id', case when k.kind = 'user' then k.target_entity end,
               'metadata', jsonb_build_object('legacy_type', i.image -> 'type', 'legacy_target_type_id', i.image -> 'target_type_id',
                                              'legacy_group_id', i.image -> 'group_id', 'legacy_public', i.image -> 'public'),
               'created_at', i.image -> 'created_at', 'updated_at', i.captured_at) end,
           case when ct.id is null then 'content_types'
                when k.kind is not null and k.target_entity is null then case k.kind when 'patient' then 'patients' else 'profiles' end
                when k.kind is not null and st.author_id is not null and ma.target_id is null then 'profiles' end,
           case when ct.id is null then st.target_type_id
                when k.kind is not null and k.target_entity is null then st.target_id
                when k.kind is not null and st.author_id is not null and ma.target_id is null then st.author_id end,
           case when ct.id is not null and k.kind is null then 'unsupported_content_type' end,
           case when ct.id is not null and k.kind is null then
               format('messages can target dispatch.patient or auth.user; this record targets %s.%s (content type %s)',
                      ct.app_label, ct.model, st.target_type_id) end,
           case when sync.code_label((i.image ->> 'type')::integer, '{null,null,support,null,clinical_note,notification,null,status_update}') is null
                then jsonb_build_array(jsonb_build_object('column', 'type', 'code', i.image ->> 'type')) end
      from sync.work_images i
     cross join lateral (select (i.image ->> 'target_type_id')::bigint as target_type_id, (i.image ->> 'target_id')::bigint as target_id,
                                (i.image ->> 'author_id')::bigint as author_id offset 0) st
      left join sync.content_types ct on ct.legacy_content_type_id = st.target_type_id and ct.deleted_at is null
      left join lateral (select case when (ct.app_label, ct.model) = ('dispatch', 'patient') then 'patient'
                                     when (ct.app_label, ct.model) = ('auth', 'user') then 'user' end as kind) kk on true
      left join lateral (select kk.kind,
                                (select m.target_id from sync.id_map m
                                  where m.entity = case kk.kind when 'patient' then 'patients' else 'profiles' end
                                    and m.legacy_id = st.target_id) as target_entity
                           -- (once per row: pulled up, the probe was copied into each of its six uses)
                           offset 0) k on true
      left join sync.id_map ma on ma.entity = 'profiles' and ma.legacy_id = st.author_id
     where i.op = 'upsert';
$$;
revoke execute on function sync.transform_messages() from public;

-- A content type renamed or removed (a Django RenameModel migration) changes what its records map
-- to: they are read again (reread) and quarantined, parked or written as their new content type says.
insert into sync.entities (name, source_table, target_table, legacy_id_column, transform, write_columns, depends_on, reread)
values ('messages', 'public.dispatch_record', 'public.messages', 'legacy_record_id', 'sync.transform_messages',
        '{message_type,content,sender_id,recipient_type,recipient_patient_id,recipient_profile_id,metadata,created_at,updated_at}',
        '{content_types,patients,profiles}', '[{"parent": "content_types", "fk": "target_type_id"}]');
