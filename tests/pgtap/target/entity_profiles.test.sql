-- profiles ← auth_user: every rule of mappings.md, each apply run twice.
begin;
select plan(9);

insert into sync.inbox (entity, legacy_id, op, image, source_version, captured_at) values
('profiles', 7, 'upsert', '{"id": 7, "username": "ada", "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",
  "is_superuser": true, "is_staff": true, "is_active": true, "date_joined": "2019-01-02T03:04:05.123456+00:00",
  "last_login": "2024-05-06T07:08:09+00:00"}', 10, '2026-01-01 00:00:00+00'),
('profiles', 8, 'upsert', '{"id": 8, "username": "bob", "first_name": "", "last_name": "", "email": "",
  "is_superuser": false, "is_staff": true, "is_active": false, "date_joined": "2020-01-01T00:00:00+00:00",
  "last_login": null}', 10, '2026-01-01 00:00:01+00'),
('profiles', 9, 'upsert', '{"id": 9, "username": "zoë😀", "first_name": " Zoë ", "last_name": "", "email": "z@example.com",
  "is_superuser": false, "is_staff": false, "is_active": true, "date_joined": "2021-01-01T00:00:00+00:00",
  "last_login": null}', 10, '2026-01-01 00:00:02+00'),
('profiles', 10, 'upsert', '{"id": 10, "username": "tab", "first_name": "\tTab", "last_name": "", "email": "",
  "is_superuser": false, "is_staff": false, "is_active": true, "date_joined": "2021-01-01T00:00:00+00:00",
  "last_login": null, "password": "pbkdf2_sha256$should-not-matter"}', 10, '2026-01-01 00:00:03+00');

select is(sync._apply_entity('profiles', null), '{"inserted": 4}', 'first apply inserts four profiles');
select is(sync._apply_entity('profiles', null), '{}', 'a second apply finds nothing pending');
update sync.inbox set status = 'pending' where entity = 'profiles';
select is(sync._apply_entity('profiles', null), '{"unchanged": 4}', 're-applying the same changes changes nothing');

select results_eq(
    $$ select id, legacy_user_id, username, email, first_name, last_name, full_name, role, is_active, date_joined,
              last_login, created_at, updated_at, deleted_at from public.profiles order by legacy_user_id $$,
    $$ values
       (extensions.uuid_generate_v5('5b0e3c2a-8f4d-4e71-9c6a-1d2f3e4a5b6c', 'profiles:7'), 7::bigint, 'ada'::text, 'ada@example.com'::text,
        'Ada'::text, 'Lovelace'::text, 'Ada Lovelace'::text, 'admin'::text, true, '2019-01-02 03:04:05.123456+00'::timestamptz,
        '2024-05-06 07:08:09+00'::timestamptz, '2019-01-02 03:04:05.123456+00'::timestamptz, '2026-01-01 00:00:00+00'::timestamptz, null::timestamptz),
       (extensions.uuid_generate_v5('5b0e3c2a-8f4d-4e71-9c6a-1d2f3e4a5b6c', 'profiles:8'), 8, 'bob', null, null, null, null, 'staff', false,
        '2020-01-01 00:00:00+00', null, '2020-01-01 00:00:00+00', '2026-01-01 00:00:01+00', null),
       (extensions.uuid_generate_v5('5b0e3c2a-8f4d-4e71-9c6a-1d2f3e4a5b6c', 'profiles:9'), 9, 'zoë😀', 'z@example.com', ' Zoë ', null, 'Zoë', 'user', true,
        '2021-01-01 00:00:00+00', null, '2021-01-01 00:00:00+00', '2026-01-01 00:00:02+00', null),
       (extensions.uuid_generate_v5('5b0e3c2a-8f4d-4e71-9c6a-1d2f3e4a5b6c', 'profiles:10'), 10, 'tab', null, E'\tTab', null, E'\tTab', 'user', true,
        '2021-01-01 00:00:00+00', null, '2021-01-01 00:00:00+00', '2026-01-01 00:00:03+00', null) $$,
    'blank → NULL for names and email, full_name trims U+0020 only, role from the flags, created_at = date_joined, updated_at = capture time'
);

select is((select count(*)::integer from public.profiles where to_jsonb(profiles)::text like '%pbkdf2%'), 0,
          'no credential material reaches the target row');
select is((select count(*)::integer from sync.id_map where entity = 'profiles' and image::text like '%pbkdf2%'), 0,
          'nor the id map image');

-- Adoption: a row the one-off migration created (legacy id set, not in the map) keeps its UUID.
insert into public.profiles (id, legacy_user_id, username, role, is_active, date_joined, created_at, updated_at)
values ('a0000000-0000-0000-0000-000000000011', 11, 'old', 'user', true, '2018-01-01', '2018-01-01', '2018-01-01');
insert into sync.inbox (entity, legacy_id, op, image, source_version, captured_at) values
('profiles', 11, 'upsert', '{"id": 11, "username": "carol", "first_name": "Carol", "last_name": "", "email": "",
  "is_superuser": false, "is_staff": false, "is_active": true, "date_joined": "2018-01-01T00:00:00+00:00", "last_login": null}',
  11, '2026-01-02 00:00:00+00');
select is(sync._apply_entity('profiles', null), '{"updated": 1}', 'adoption updates the pre-migrated row');
select results_eq(
    $$ select p.id, p.username, m.target_id from public.profiles p join sync.id_map m on m.entity = 'profiles' and m.legacy_id = 11
        where p.legacy_user_id = 11 $$,
    $$ values ('a0000000-0000-0000-0000-000000000011'::uuid, 'carol'::text, 'a0000000-0000-0000-0000-000000000011'::uuid) $$,
    'an adopted row keeps its UUID and the map records it'
);
select is((select count(*)::integer from public.profiles), 5, 'adoption never duplicates');

select * from finish();
rollback;
