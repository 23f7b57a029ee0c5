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
               -- (a probe, never a hash of the work set: its rows carry the images)
               'case_id', (select tp.case_id from public.treatment_plans tp where tp.id = mp.target_id), 'treatment_plan_id', mp.target_id, 'sender_id', ma.target_id,
               'message_type', st.kind, 'subject', coalesce(subj.line, ''), 'content', i.image -> 'text',
               'requires_response', st.kind = 'patient_question', 'sent_at', i.image -> 'created_at',
               'metadata', jsonb_build_object('legacy_plan_id', i.image -> 'plan_id', 'legacy_author_id', i.image -> 'author_id'),
               'created_at', i.image -> 'created_at', 'updated_at', i.captured_at) end,
           case when mp.target_id is null then 'treatment_plans' when st.author_id is not null and ma.target_id is null then 'profiles' end,
           case when mp.target_id is null then st.plan_id when st.author_id is not null and ma.target_id is null then st.author_id end,
           null::text, null::text, null::jsonb
      from sync.work_images i
     -- Each value once per row (OFFSET 0 keeps the planner from copying the classification into
     -- both columns that use it): the text of a comment can be a 100 KB document.
     cross join lateral (select v.plan_id, v.author_id,
                                case when strpos(v.lower_text, 'approve') > 0 or strpos(v.lower_text, 'looks good') > 0 then 'doctor_response'
                                     when strpos(v.lower_text, 'question') > 0 or strpos(v.lower_text, '?') > 0 then 'patient_question'
                                     when strpos(v.lower_text, 'treatment') > 0 or strpos(v.lower_text, 'plan') > 0 then 'treatment_update'
                                     else 'clinical_note' end as kind
                           from (select (i.image ->> 'plan_id')::bigint as plan_id, (i.image ->> 'author_id')::bigint as author_id,
                                        sync.ascii_lower(i.image ->> 'text') as lower_text offset 0) v
                         offset 0) st
     -- The first line that is not blank (blank: only spaces, tabs, carriage returns), trimmed, cut to
     -- 80: found from the start of the text without splitting all of it (a document is 100 KB+).
     cross join lateral (select left(rtrim(split_part(ltrim(i.image ->> 'text', E' \t\r\n'), E'\n', 1), E' \t\r'), 80) as line) subj
      left join sync.id_map mp on mp.entity = 'treatment_plans' and mp.legacy_id = st.plan_id
      left join sync.id_map ma on ma.entity = 'profiles' and ma.legacy_id = st.author_id
     where i.op = 'upsert';
$$;
revoke execute on function sync.transform_case_messages() from public;

insert into sync.entities (name, source_table, target_table, legacy_id_column, transform, write_columns, depends_on, derive)
values ('case_messages', 'public.dispatch_comment', 'public.case_messages', 'legacy_comment_id', 'sync.transform_case_messages',
        '{case_id,treatment_plan_id,sender_id,message_type,subject,content,requires_response,sent_at,metadata,created_at,updated_at}',
        '{treatment_plans,profiles}',
        '[{"parent": "treatment_plans", "fk": "treatment_plan_id", "column": "case_id", "parent_column": "case_id"}]');
