-- Entity case_messages ← dispatch_comment (mappings.md): a chain, comment → plan → its case in
-- the target (re-derived when the plan moves); subject and classification from the text.
create function sync.transform_case_messages()
returns setof sync.transformed
language sql
stable
as $$
    select i.work_id,
           case when mp.target_id is null or (st.author_id is not null and ma.target_id is null) then 'park' else 'write' end,
           case when mp.target_id is not null and (st.author_id is null or ma.target_id is not null) then jsonb_build_object(
               'case_id', tp.case_id, 'treatment_plan_id', mp.target_id, 'sender_id', ma.target_id,
               'message_type', c.kind, 'subject', coalesce(subj.line, ''), 'content', i.image -> 'text',
               'requires_response', c.kind = 'patient_question', 'sent_at', i.image -> 'created_at',
               'metadata', jsonb_build_object('legacy_plan_id', i.image -> 'plan_id', 'legacy_author_id', i.image -> 'author_id'),
               'created_at', i.image -> 'created_at', 'updated_at', i.captured_at) end,
           case when mp.target_id is null then 'treatment_plans' when st.author_id is not null and ma.target_id is null then 'profiles' end,
           case when mp.target_id is null then st.plan_id when st.author_id is not null and ma.target_id is null then st.author_id end,
           null::text, null::text, null::jsonb
      from sync.work_in i
     cross join lateral (select (i.image ->> 'plan_id')::bigint as plan_id, (i.image ->> 'author_id')::bigint as author_id,
                                sync.ascii_lower(i.image ->> 'text') as lower_text offset 0) st
     cross join lateral (select case when strpos(st.lower_text, 'approve') > 0 or strpos(st.lower_text, 'looks good') > 0 then 'doctor_response'
                                     when strpos(st.lower_text, 'question') > 0 or strpos(st.lower_text, '?') > 0 then 'patient_question'
                                     when strpos(st.lower_text, 'treatment') > 0 or strpos(st.lower_text, 'plan') > 0 then 'treatment_update'
                                     else 'clinical_note' end as kind) c
      left join lateral (select left(btrim(l.line, E' \t\r'), 80) as line
                           from unnest(string_to_array(i.image ->> 'text', E'\n')) with ordinality l (line, n)
                          where btrim(l.line, E' \t\r') <> '' order by l.n limit 1) subj on true
      left join sync.id_map mp on mp.entity = 'treatment_plans' and mp.legacy_id = st.plan_id
      left join public.treatment_plans tp on tp.id = mp.target_id
      left join sync.id_map ma on ma.entity = 'profiles' and ma.legacy_id = st.author_id
     where i.op = 'upsert';
$$;
revoke execute on function sync.transform_case_messages() from public;

insert into sync.entities (name, source_table, target_table, legacy_id_column, transform, write_columns, depends_on, derive)
values ('case_messages', 'public.dispatch_comment', 'public.case_messages', 'legacy_comment_id', 'sync.transform_case_messages',
        '{case_id,treatment_plan_id,sender_id,message_type,subject,content,requires_response,sent_at,metadata,created_at,updated_at}',
        '{treatment_plans,profiles}',
        '[{"parent": "treatment_plans", "fk": "treatment_plan_id", "column": "case_id", "parent_column": "case_id"}]');
