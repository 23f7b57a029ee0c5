-- Demo data generator for the legacy database: deterministic from a seed, scaled by one factor,
-- set-based (one insert ... select per table). Installs schema demo_gen on the legacy database;
-- it is the demo's and the tests' tool, not part of the product.
--
-- demo_gen.generate(scale, seed) empties the synced tables and fills them; scale 1 is about
-- 2.5M rows. Every awkward case of legacy-schema.md appears at any scale (fixed id patterns):
-- '' in optional text, unicode and emoji, text over 100 kB, NULL foreign keys, records whose
-- content type is neither patient nor user, invalid or empty JSON, placeholders with no value,
-- unknown codes, prices that do not parse, references to deleted parents, Django cascades.

create schema if not exists demo_gen;

-- A deterministic pseudo-random integer in 1..n for (i, salt).
create or replace function demo_gen.rnd(p_i bigint, p_salt bigint, p_n bigint)
returns bigint
language sql
immutable parallel safe
return 1 + (hashint8extended(p_i, p_salt) & 9223372036854775807) % greatest(p_n, 1);

-- A deterministic element of an array for (i, salt).
create or replace function demo_gen.pick(p_i bigint, p_salt bigint, p_items text[])
returns text
language sql
immutable parallel safe
return p_items[demo_gen.rnd(p_i, p_salt, cardinality(p_items))];

-- A deterministic timestamp between 2019-01-01 and about 2025-06 for (i, salt).
create or replace function demo_gen.ts(p_i bigint, p_salt bigint)
returns timestamptz
language sql
immutable parallel safe
return timestamptz '2019-01-01 00:00:00+00' + make_interval(secs => demo_gen.rnd(p_i, p_salt, 200000000));

create or replace function demo_gen.first_names()
returns text[]
language sql
immutable
return array['Ana', 'José', 'Zoë', 'Łukasz', 'Søren', '李', 'Renée', 'Oğuz', 'Ana María', 'Jean-Luc',
             'O''Brien', 'Mary', 'John', 'Fatima', 'Björk', 'Дмитрий', 'Ayşe', '😀 Sunny', 'Chloé', 'Nguyễn'];

create or replace function demo_gen.last_names()
returns text[]
language sql
immutable
return array['Smith', 'García', 'Müller', 'Kowalski', 'Østergaard', '王', 'Dubois', 'Yılmaz', 'Núñez',
             'Brown', 'Ivanova', 'Nakamura 中村', 'Lee', 'Patel', 'Rossi', 'Ó Súilleabháin', 'Khan 🦷', 'Silva'];

-- Deletes patients the way Django's on_delete=CASCADE does: children first, in the caller's
-- transaction. Records and notifications that point at a patient have no foreign key and stay.
create or replace function demo_gen.delete_patients(p_ids integer[])
returns integer
language plpgsql
as $$
declare
    v_rows integer;
begin
    delete from public.dispatch_comment c using public.dispatch_plan p, public.dispatch_instruction i
     where c.plan_id = p.id and p.instruction_id = i.id and i.patient_id = any (p_ids);
    delete from public.dispatch_plan p using public.dispatch_instruction i
     where p.instruction_id = i.id and i.patient_id = any (p_ids);
    delete from public.dispatch_file_instruction f using public.dispatch_instruction i
     where f.instruction_id = i.id and i.patient_id = any (p_ids);
    delete from public.dispatch_transaction t using public.dispatch_order o
     where t.order_id = o.id
       and (o.patient_id = any (p_ids)
            or o.instruction_id in (select id from public.dispatch_instruction where patient_id = any (p_ids)));
    delete from public.dispatch_order o
     where o.patient_id = any (p_ids)
        or o.instruction_id in (select id from public.dispatch_instruction where patient_id = any (p_ids));
    delete from public.dispatch_instruction where patient_id = any (p_ids);
    delete from public.dispatch_patient where id = any (p_ids);
    get diagnostics v_rows = row_count;
    return v_rows;
end;
$$;

-- Deletes instructions with their plans, comments, file links, orders and transactions.
create or replace function demo_gen.delete_instructions(p_ids integer[])
returns integer
language plpgsql
as $$
declare
    v_rows integer;
