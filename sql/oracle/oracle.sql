-- The exact check: mappings.md restated as plain SQL over the source rows (through the foreign
-- tables that sync.connect_source imports into sync_src), written independently of the transform
-- functions, compared row by row and column by column with the target. Used by every test that
-- claims "the target equals the mapping"; installable on any target: psql -f sql/oracle/oracle.sql.
--
-- oracle.diff(entity default null) returns one row per difference:
--   missing     a row the mapping expects is not in the target (or is soft-deleted)
--   unexpected  a live target row whose legacy row is gone, filtered or quarantined
--   differs     a column whose value is not what the mapping gives
--   id          the target row's id is not the one the id map holds
--   not_quarantined / wrongly_quarantined  the open quarantine differs from the rows that cannot apply
-- Columns the mapping derives from the capture time (updated_at where the source has none, the
-- content_types lookup's timestamps) are not compared. Which entities: the registry (sync.entities),
-- each with its expectation below; adding an entity adds its `when` branch.
--
-- Foreign keys come from the source side: the expected parent id is the id of the target row
-- whose legacy id column holds the source row's parent legacy id (never the value the engine
-- wrote, never sync.id_map); a parent the target lacks is expected as a text naming it, so a
-- child written with NULL or another parent differs. Derived columns (operations.case_id,
-- case_messages.case_id) follow the source parent's own reference. Whether a row is expected at
-- all follows the source: a child of an existing source row always is. Only a polymorphic
-- recipient (no foreign key in the legacy schema) can be missing from the source; then the row is
-- expected only if the target holds the recipient's row (synced before its source delete, so the
-- engine had it mapped), else the row must be parked, and a row written anyway is unexpected.

-- The foreign tables exist once a source is connected: check bodies at call time.
set check_function_bodies = off;

create schema if not exists oracle;

create or replace function oracle.code(p_code integer, p_codes text[], p_fallback text default 'unknown')
returns text language sql immutable
return coalesce(p_codes[p_code], p_fallback);

-- A JSON object parsed from text, or NULL when the text is not JSON or not an object.
create or replace function oracle.json_object(p text)
returns jsonb language plpgsql immutable as $$
declare
    v jsonb;
begin
    v := p::jsonb;
    return case when jsonb_typeof(v) = 'object' then v end;
exception when others then
    return null;
end;
$$;

-- mappings.md's placeholder rule, written as a left-to-right scan (independent of the engine's
-- regex split): {{, optional spaces, a dotted path of [A-Za-z0-9_]+ keys, optional spaces, }}.
create or replace function oracle.render(p_content text, p_ctx jsonb)
returns text language plpgsql immutable as $$
declare
    v_out text := '';
    v_rest text := p_content;
    v_m text[];
    v_pos integer;
    v_val jsonb;
    v_seg text;
    v_ok boolean;
