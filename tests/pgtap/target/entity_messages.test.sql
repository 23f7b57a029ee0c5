-- messages ← dispatch_record: recipients by content-type natural key (any id numbers),
-- unsupported content types quarantined, codes, metadata, is_read left to the application.
begin;
select plan(10);

select test.content_type(31, 'dispatch', 'patient'), test.content_type(77, 'auth', 'user'),
       test.content_type(12, 'dispatch', 'instruction');
select test.parent('patients', 50), test.parent('profiles', 60), test.parent('profiles', 61);
select test.change('messages', 1, '{"target_type_id": 31, "target_id": 50, "author_id": 61, "type": 3, "text": "Scan received 📎",
                                    "group_id": 7, "public": true, "created_at": "2024-08-01T00:00:00+00:00"}');
select test.change('messages', 2, '{"target_type_id": 77, "target_id": 60, "author_id": null, "type": 4, "text": "",
                                    "group_id": null, "public": false, "created_at": "2024-08-02T00:00:00+00:00"}');
select test.change('messages', 3, '{"target_type_id": 12, "target_id": 5, "author_id": null, "type": 5, "text": "x",
                                    "group_id": null, "public": false, "created_at": "2024-08-03T00:00:00+00:00"}');
select test.change('messages', 4, '{"target_type_id": 31, "target_id": 59, "author_id": null, "type": 8, "text": "y",
                                    "group_id": null, "public": false, "created_at": "2024-08-04T00:00:00+00:00"}');
select test.change('messages', 5, '{"target_type_id": 99, "target_id": 50, "author_id": null, "type": 6, "text": "z",
                                    "group_id": null, "public": false, "created_at": "2024-08-05T00:00:00+00:00"}');

select is(test.apply('messages'), '{"parked": 2, "inserted": 2, "quarantined": 1}', 'two apply, one quarantined, two wait');
select is(test.reapply('messages'), '{"unchanged": 2}', 're-applying changes nothing');
select results_eq(
    $$ select legacy_record_id, message_type, content, sender_id, recipient_type, recipient_patient_id, recipient_profile_id,
              is_read, metadata, created_at, updated_at from public.messages order by 1 $$,
    $$ values (1::bigint, 'support'::text, 'Scan received 📎'::text, test.uuid('profiles', 61), 'patient'::text, test.uuid('patients', 50),
               null::uuid, false, '{"legacy_type": 3, "legacy_target_type_id": 31, "legacy_group_id": 7, "legacy_public": true}'::jsonb,
               '2024-08-01 00:00:00+00'::timestamptz, '2026-01-01 00:00:00+00'::timestamptz),
              (2, 'general', '', null, 'user', null, test.uuid('profiles', 60), false,
               '{"legacy_type": 4, "legacy_target_type_id": 77, "legacy_group_id": null, "legacy_public": false}',
               '2024-08-02 00:00:00+00', '2026-01-01 00:00:00+00') $$,
    'recipient by natural key, unknown type → general, metadata, updated_at = capture time'
);
select results_eq($$ select legacy_id, reason, message from sync.quarantine where entity = 'messages' $$,
                  $$ values (3::bigint, 'unsupported_content_type'::text,
                             'messages can target dispatch.patient or auth.user; this record targets dispatch.instruction (content type 12)'::text) $$,
                  'another content type is quarantined, naming it');
select results_eq($$ select legacy_id, parent_entity, parent_legacy_id from sync.inbox where entity = 'messages' and status = 'parked' order by 1 $$,
                  $$ values (4::bigint, 'patients'::text, 59::bigint), (5, 'content_types', 99) $$,
                  'a missing recipient or a content type not seen yet parks the record');

update public.messages set is_read = true where legacy_record_id = 1;
select test.change('messages', 1, '{"target_type_id": 31, "target_id": 50, "author_id": 61, "type": 3, "text": "Edited",
                                    "group_id": 7, "public": true, "created_at": "2024-08-01T00:00:00+00:00"}', '2026-01-05', 2);
select is(test.apply('messages'), '{"updated": 1}', 'an edit applies');
select results_eq($$ select content, is_read from public.messages where legacy_record_id = 1 $$,
                  $$ values ('Edited'::text, true) $$, 'is_read belongs to the application: never overwritten');

-- An edit moves updated_at to the time it was captured, so applications fetching by updated_at see it.
select test.change('messages', 1, '{"target_type_id": 31, "target_id": 50, "author_id": 61, "type": 3, "text": "Scan received, edited",
                                    "group_id": 7, "public": true, "created_at": "2024-08-01T00:00:00+00:00"}',
                   '2026-03-01 00:00:00+00', 5);
select test.apply('messages');
select results_eq($$ select content, created_at, updated_at from public.messages where legacy_record_id = 1 $$,
                  $$ values ('Scan received, edited'::text, '2024-08-01 00:00:00+00'::timestamptz, '2026-03-01 00:00:00+00'::timestamptz) $$,
                  'an edit moves updated_at to its capture time; created_at stays');

-- The same row read again later (a backfill, a repair, a save that changed nothing) changes nothing.
select test.change('messages', 1, '{"target_type_id": 31, "target_id": 50, "author_id": 61, "type": 3, "text": "Scan received, edited",
                                    "group_id": 7, "public": true, "created_at": "2024-08-01T00:00:00+00:00"}',
                   '2026-04-01 00:00:00+00', 6);
select is(test.apply('messages'), '{"unchanged": 1}', 'a re-read of an unchanged row is unchanged');
select results_eq($$ select updated_at, (select image ->> 'updated_at' from sync.id_map where entity = 'messages' and legacy_id = 1)
                      from public.messages where legacy_record_id = 1 $$,
                  $$ values ('2026-03-01 00:00:00+00'::timestamptz, '2026-03-01T00:00:00+00:00'::text) $$,
                  'updated_at stays at the last change, in the target and in the last written image');

select * from finish();
rollback;