begin
    delete from public.dispatch_comment c using public.dispatch_plan p
     where c.plan_id = p.id and p.instruction_id = any (p_ids);
    delete from public.dispatch_plan where instruction_id = any (p_ids);
    delete from public.dispatch_file_instruction where instruction_id = any (p_ids);
    delete from public.dispatch_transaction t using public.dispatch_order o
     where t.order_id = o.id and o.instruction_id = any (p_ids);
    delete from public.dispatch_order where instruction_id = any (p_ids);
    delete from public.dispatch_instruction where id = any (p_ids);
    get diagnostics v_rows = row_count;
    return v_rows;
end;
$$;

-- The generated tables of schema public (those with a serial id), in name order; a table the
-- database lacks (an optional one) is simply not there.
create or replace function demo_gen.tables()
returns text[]
language sql
stable
return array(select c.relname::text from pg_catalog.pg_class c
                join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attname = 'id' and not a.attisdropped
                join pg_catalog.pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
              where c.relnamespace = 'public'::regnamespace and c.relkind = 'r'
                and pg_catalog.pg_get_expr(d.adbin, d.adrelid) like 'nextval(%'
              order by c.relname);

-- The row count a table gets at a scale: round(base * scale), at least 2.
create or replace function demo_gen.count_for(p_base bigint, p_scale numeric)
returns bigint
language sql
immutable
return greatest(2, round(p_base * p_scale))::bigint;

create or replace function demo_gen.generate(p_scale numeric default 0.01, p_seed integer default 42)
returns table (table_name text, row_count bigint)
language plpgsql
as $$
declare
    s bigint := p_seed::bigint * 1000;
    n_off bigint := demo_gen.count_for(200, p_scale);
    n_usr bigint := demo_gen.count_for(20000, p_scale);
    n_pat bigint := demo_gen.count_for(100000, p_scale);
    n_ins bigint := demo_gen.count_for(150000, p_scale);
    n_pln bigint := demo_gen.count_for(300000, p_scale);
    n_com bigint := demo_gen.count_for(600000, p_scale);
    n_rec bigint := demo_gen.count_for(400000, p_scale);
    n_not bigint := demo_gen.count_for(300000, p_scale);
    n_fil bigint := demo_gen.count_for(100000, p_scale);
    n_lnk bigint := demo_gen.count_for(150000, p_scale);
    n_ord bigint := demo_gen.count_for(150000, p_scale);
    n_trx bigint := demo_gen.count_for(200000, p_scale);
    n_aud bigint := demo_gen.count_for(50000, p_scale);
    v_ct_patient integer;
    v_ct_user integer;
    v_ct_other integer[];
    v_long text := repeat('Lorem ipsum dolor sit amet, ¿qué tal? 🦷 ', 3000);
    v_fn text[] := demo_gen.first_names();
    v_ln text[] := demo_gen.last_names();