begin
    loop
        v_m := regexp_match(v_rest, '^(.*?)\{\{( *)([A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*)( *)\}\}', 's');
        exit when v_m is null;
        v_out := v_out || v_m[1];
        v_val := p_ctx;
        v_ok := true;
        foreach v_seg in array string_to_array(v_m[3], '.') loop
            if jsonb_typeof(v_val) is distinct from 'object' or not (v_val ? v_seg) then
                v_ok := false;
                exit;
            end if;
            v_val := v_val -> v_seg;
        end loop;
        if v_ok and jsonb_typeof(v_val) in ('string', 'number', 'boolean') then
            v_out := v_out || (v_val #>> '{}');
        else
            v_out := v_out || '{{' || v_m[2] || v_m[3] || v_m[5] || '}}';
        end if;
        v_pos := char_length(v_m[1]) + char_length('{{' || v_m[2] || v_m[3] || v_m[5] || '}}');
        v_rest := substr(v_rest, v_pos + 1);
    end loop;
    return v_out || v_rest;
end;
$$;

-- The expected value of a reference: JSON null for a NULL legacy reference, else the id of the
-- target row found by legacy id, or, when the target has none, a text naming the missing parent.
create or replace function oracle.ref(p_legacy_id bigint, p_target_id uuid, p_parent text)
returns jsonb language sql immutable
return case when p_legacy_id is null then 'null'::jsonb
            when p_target_id is null then to_jsonb(format('no %s row with legacy id %s in the target', p_parent, p_legacy_id))
            else to_jsonb(p_target_id) end;

create or replace function oracle.expected(p_entity text)
returns table (legacy_id bigint, expected jsonb)
language plpgsql stable
as $$
begin
    case p_entity
    when 'content_types' then
        return query
        select c.id::bigint, jsonb_build_object('app_label', c.app_label, 'model', c.model, 'deleted_at', null)
          from sync_src.django_content_type c;
    when 'profiles' then
        return query
        select u.id::bigint, jsonb_build_object(
                   'username', u.username, 'email', nullif(u.email, ''), 'first_name', nullif(u.first_name, ''),
                   'last_name', nullif(u.last_name, ''),
                   'full_name', nullif(trim(both ' ' from u.first_name || ' ' || u.last_name), ''),
                   'role', case when u.is_superuser then 'admin' when u.is_staff then 'staff' else 'user' end,
                   'is_active', u.is_active, 'date_joined', u.date_joined, 'last_login', u.last_login,
                   'created_at', u.date_joined, 'deleted_at', null)
          from sync_src.auth_user u;
    when 'offices' then
        return query
        select o.id::bigint, jsonb_build_object(
                   'name', o.name, 'phone', nullif(o.phone, ''),
                   'address', nullif(array_to_string(array_remove(array[
                        nullif(o.address, ''), nullif(o.city, ''),
                        nullif(array_to_string(array_remove(array[nullif(o.state, ''), nullif(o.zip_code, '')], null), ' '), '')
                   ], null), ', '), ''),
                   'is_active', o.is_active, 'created_at', o.created_at, 'updated_at', o.updated_at, 'deleted_at', null)
          from sync_src.dispatch_office o;
    when 'patients' then
        return query
        select p.id::bigint, jsonb_build_object(
                   'office_id', oracle.ref(p.office_id, (select t.id from public.offices t where t.legacy_office_id = p.office_id), 'offices'),
                   'profile_id', oracle.ref(p.user_id, (select t.id from public.profiles t where t.legacy_user_id = p.user_id), 'profiles'),
                   'doctor_id', oracle.ref(p.doctor_id, (select t.id from public.profiles t where t.legacy_user_id = p.doctor_id), 'profiles'),
                   'patient_number', p.patient_number, 'first_name', p.first_name, 'last_name', p.last_name,
                   'birthdate', p.birthdate, 'email', nullif(p.email, ''),
                   'status', oracle.code(p.status_id, array['lead', 'active', 'in_treatment', 'retention', 'completed', 'archived']),
                   'legacy_status_id', p.status_id, 'medical_notes', p.medical_notes,
                   'created_at', p.created_at, 'updated_at', p.updated_at, 'deleted_at', null)
          from sync_src.dispatch_patient p;
    when 'cases' then
        return query
        select i.id::bigint, jsonb_build_object(
                   'patient_id', oracle.ref(i.patient_id, (select t.id from public.patients t where t.legacy_patient_id = i.patient_id), 'patients'),
                   'doctor_id', oracle.ref(i.doctor_id, (select t.id from public.profiles t where t.legacy_user_id = i.doctor_id), 'profiles'),
                   'office_id', oracle.ref(i.office_id, (select t.id from public.offices t where t.legacy_office_id = i.office_id), 'offices'),
                   'status', oracle.code(i.status + 1, array['draft', 'submitted', 'in_progress', 'on_hold', 'completed', 'cancelled']),
                   'product', i.product, 'notes', nullif(i.notes, ''), 'submitted_at', i.submitted_at,
                   'created_at', i.created_at, 'updated_at', i.updated_at, 'deleted_at', null)
          from sync_src.dispatch_instruction i;
    when 'treatment_plans' then
        return query
        select p.id::bigint, jsonb_build_object(
                   'case_id', oracle.ref(p.instruction_id, (select t.id from public.cases t where t.legacy_instruction_id = p.instruction_id), 'cases'),
                   'version', p.version, 'status', oracle.code(p.status, array['proposed', 'approved', 'rejected', 'superseded']),
                   'approved_at', p.approved_at, 'created_at', p.created_at, 'updated_at', p.updated_at, 'deleted_at', null)
          from sync_src.dispatch_plan p;
    when 'orders' then
        return query
        select o.id::bigint, jsonb_build_object(
                   'case_id', oracle.ref(o.instruction_id, (select t.id from public.cases t where t.legacy_instruction_id = o.instruction_id), 'cases'),
                   'patient_id', oracle.ref(o.patient_id, (select t.id from public.patients t where t.legacy_patient_id = o.patient_id), 'patients'),
                   'office_id', oracle.ref(o.office_id, (select t.id from public.offices t where t.legacy_office_id = o.office_id), 'offices'),
                   'total', o.total, 'status', oracle.code(o.status, array['pending', 'paid', 'shipped', 'cancelled', 'refunded']),
                   'created_at', o.created_at, 'updated_at', o.updated_at, 'deleted_at', null)
          from sync_src.dispatch_order o;
    when 'operations' then
        -- Rows whose price is not an exact amount are expected in quarantine, not here.
        return query
        select x.id::bigint, jsonb_build_object(
                   'order_id', oracle.ref(x.order_id, (select t.id from public.orders t where t.legacy_order_id = x.order_id), 'orders'),
                   -- the case of that order: the source order's own instruction, by legacy id
                   'case_id', case when x.order_id is null then 'null'::jsonb
                                   when so.id is null then to_jsonb(format('no source order %s', x.order_id))
                                   else oracle.ref(so.instruction_id, (select t.id from public.cases t
                                                                        where t.legacy_instruction_id = so.instruction_id), 'cases') end,
                   'operation_type', oracle.code(x.type, array['payment', 'refund', 'chargeback', 'adjustment'], 'other'),
                   'amount', trim(both ' ' from x.price)::numeric(12, 2), 'made_at', x.made_at,
                   'metadata', jsonb_build_object('sq_order_id', x.sq_order_id, 'sq_payment_id', x.sq_payment_id,
                                                  'sq_refund_id', x.sq_refund_id, 'card_brand', x.card_brand, 'card_bin', x.card_bin,
                                                  'card_last', x.card_last, 'office_card', x.office_card, 'payment_id', x.payment_id),
                   'created_at', x.created_at, 'deleted_at', null)
          from sync_src.dispatch_transaction x
          left join sync_src.dispatch_order so on so.id = x.order_id
         where trim(both ' ' from x.price) ~ '^-?[0-9]+(\.[0-9]{1,2})?$'
           and abs(trim(both ' ' from x.price)::numeric) < 10000000000;
    when 'messages' then
        return query
        select r.id::bigint, jsonb_build_object(
                   'message_type', case r.type when 3 then 'support' when 5 then 'clinical_note' when 6 then 'notification'
                                               when 8 then 'status_update' else 'general' end,
                   'content', r.text,
                   'sender_id', oracle.ref(r.author_id, (select t.id from public.profiles t where t.legacy_user_id = r.author_id), 'profiles'),
                   'recipient_type', k.kind,
                   'recipient_patient_id', case when k.kind = 'patient' then oracle.ref(r.target_id, rcp.id, 'patients') else 'null' end,
                   'recipient_profile_id', case when k.kind = 'user' then oracle.ref(r.target_id, rcu.id, 'profiles') else 'null' end,
                   'metadata', jsonb_build_object('legacy_type', r.type, 'legacy_target_type_id', r.target_type_id,
                                                  'legacy_group_id', r.group_id, 'legacy_public', r.public),
                   'created_at', r.created_at, 'deleted_at', null)
          from sync_src.dispatch_record r
          join sync_src.django_content_type ct on ct.id = r.target_type_id
         cross join lateral (select case when ct.app_label = 'dispatch' and ct.model = 'patient' then 'patient'
                                         when ct.app_label = 'auth' and ct.model = 'user' then 'user' end as kind) k
          left join public.patients rcp on k.kind = 'patient' and rcp.legacy_patient_id = r.target_id
          left join public.profiles rcu on k.kind = 'user' and rcu.legacy_user_id = r.target_id
         -- The recipient exists in the source; or it is gone there, and the target's row shows it
         -- was synced before (a recipient deleted before it was ever synced leaves the record parked).
         where k.kind = 'patient' and (r.target_id in (select sp.id from sync_src.dispatch_patient sp) or rcp.id is not null)
            or k.kind = 'user' and (r.target_id in (select su.id from sync_src.auth_user su) or rcu.id is not null);
    when 'case_messages' then
        return query
        select c.id::bigint, jsonb_build_object(
                   -- the case of that plan: the source plan's own instruction, by legacy id
                   'case_id', case when sp.id is null then to_jsonb(format('no source plan %s', c.plan_id))
                                   else oracle.ref(sp.instruction_id, (select t.id from public.cases t
                                                                        where t.legacy_instruction_id = sp.instruction_id), 'cases') end,
                   'treatment_plan_id', oracle.ref(c.plan_id, (select t.id from public.treatment_plans t where t.legacy_plan_id = c.plan_id),
                                                   'treatment_plans'),
                   'sender_id', oracle.ref(c.author_id, (select t.id from public.profiles t where t.legacy_user_id = c.author_id), 'profiles'),
                   'message_type', k.kind, 'subject', coalesce((
                        select left(trim(both E' \t\r' from l.line), 80)
                          from unnest(string_to_array(c.text, E'\n')) with ordinality l (line, n)
                         where trim(both E' \t\r' from l.line) <> '' order by l.n limit 1), ''),
                   'content', c.text, 'requires_response', k.kind = 'patient_question',
                   'sent_at', c.created_at,
                   'metadata', jsonb_build_object('legacy_plan_id', c.plan_id, 'legacy_author_id', c.author_id),
                   'created_at', c.created_at, 'deleted_at', null)
          from sync_src.dispatch_comment c
          left join sync_src.dispatch_plan sp on sp.id = c.plan_id
          cross join lateral (select translate(c.text, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') as t) lt
          cross join lateral (select case when lt.t like '%approve%' or lt.t like '%looks good%' then 'doctor_response'
                                          when lt.t like '%question%' or lt.t like '%?%' then 'patient_question'
                                          when lt.t like '%treatment%' or lt.t like '%plan%' then 'treatment_update'
                                          else 'clinical_note' end as kind) k;
    when 'system_messages' then
        return query
        select n.id::bigint, jsonb_build_object(
                   'recipient_type', case when n.recipient_id is null then null when n.template_name like 'patient\_%' then 'patient' else 'user' end,
                   'recipient_patient_id', case when n.template_name like 'patient\_%' then oracle.ref(n.recipient_id, rcp.id, 'patients') else 'null' end,
                   'recipient_profile_id', case when n.template_name not like 'patient\_%' then oracle.ref(n.recipient_id, rcu.id, 'profiles') else 'null' end,
                   'message_type', case when lower(n.template_name) like '%payment\_reminder%' then 'billing'
                                        when lower(n.template_name) like '%appointment\_confirmation%' then 'appointment'
                                        when lower(n.template_name) like '%treatment\_update%' then 'clinical'
                                        when lower(n.template_name) like '%system\_maintenance%' then 'system'
                                        when lower(n.template_name) like '%welcome\_message%' then 'onboarding' else 'general' end,
                   'sender', case when n.sender = '' then 'system' else n.sender end,
                   'template_name', n.template_name, 'template_context', ctx.j, 'subject', n.subject,
                   'content', oracle.render(n.content, ctx.j),
                   'priority', case when lower(n.template_name) like '%urgent%' then 'high' else 'normal' end,
                   'is_urgent', lower(n.template_name) like '%urgent%',
                   'scheduled_at', n.send_at, 'sent_at', n.sent_at, 'delivery_status', 'delivered',
                   'metadata', jsonb_build_object('legacy_sender', n.sender, 'legacy_template_name', n.template_name,
                                                  'original_content_length', char_length(n.content)),
                   'created_at', n.created_at, 'deleted_at', null)
          from sync_src.dispatch_notification n
          cross join lateral (select case when n.template_context = '' then '{}'::jsonb else oracle.json_object(n.template_context) end as j) ctx
          left join public.patients rcp on n.template_name like 'patient\_%' and rcp.legacy_patient_id = n.recipient_id
          left join public.profiles rcu on n.template_name not like 'patient\_%' and rcu.legacy_user_id = n.recipient_id
         where n.send and n.sent and ctx.j is not null
           -- as for messages: the recipient exists in the source, or the target shows it was synced
           and (n.recipient_id is null
                or n.template_name like 'patient\_%'
                   and (n.recipient_id in (select sp.id from sync_src.dispatch_patient sp) or rcp.id is not null)
                or n.template_name not like 'patient\_%'
                   and (n.recipient_id in (select su.id from sync_src.auth_user su) or rcu.id is not null));
    when 'files' then
        return query
        select f.id::bigint, jsonb_build_object(
                   'name', f.name, 'storage_path', f.path, 'size_bytes', f.size, 'mime_type', f.mime_type,
                   'uploaded_by', oracle.ref(f.uploaded_by_id, (select t.id from public.profiles t where t.legacy_user_id = f.uploaded_by_id),
                                             'profiles'),
                   'created_at', f.created_at, 'deleted_at', null)
          from sync_src.dispatch_file f;
    when 'case_files' then
        return query
        select l.id::bigint, jsonb_build_object(
                   'file_id', oracle.ref(l.file_id, (select t.id from public.files t where t.legacy_file_id = l.file_id), 'files'),
                   'case_id', oracle.ref(l.instruction_id, (select t.id from public.cases t where t.legacy_instruction_id = l.instruction_id), 'cases'),
                   'created_at', l.created_at)
          from sync_src.dispatch_file_instruction l;
    when 'audit_events' then
        return query
        select a.id::bigint, jsonb_build_object(
                   'profile_id', oracle.ref(a.user_id, (select t.id from public.profiles t where t.legacy_user_id = a.user_id), 'profiles'),
                   'action', a.action, 'object_repr', case when a.object_repr = '' then null else a.object_repr end,
                   'created_at', a.created_at, 'deleted_at', null)
          from sync_src.dispatch_auditlog a;
    else
        raise exception 'oracle: no expectation for entity %', p_entity;
    end case;
end;
$$;

-- Source rows that the mapping cannot apply as they stand, with the reason they must be
-- quarantined under.
create or replace function oracle.expected_quarantine()
returns table (entity text, legacy_id bigint, reason text)
language sql stable
as $$
    select 'operations', x.id::bigint, 'invalid_amount' from sync_src.dispatch_transaction x
     where x.price is null or trim(both ' ' from x.price) !~ '^-?[0-9]+(\.[0-9]{1,2})?$'
        or abs(trim(both ' ' from x.price)::numeric) >= 10000000000
    union all
    select 'messages', r.id, 'unsupported_content_type' from sync_src.dispatch_record r
      join sync_src.django_content_type ct on ct.id = r.target_type_id
     where (ct.app_label, ct.model) not in (('dispatch', 'patient'), ('auth', 'user'))
    union all
    select 'system_messages', n.id, 'invalid_json' from sync_src.dispatch_notification n
     where n.send and n.sent and n.template_context <> '' and oracle.json_object(n.template_context) is null;
$$;

-- Source rows whose current version waits for a recipient the source lacks (and the target never
-- had): they park, as a row waiting for its parent does (engine.md §3).
create or replace function oracle.expected_parked()
returns table (entity text, legacy_id bigint)
language sql stable
as $$
    select 'messages', r.id from sync_src.dispatch_record r
      join sync_src.django_content_type ct on ct.id = r.target_type_id
     where ct.app_label = 'dispatch' and ct.model = 'patient'
       and r.target_id not in (select sp.id from sync_src.dispatch_patient sp)
       and not exists (select 1 from public.patients p where p.legacy_patient_id = r.target_id)
        or ct.app_label = 'auth' and ct.model = 'user'
       and r.target_id not in (select su.id from sync_src.auth_user su)
       and not exists (select 1 from public.profiles p where p.legacy_user_id = r.target_id)
    union all
    select 'system_messages', n.id from sync_src.dispatch_notification n
     where n.send and n.sent and n.recipient_id is not null
       and (n.template_context = '' or oracle.json_object(n.template_context) is not null)
       and case when n.template_name like 'patient\_%'
                then n.recipient_id not in (select sp.id from sync_src.dispatch_patient sp)
                     and not exists (select 1 from public.patients p where p.legacy_patient_id = n.recipient_id)
                else n.recipient_id not in (select su.id from sync_src.auth_user su)
                     and not exists (select 1 from public.profiles p where p.legacy_user_id = n.recipient_id) end;
$$;

create or replace function oracle.diff(p_entity text default null)
returns table (entity text, legacy_id bigint, problem text, column_name text, expected jsonb, actual jsonb)
language plpgsql stable
as $$
declare
    e record;
begin
    return query
    select q.entity, q.legacy_id, 'not_quarantined', q.reason, null::jsonb, null::jsonb
      from oracle.expected_quarantine() q
     where (p_entity is null or q.entity = p_entity)
       and not exists (select 1 from sync.quarantine o where o.entity = q.entity and o.legacy_id = q.legacy_id
                          and o.released_at is null and o.reason = q.reason)
    union all
    select o.entity, o.legacy_id, 'wrongly_quarantined', o.reason, null, null
      from sync.quarantine o
     where o.released_at is null and (p_entity is null or o.entity = p_entity)
       and not exists (select 1 from oracle.expected_quarantine() q where q.entity = o.entity and q.legacy_id = o.legacy_id);
    -- Every registered entity the connected source has (an optional one whose table it lacks is
    -- not synced: nothing to compare).
    for e in select s.name, s.target_table, s.legacy_id_column from sync.entities s
              where (p_entity is null or s.name = p_entity) and s.available
              order by s.name
    loop
        return query execute format($q$
            with exp as (select * from oracle.expected($1)),
                 act as (select (to_jsonb(t) ->> %2$L)::bigint as legacy_id, to_jsonb(t) as actual
                           from %1$s t where %2$I is not null and coalesce(to_jsonb(t) -> 'deleted_at', 'null') = 'null'),
                 j as (select coalesce(x.legacy_id, a.legacy_id) as legacy_id, x.expected, a.actual
                         from exp x full join act a on a.legacy_id = x.legacy_id)
            select $1, j.legacy_id, 'missing', null::text, j.expected, null::jsonb from j where j.actual is null
            union all
            -- A change that cannot apply (quarantined) or waits for its recipient (parked) is not
            -- applied: the row keeps the version that last applied (engine.md §3), whatever it was.
            select $1, j.legacy_id, 'unexpected', null, null, j.actual from j where j.expected is null
               and j.legacy_id not in (select q.legacy_id from oracle.expected_quarantine() q where q.entity = $1
                                       union all
                                       select w.legacy_id from oracle.expected_parked() w where w.entity = $1)
            union all
            select $1, j.legacy_id, 'differs', k.key, k.value, j.actual -> k.key
              from j, jsonb_each(j.expected) k
             where j.actual is not null and j.expected is not null and k.value is distinct from j.actual -> k.key
            union all
            select $1, j.legacy_id, 'id', null, to_jsonb(m.target_id), j.actual -> 'id'
              from j left join sync.id_map m on m.entity = $1 and m.legacy_id = j.legacy_id
             where j.actual is not null and (m.target_id is null or to_jsonb(m.target_id) <> j.actual -> 'id')
            order by 2, 3, 4 $q$, e.target_table, e.legacy_id_column)
        using e.name;
    end loop;
end;
$$;
