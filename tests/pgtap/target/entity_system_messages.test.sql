-- system_messages ← dispatch_notification: the send-and-sent filter (skip, and soft delete when a
-- synced row stops qualifying), invalid_json quarantine and release, recipients, placeholders,
-- type, urgency, sender, metadata.
begin;
select plan(9);

select test.parent('patients', 80), test.parent('profiles', 81);
create temp table nt (legacy_id bigint, recipient_id bigint, sender text, template_name text, ctx text, subject text,
                      content text, send boolean, sent boolean);
insert into nt values
    (1, 80, '', 'patient_payment_reminder', '{"patient": {"first_name": "Ana {{amount}}"}, "amount": 9.0, "n": 1e2, "ok": true, "no": null, "o": {}}',
     'Pay {{amount}}', 'Hi {{ patient.first_name }}, {{amount}} {{n}} {{ok}} {{no}} {{o}} {{ missing }} {{	amount }} {{ patient.first_name.x }}',
     true, true),
    (2, 81, 'Dr. X', 'URGENT_treatment_update', '', 'S', 'No {{ placeholders }} here', true, true),
    (3, 81, 'a', 'welcome_message', '{}', 'S', 'c', true, false),
    (4, 81, 'a', 'welcome_message', '{bad', 'S', 'c', true, true),
    (5, 81, 'a', 'welcome_message', '[1]', 'S', 'c', true, true),
    (6, null, 'a', 'welcome_message', '{}', 'S', 'c', true, true),
    (7, 89, 'a', 'patient_x', '{}', 'S', 'c', true, true),
    (8, 81, 'a', 'appointment_confirmation_payment_reminder', '{}', 'S', 'c', true, true);
select test.change('system_messages', legacy_id, jsonb_build_object('recipient_id', recipient_id, 'sender', sender,
       'template_name', template_name, 'template_context', ctx, 'subject', subject, 'content', content, 'send', send, 'sent', sent,
       'send_at', '2024-10-01T08:00:00+00:00', 'sent_at', '2024-10-01T08:01:00+00:00', 'created_at', '2024-09-30T00:00:00+00:00'))
  from nt;

select is(test.apply('system_messages'), '{"parked": 1, "skipped": 1, "inserted": 4, "quarantined": 2}',
          'four apply, one is filtered, two quarantined, one waits');
select is(test.reapply('system_messages'), '{"unchanged": 4}', 're-applying changes nothing');
select results_eq(
    $$ select legacy_notification_id, recipient_type, recipient_patient_id, recipient_profile_id, message_type, sender, template_name,
              template_context, subject, content, priority, is_urgent, scheduled_at, sent_at, delivery_status, metadata
         from public.system_messages order by 1 $$,
    $$ values
       (1::bigint, 'patient'::text, test.uuid('patients', 80), null::uuid, 'billing'::text, 'system'::text, 'patient_payment_reminder'::text,
        '{"patient": {"first_name": "Ana {{amount}}"}, "amount": 9.0, "n": 100, "ok": true, "no": null, "o": {}}'::jsonb, 'Pay {{amount}}'::text,
        E'Hi Ana {{amount}}, 9.0 100 true {{no}} {{o}} {{ missing }} {{\tamount }} {{ patient.first_name.x }}'::text, 'normal'::text, false,
        '2024-10-01 08:00:00+00'::timestamptz, '2024-10-01 08:01:00+00'::timestamptz, 'delivered'::text,
        jsonb_build_object('legacy_sender', '', 'legacy_template_name', 'patient_payment_reminder', 'original_content_length',
                           char_length('Hi {{ patient.first_name }}, {{amount}} {{n}} {{ok}} {{no}} {{o}} {{ missing }} {{	amount }} {{ patient.first_name.x }}'))),
       (2, 'user', null, test.uuid('profiles', 81), 'clinical', 'Dr. X', 'URGENT_treatment_update', '{}', 'S', 'No {{ placeholders }} here',
        'high', true, '2024-10-01 08:00:00+00', '2024-10-01 08:01:00+00', 'delivered',
        '{"legacy_sender": "Dr. X", "legacy_template_name": "URGENT_treatment_update", "original_content_length": 26}'),
       (6, null, null, null, 'onboarding', 'a', 'welcome_message', '{}', 'S', 'c', 'normal', false, '2024-10-01 08:00:00+00',
        '2024-10-01 08:01:00+00', 'delivered', '{"legacy_sender": "a", "legacy_template_name": "welcome_message", "original_content_length": 1}'),
       (8, 'user', null, test.uuid('profiles', 81), 'billing', 'a', 'appointment_confirmation_payment_reminder', '{}', 'S', 'c', 'normal', false,
        '2024-10-01 08:00:00+00', '2024-10-01 08:01:00+00', 'delivered',
        '{"legacy_sender": "a", "legacy_template_name": "appointment_confirmation_payment_reminder", "original_content_length": 1}') $$,
    'placeholders rendered once, values as jsonb prints them; missing, null, object and tab-spaced ones stay; first type entry wins'
);
select results_eq($$ select legacy_id, reason, message from sync.quarantine where entity = 'system_messages' order by 1 $$,
                  $$ values (4::bigint, 'invalid_json'::text, 'template_context is not valid JSON: {bad'::text),
                            (5, 'invalid_json', 'template_context must be a JSON object, got array') $$,
                  'invalid or non-object JSON is quarantined with reason invalid_json');
select results_eq($$ select legacy_id, status from sync.inbox where entity = 'system_messages' and status in ('skipped', 'parked') order by 1 $$,
                  $$ values (3::bigint, 'skipped'::text), (7, 'parked') $$,
                  'a notification not sent is skipped (no row); a missing patient recipient parks');

select test.change('system_messages', 1, jsonb_build_object('recipient_id', 80, 'sender', '', 'template_name', 'patient_payment_reminder',
       'template_context', '{}', 'subject', 'S', 'content', 'c', 'send', true, 'sent', false, 'send_at', null, 'sent_at', null,
       'created_at', '2024-09-30T00:00:00+00:00'), '2026-03-03 00:00:00+00', 2);
select is(test.apply('system_messages'), '{"deleted": 1, "skipped": 1}', 'a synced row that stops qualifying');
select is((select deleted_at from public.system_messages where legacy_notification_id = 1), '2026-03-03 00:00:00+00'::timestamptz,
          'is soft-deleted at the capture time');

select test.change('system_messages', 4, jsonb_build_object('recipient_id', 81, 'sender', 'a', 'template_name', 'welcome_message',
       'template_context', '{"fixed": true}', 'subject', 'S', 'content', '{{fixed}}', 'send', true, 'sent', true, 'send_at', null,
       'sent_at', null, 'created_at', '2024-09-30T00:00:00+00:00'), '2026-03-04 00:00:00+00', 2);
select is(test.apply('system_messages'), '{"inserted": 1}', 'a fixing update applies');
select results_eq($$ select (select released_at is not null from sync.quarantine where entity = 'system_messages' and legacy_id = 4),
                            (select content from public.system_messages where legacy_notification_id = 4) $$,
                  $$ values (true, 'true'::text) $$, 'and releases the quarantine');

select * from finish();
rollback;