begin
    set local session_replication_role = replica;  -- consistent by construction: skip per-row FK checks
    truncate public.dispatch_transaction, public.dispatch_order, public.dispatch_file_instruction,
             public.dispatch_file, public.dispatch_notification, public.dispatch_record,
             public.dispatch_comment, public.dispatch_plan, public.dispatch_instruction,
             public.dispatch_patient, public.dispatch_office, public.django_admin_log,
             public.dispatch_auditlog, public.auth_user, public.auth_group, public.django_session,
             public.django_migrations, public.django_content_type
             restart identity;

    -- Content types: the same natural keys, ids that depend on the seed.
    perform setval('public.django_content_type_id_seq', demo_gen.rnd(p_seed, 1, 40), false);
    insert into public.django_content_type (app_label, model)
    select a, m
      from unnest(array['admin', 'auth', 'auth', 'auth', 'contenttypes', 'sessions', 'dispatch', 'dispatch',
                        'dispatch', 'dispatch', 'dispatch', 'dispatch', 'dispatch', 'dispatch', 'dispatch',
                        'dispatch', 'dispatch', 'reports', 'reports', 'billing'],
                  array['logentry', 'permission', 'group', 'user', 'contenttype', 'session', 'office', 'patient',
                        'instruction', 'plan', 'comment', 'record', 'notification', 'file', 'fileinstruction',
                        'order', 'transaction', 'report', 'schedule', 'invoice']) as t(a, m)
     order by hashtext(a || '.' || m || p_seed::text);
    select id into v_ct_patient from public.django_content_type where app_label = 'dispatch' and model = 'patient';
    select id into v_ct_user from public.django_content_type where app_label = 'auth' and model = 'user';
    select array_agg(id order by id) into v_ct_other from public.django_content_type
     where (app_label, model) in (('dispatch', 'instruction'), ('dispatch', 'office'), ('reports', 'report'));

    insert into public.django_migrations (app, name, applied)
    select a, n, timestamptz '2018-06-01 00:00:00+00' + make_interval(days => i::integer)
      from unnest(array['contenttypes', 'auth', 'admin', 'sessions', 'dispatch', 'dispatch'],
                  array['0001_initial', '0001_initial', '0001_initial', '0001_initial', '0001_initial',
                        '0042_transaction_price_text']) with ordinality as t(a, n, i);
    insert into public.auth_group (name) values ('doctors'), ('office staff'), ('billing');

    insert into public.auth_user (password, last_login, is_superuser, username, first_name, last_name, email,
                                  is_staff, is_active, date_joined)
    select 'pbkdf2_sha256$600000$' || md5(g::text || s) || '$' || md5(s::text || g),
           case when g % 5 = 0 then null else demo_gen.ts(g, s + 2) end,
           g % 500 = 1,
           'user' || g,
           case when g % 19 = 0 then '' when g % 41 = 0 then ' ' || v_fn[demo_gen.rnd(g, s + 3, 20)] || ' '
                else v_fn[demo_gen.rnd(g, s + 3, 20)] end,
           case when g % 23 = 0 then '' else v_ln[demo_gen.rnd(g, s + 4, 18)] end,
           case when g % 10 = 0 then '' else 'user' || g || '@example.com' end,
           g % 20 = 1,
           g % 25 <> 0,
           demo_gen.ts(g, s + 5)
      from generate_series(1, n_usr) g;

    insert into public.dispatch_office (name, phone, address, city, state, zip_code, is_active, created_at, updated_at)
    select case when g % 3 = 2 then 'Clínica Dental São Paulo ' || g else 'Smile Office ' || g end,
           case when g % 5 = 2 then '' else '+1 555 ' || lpad((g % 10000)::text, 4, '0') end,
           case when g % 4 = 2 then '' else g || ' Main St' end,
           case when g % 6 = 3 then '' else demo_gen.pick(g, s + 6, array['Humble', 'Austin', 'Zürich', 'Montréal']) end,
           case when g % 5 = 4 then '' else demo_gen.pick(g, s + 7, array['TX', 'CA', 'QC', 'ZH']) end,
           case when g % 7 = 5 then '' else lpad((g * 7 % 100000)::text, 5, '0') end,
           g % 11 <> 0,
           demo_gen.ts(g, s + 8),
           demo_gen.ts(g, s + 8) + make_interval(days => demo_gen.rnd(g, s + 9, 300)::integer)
      from generate_series(1, n_off) g;
    -- One office with every address part blank, at any scale.
    update public.dispatch_office set address = '', city = '', state = '', zip_code = '' where id = 2;

    insert into public.dispatch_patient (office_id, user_id, doctor_id, patient_number, first_name, last_name,
                                         birthdate, email, status_id, medical_notes, created_at, updated_at)
    select demo_gen.rnd(g, s + 10, n_off),
           case when g % 5 = 1 then demo_gen.rnd(g, s + 11, n_usr) end,
           case when g % 10 = 3 then null else demo_gen.rnd(g, s + 12, n_usr) end,
           'P' || lpad(g::text, 7, '0'),
           v_fn[demo_gen.rnd(g, s + 13, 20)],
           v_ln[demo_gen.rnd(g, s + 14, 18)],
           case when g % 10 = 7 then null else date '1950-01-01' + demo_gen.rnd(g, s + 15, 25000)::integer end,
           case when g % 3 = 0 then '' else 'patient' || g || '@mail.example' end,
           case when g % 211 = 7 then 9 else demo_gen.rnd(g, s + 16, 6) end,
           case when g % 2 = 0 then null when g % 20 = 1 then '' else 'Allergic to latex; prefers morning visits ☀️' end,
           demo_gen.ts(g, s + 17),
           demo_gen.ts(g, s + 17) + make_interval(hours => demo_gen.rnd(g, s + 18, 5000)::integer)
      from generate_series(1, n_pat) g;

    insert into public.dispatch_instruction (patient_id, doctor_id, office_id, status, product, notes, submitted_at,
                                             created_at, updated_at)
    select demo_gen.rnd(g, s + 20, n_pat),
           case when g % 7 = 2 then null else demo_gen.rnd(g, s + 21, n_usr) end,
           case when g % 5 = 3 then null else demo_gen.rnd(g, s + 22, n_off) end,
           st,
           demo_gen.pick(g, s + 24, array['Clear Aligner Full', 'Clear Aligner Lite', 'Retainer', 'Refinement']),
           case when g % 5 < 2 then '' else 'Close the gap on UR2; 🦷 check IPR. Ñandú' end,
           case when st = 0 then null else demo_gen.ts(g, s + 25) end,
           demo_gen.ts(g, s + 25) - interval '2 days',
           demo_gen.ts(g, s + 25) + make_interval(hours => demo_gen.rnd(g, s + 26, 3000)::integer)
      from generate_series(1, n_ins) g,
           lateral (select case when g % 199 = 3 then 7 else (demo_gen.rnd(g, s + 23, 6) - 1)::integer end as st) x;

    insert into public.dispatch_plan (instruction_id, version, status, approved_at, created_at, updated_at)
    select demo_gen.rnd(g, s + 30, n_ins),
           demo_gen.rnd(g, s + 31, 3),
           st,
           case when st = 2 then demo_gen.ts(g, s + 33) + interval '3 days' end,
           demo_gen.ts(g, s + 33),
           demo_gen.ts(g, s + 33) + make_interval(hours => demo_gen.rnd(g, s + 34, 2000)::integer)
      from generate_series(1, n_pln) g,
           lateral (select case when g % 307 = 11 then 9 else demo_gen.rnd(g, s + 32, 4)::integer end as st) x;

    insert into public.dispatch_comment (plan_id, author_id, text, created_at)
    select demo_gen.rnd(g, s + 40, n_pln),
           case when g % 10 = 4 then null else demo_gen.rnd(g, s + 41, n_usr) end,
           case when g % 5000 = 17 then 'Long review notes' || E'\n' || v_long
                else demo_gen.pick(g, s + 42, array[
                    'Looks good, approved.', 'I APPROVE this setup', 'Quick question: can we start in May?',
                    'Is the attachment on UL3 needed?', 'Treatment plan updated with 4 more aligners',
                    E'\n\n   \t First real line after blanks\r\nsecond line', 'Patient reports discomfort 😣',
                    'Ok', '', E'   \t\r\n  ', 'Revised the PLAN for the lower arch',
                    repeat('Very long subject line without any break at all ', 4),
                    'Zähne sehen gut aus, danke! 😀'])
           end,
           demo_gen.ts(g, s + 43)
      from generate_series(1, n_com) g;

    insert into public.dispatch_record (target_type_id, target_id, author_id, type, text, group_id, public, created_at)
    select case when kind < 60 then v_ct_patient when kind < 95 then v_ct_user
                else v_ct_other[demo_gen.rnd(g, s + 51, cardinality(v_ct_other))] end,
           case when kind < 60 then demo_gen.rnd(g, s + 52, n_pat + n_pat / 50 + 1)  -- a few never-existing patients
                when kind < 95 then demo_gen.rnd(g, s + 52, n_usr)
                else demo_gen.rnd(g, s + 52, n_ins) end,
           case when g % 8 = 5 then null else demo_gen.rnd(g, s + 53, n_usr) end,
           case when g % 101 = 9 then 4 else (array[3, 5, 6, 8])[demo_gen.rnd(g, s + 54, 4)] end,
           case when g % 5000 = 23 then v_long
                else demo_gen.pick(g, s + 55, array['Please call the office', 'Scan received 📎', '',
                                                      'Status changed to shipped', 'Nota clínica: sin cambios'])
           end,
           case when g % 10 < 7 then null else demo_gen.rnd(g, s + 56, 1000)::integer end,
           g % 3 = 0,
           demo_gen.ts(g, s + 57)
      from generate_series(1, n_rec) g,
           lateral (select case when g % 50 = 13 then 99 else demo_gen.rnd(g, s + 50, 95) - 1 end as kind) x;

    insert into public.dispatch_notification (recipient_id, sender, template_name, template_context, subject, content,
                                              send, sent, send_at, sent_at, created_at)
    select case when g % 20 = 6 then null
                when tn like 'patient\_%' then demo_gen.rnd(g, s + 61, n_pat + n_pat / 50 + 1)::integer
                else demo_gen.rnd(g, s + 61, n_usr)::integer end,
           case when g % 4 = 0 then '' else demo_gen.pick(g, s + 62, array['billing@dispatch', 'Dr. Núñez', 'system']) end,
           tn,
           case when g % 10 = 1 then ''
                when g % 50 = 2 then '{"patient": {"first_name": "Ana"'
                when g % 100 = 3 then '[1, 2, 3]'
                else format('{"patient": {"first_name": %s, "last_name": %s}, "amount": 9.0, "count": 1e2, '
                            '"flag": true, "nothing": null, "items": [1], "date": "2025-03-0%s"}',
                            to_json(v_fn[demo_gen.rnd(g, s + 63, 20)]), to_json(v_ln[demo_gen.rnd(g, s + 64, 18)]),
                            g % 9 + 1) end,
           demo_gen.pick(g, s + 65, array['Your appointment on {{ date }}', 'Payment reminder', 'Welcome! 🎉', '']),
           demo_gen.pick(g, s + 66, array[
               'Hello {{ patient.first_name }}, you owe {{amount}} ({{ count }} items, flag {{flag}}).',
               'Dear {{ patient.last_name }}: {{ missing.key }} {{nothing}} {{ items }} {{	date }}',
               'Reminder for {{ patient.first_name.x }} on {{ date }} {{ patient }}',
               'No placeholders here.', '{{ date }}{{date}}{{  date  }}']),
           g % 10 < 7,
           g % 10 < 6 or g % 10 = 8,
           case when g % 6 = 0 then null else demo_gen.ts(g, s + 67) end,
           case when g % 10 < 6 then demo_gen.ts(g, s + 67) + interval '1 minute' end,
           demo_gen.ts(g, s + 67) - interval '1 day'
      from generate_series(1, n_not) g,
           lateral (select demo_gen.pick(g, s + 60, array[
               'patient_payment_reminder', 'patient_appointment_confirmation', 'treatment_update_urgent',
               'system_maintenance', 'welcome_message', 'patient_welcome_message', 'custom_digest',
               'urgent_payment_reminder', 'patient_treatment_update']) as tn) x;

    insert into public.dispatch_file (name, path, size, mime_type, uploaded_by_id, created_at)
    select case when g % 13 = 0 then 'Röntgen 😀 ' || g || '.png' else 'scan_' || g || '.stl' end,
           'uploads/' || (2019 + g % 6) || '/' || md5(g::text || s) || '/scan_' || g,
           demo_gen.rnd(g, s + 70, 50000000),
           demo_gen.pick(g, s + 71, array['model/stl', 'image/png', 'application/pdf', 'image/jpeg']),
           case when g % 5 = 2 then null else demo_gen.rnd(g, s + 72, n_usr) end,
           demo_gen.ts(g, s + 73)
      from generate_series(1, n_fil) g;

    insert into public.dispatch_file_instruction (file_id, instruction_id, created_at)
    select (g - 1) % n_fil + 1,
           1 + (demo_gen.rnd((g - 1) % n_fil + 1, s + 80, n_ins) + (g - 1) / n_fil) % n_ins,
           demo_gen.ts(g, s + 81)
      from generate_series(1, least(n_lnk, n_fil * n_ins)) g;

    insert into public.dispatch_order (instruction_id, patient_id, office_id, total, status, created_at, updated_at)
    select i.id,
           coalesce(i.patient_id, demo_gen.rnd(g, s + 91, n_pat)),
           case when g % 10 = 4 then null else demo_gen.rnd(g, s + 92, n_off) end,
           (demo_gen.rnd(g, s + 93, 500000) / 100.0)::numeric(10, 2),
           case when g % 401 = 5 then 8 else demo_gen.rnd(g, s + 94, 5)::integer end,
           demo_gen.ts(g, s + 95),
           demo_gen.ts(g, s + 95) + make_interval(hours => demo_gen.rnd(g, s + 96, 1000)::integer)
      from generate_series(1, n_ord) g
      left join public.dispatch_instruction i on i.id = case when g % 7 = 1 then null else demo_gen.rnd(g, s + 90, n_ins) end;

    insert into public.dispatch_transaction (order_id, type, price, made_at, sq_order_id, sq_payment_id, sq_refund_id,
                                             card_brand, card_bin, card_last, office_card, payment_id, created_at)
    select case when g % 20 = 9 then null else demo_gen.rnd(g, s + 100, n_ord)::integer end,
           case when g % 151 = 2 then 6 else demo_gen.rnd(g, s + 101, 4)::integer end,
           case g % 97
               when 1 then '' when 2 then '12,50' when 3 then 'abc' when 4 then null when 5 then '99999999999'
               when 6 then ' 15.00 ' when 7 then '1.999' when 8 then '-40.5' when 9 then '.5'
               else ((demo_gen.rnd(g, s + 102, 200000) - 20000) / 100.0)::numeric(12, 2)::text end,
           case when g % 9 = 0 then null else demo_gen.ts(g, s + 103) end,
           case when g % 4 = 0 then null else 'sqo_' || md5(g::text || 'o') end,
           case when g % 4 = 0 then null else 'sqp_' || md5(g::text || 'p') end,
           case when g % 8 = 3 then 'sqr_' || md5(g::text || 'r') end,
           case when g % 6 = 0 then null else demo_gen.pick(g, s + 104, array['VISA', 'MASTERCARD', 'AMEX']) end,
           case when g % 6 = 0 then null else lpad(demo_gen.rnd(g, s + 105, 999999)::text, 6, '0') end,
           case when g % 6 = 0 then null else lpad(demo_gen.rnd(g, s + 106, 9999)::text, 4, '0') end,
           g % 9 = 4,
           case when g % 3 = 0 then null else 'pay_' || g end,
           demo_gen.ts(g, s + 107)
      from generate_series(1, n_trx) g;

    insert into public.django_session (session_key, session_data, expire_date)
    select md5(g::text || s), 'e30:1t' || md5(g::text), demo_gen.ts(g, s + 110) from generate_series(1, 20) g;
    insert into public.django_admin_log (action_time, object_id, object_repr, action_flag, change_message,
                                         content_type_id, user_id)
    select demo_gen.ts(g, s + 111), g::text, 'Patient ' || g, 2, '[]', v_ct_patient, 1
      from generate_series(1, 20) g;
    -- The application's audit trail (synced by the optional entity audit_events): NULL users (system
    -- actions), '' and unicode in object_repr, a long one at the column's limit.
    insert into public.dispatch_auditlog (user_id, action, object_repr, created_at)
    select case when g % 6 = 0 then null else demo_gen.rnd(g, s + 113, n_usr) end,
           demo_gen.pick(g, s + 114, array['login', 'logout', 'view_patient', 'export', 'update_case', 'delete_case']),
           case when g % 9 = 0 then '' when g % 250 = 7 then repeat('Ω', 200)
                else demo_gen.pick(g, s + 115, array['Patient P0000001', 'Instruction 42', 'Zoë Müller 🦷', 'orders.csv']) end,
           demo_gen.ts(g, s + 112)
      from generate_series(1, n_aud) g;

    -- Django cascades: a few patients deleted with everything that hangs off them. Records and
    -- notifications that pointed at them stay (no foreign key): references to deleted parents.
    perform demo_gen.delete_patients(array(select g::integer from generate_series(1, n_pat) g where g % 293 = 5));

    perform setval(pg_get_serial_sequence('public.' || t, 'id'),
                   greatest(1, (xpath('/row/m/text()',
                       query_to_xml(format('select max(id) as m from public.%I', t), false, true, '')))[1]::text::bigint))
       from unnest(demo_gen.tables()) t;

    return query
    select t::text, (xpath('/row/c/text()', query_to_xml(format('select count(*) as c from public.%I', t),
                                                           false, true, '')))[1]::text::bigint
      from unnest(demo_gen.tables()) t;
end;
$$;
