-- Live stream of legacy changes for the demo and the benchmark: demo_gen.stream_step() performs
-- one Django-like unit of work (a few reads and one to three writes, sometimes a cascade) in the
-- caller's transaction, picked at random by weight. Returns the kind it performed.

-- A random existing id of a table (near a random point of its id range), or NULL when empty.
create or replace function demo_gen.any_id(p_table regclass)
returns integer
language plpgsql
as $$
declare
    v_max bigint;
    v_id integer;
begin
    execute format('select last_value from %s', pg_get_serial_sequence(p_table::text, 'id')) into v_max;
    execute format('select id from %s where id >= $1 order by id limit 1', p_table)
       into v_id using (1 + floor(random() * v_max))::integer;
    if v_id is null then
        execute format('select id from %s order by id limit 1', p_table) into v_id;
    end if;
    return v_id;
end;
$$;

create or replace function demo_gen.stream_step()
returns text
language plpgsql
as $$
declare
    r double precision := random() * 100;
    v_id integer;
    v_id2 integer;
    v_fn text[] := demo_gen.first_names();
begin
    if r < 15 then
        v_id := demo_gen.any_id('public.dispatch_patient');
        update public.dispatch_patient
           set email = case when random() < 0.2 then '' else 'p' || v_id || '.' || (random() * 1000)::int || '@mail.example' end,
               status_id = 1 + (random() * 5)::int, updated_at = now()
         where id = v_id;
        return 'update_patient';
    elsif r < 20 then
        insert into public.dispatch_patient (office_id, user_id, doctor_id, patient_number, first_name, last_name,
                                             birthdate, email, status_id, medical_notes, created_at, updated_at)
        values (demo_gen.any_id('public.dispatch_office'), null, demo_gen.any_id('public.auth_user'),
                'N' || (random() * 1e9)::bigint, v_fn[1 + (random() * 19)::int], 'Live', date '1990-05-05', '', 1,
                null, now(), now())
        returning id into v_id;
        insert into public.dispatch_instruction (patient_id, doctor_id, office_id, status, product, notes, submitted_at,
                                                 created_at, updated_at)
        values (v_id, demo_gen.any_id('public.auth_user'), null, 0, 'Clear Aligner Full', '', null, now(), now())
        returning id into v_id2;
        insert into public.dispatch_plan (instruction_id, version, status, approved_at, created_at, updated_at)
        values (v_id2, 1, 1, null, now(), now());
        return 'new_case';
    elsif r < 40 then
        insert into public.dispatch_comment (plan_id, author_id, text, created_at)
        values (demo_gen.any_id('public.dispatch_plan'), demo_gen.any_id('public.auth_user'),
                (array['Looks good!', 'Question: when do we start?', 'Plan revised', 'Noted 👍'])[1 + (random() * 3)::int],
                now());
        return 'insert_comment';
    elsif r < 50 then
        v_id := demo_gen.any_id('public.dispatch_plan');
        update public.dispatch_plan
           set status = 1 + (random() * 3)::int, approved_at = case when random() < 0.5 then now() end,
               updated_at = now()
         where id = v_id;
        return 'update_plan';
    elsif r < 63 then
        insert into public.dispatch_record (target_type_id, target_id, author_id, type, text, group_id, public, created_at)
        select ct.id, case when ct.model = 'patient' then demo_gen.any_id('public.dispatch_patient')
                           else demo_gen.any_id('public.auth_user') end,
               demo_gen.any_id('public.auth_user'), 3, 'Live message ' || now(), null, true, now()
          from public.django_content_type ct
         where (ct.app_label, ct.model) = (case when random() < 0.6 then 'dispatch' else 'auth' end,
                                            case when random() < 0.6 then 'patient' else 'user' end)
           and (ct.app_label, ct.model) in (('dispatch', 'patient'), ('auth', 'user'));
        return 'insert_record';
    elsif r < 71 then
        insert into public.dispatch_notification (recipient_id, sender, template_name, template_context, subject, content,
                                                  send, sent, send_at, sent_at, created_at)
        values (demo_gen.any_id('public.dispatch_patient'), '', 'patient_payment_reminder',
                '{"patient": {"first_name": "Live"}, "amount": 12.5}', 'Payment reminder',
                'Hi {{ patient.first_name }}, {{ amount }} is due.', true, random() < 0.7, now(), now(), now());
        return 'insert_notification';
    elsif r < 73 then
        v_id := demo_gen.any_id('public.dispatch_notification');
        update public.dispatch_notification set sent = true, sent_at = now()
         where id = v_id and send and not sent;
        return 'mark_notification_sent';
    elsif r < 80 then
        v_id := demo_gen.any_id('public.dispatch_instruction');
        select id, patient_id into v_id, v_id2 from public.dispatch_instruction where id = v_id;
        insert into public.dispatch_order (instruction_id, patient_id, office_id, total, status, created_at, updated_at)
        values (v_id, v_id2, null, 1499.00, 1, now(), now())
        returning id into v_id;
        insert into public.dispatch_transaction (order_id, type, price, made_at, sq_order_id, sq_payment_id,
                                                 sq_refund_id, card_brand, card_bin, card_last, office_card,
                                                 payment_id, created_at)
        values (v_id, 1, '1499.00', now(), 'sqo_live', 'sqp_live', null, 'VISA', '411111', '1111', false, null, now());
        return 'new_order';
    elsif r < 83 then
        v_id := demo_gen.any_id('public.dispatch_transaction');
        update public.dispatch_transaction set price = to_char(random() * 1000, 'FM99990.00')
         where id = v_id;
        return 'update_price';
    elsif r < 91 then
        v_id := demo_gen.any_id('public.auth_user');
        update public.auth_user set last_login = now() where id = v_id;
        -- The application's audit trail, where the database has one (dispatch_auditlog is optional).
        if to_regclass('public.dispatch_auditlog') is not null then
            insert into public.dispatch_auditlog (user_id, action, object_repr, created_at)
            values (v_id, 'login', 'user' || v_id, now());
        end if;
        return 'login';
    elsif r < 94 then
        v_id := demo_gen.any_id('public.dispatch_office');
        update public.dispatch_office set phone = '+1 555 ' || (random() * 9999)::int, updated_at = now()
         where id = v_id;
        return 'update_office';
    elsif r < 97 then
        v_id := demo_gen.any_id('public.dispatch_comment');
        delete from public.dispatch_comment where id = v_id;
        return 'delete_comment';
    elsif r < 99 then
        insert into public.dispatch_file (name, path, size, mime_type, uploaded_by_id, created_at)
        values ('live.stl', 'uploads/live/' || md5(random()::text), 1024, 'model/stl', null, now())
        returning id into v_id;
        insert into public.dispatch_file_instruction (file_id, instruction_id, created_at)
        values (v_id, demo_gen.any_id('public.dispatch_instruction'), now());
        return 'attach_file';
    else
        perform demo_gen.delete_instructions(array[demo_gen.any_id('public.dispatch_instruction')]);
        return 'cascade_delete_instruction';
    end if;
end;
$$;
