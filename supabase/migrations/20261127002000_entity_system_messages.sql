-- Entity system_messages ← dispatch_notification (mappings.md): only send and sent notifications
-- sync (others are skipped, and a synced one that stops qualifying is soft-deleted); the context
-- must be a JSON object ('' is {}), else invalid_json; placeholders rendered in one pass.
create function sync.transform_system_messages()
returns setof sync.transformed
language sql
stable
as $$
    select i.work_id,
           case when not st.qualifies then 'skip'
                when st.context is null then 'quarantine'
                when st.recipient_id is not null and mr.target_id is null then 'park'
                else 'write' end,
           case when st.qualifies and st.context is not null and (st.recipient_id is null or mr.target_id is not null) then jsonb_build_object(
               'recipient_type', case when st.recipient_id is not null then st.kind end,
               'recipient_patient_id', case when st.kind = 'patient' then mr.target_id end,
               'recipient_profile_id', case when st.kind = 'user' then mr.target_id end,
               'message_type', case when strpos(st.lower_name, 'payment_reminder') > 0 then 'billing'
                                    when strpos(st.lower_name, 'appointment_confirmation') > 0 then 'appointment'
                                    when strpos(st.lower_name, 'treatment_update') > 0 then 'clinical'
                                    when strpos(st.lower_name, 'system_maintenance') > 0 then 'system'
                                    when strpos(st.lower_name, 'welcome_message') > 0 then 'onboarding'
                                    else 'general' end,
               'sender', coalesce(nullif(i.image ->> 'sender', ''), 'system'),
               'template_name', i.image -> 'template_name',
               'template_context', st.context,
               'subject', i.image -> 'subject',
               'content', sync.render_placeholders(i.image ->> 'content', st.context),
               'priority', case when strpos(st.lower_name, 'urgent') > 0 then 'high' else 'normal' end,
               'is_urgent', strpos(st.lower_name, 'urgent') > 0,
               'scheduled_at', i.image -> 'send_at', 'sent_at', i.image -> 'sent_at', 'delivery_status', 'delivered',
               'metadata', jsonb_build_object('legacy_sender', i.image -> 'sender', 'legacy_template_name', i.image -> 'template_name',
                                              'original_content_length', char_length(i.image ->> 'content')),
               'created_at', i.image -> 'created_at', 'updated_at', i.captured_at) end,
           case when st.qualifies and st.context is not null and st.recipient_id is not null and mr.target_id is null
                then case st.kind when 'patient' then 'patients' else 'profiles' end end,
           case when st.qualifies and st.context is not null and st.recipient_id is not null and mr.target_id is null then st.recipient_id end,
           case when st.qualifies and st.context is null then 'invalid_json' end,
           case when st.qualifies and st.context is null then
               case when sync.try_jsonb(i.image ->> 'template_context') is null
                    then format('template_context is not valid JSON: %s', left(i.image ->> 'template_context', 200))
                    else format('template_context must be a JSON object, got %s', jsonb_typeof(sync.try_jsonb(i.image ->> 'template_context'))) end end,
           null::jsonb
      from sync.work_images i
     cross join lateral (select (i.image ->> 'send')::boolean and (i.image ->> 'sent')::boolean as qualifies,
                                (i.image ->> 'recipient_id')::bigint as recipient_id,
                                sync.ascii_lower(i.image ->> 'template_name') as lower_name,
                                case when i.image ->> 'template_name' like 'patient\_%' then 'patient' else 'user' end as kind,
                                case when i.image ->> 'template_context' = '' then '{}'::jsonb
                                     else (select j from (select sync.try_jsonb(i.image ->> 'template_context') as j) x
                                            where jsonb_typeof(j) = 'object') end as context offset 0) st
      left join sync.id_map mr on mr.entity = case st.kind when 'patient' then 'patients' else 'profiles' end
                              and mr.legacy_id = st.recipient_id
     where i.op = 'upsert';
$$;
revoke execute on function sync.transform_system_messages() from public;

insert into sync.entities (name, source_table, target_table, legacy_id_column, transform, write_columns, depends_on)
values ('system_messages', 'public.dispatch_notification', 'public.system_messages', 'legacy_notification_id',
        'sync.transform_system_messages',
        '{recipient_type,recipient_patient_id,recipient_profile_id,message_type,sender,template_name,template_context,subject,content,priority,is_urgent,scheduled_at,sent_at,delivery_status,metadata,created_at,updated_at}',
        '{patients,profiles}');
