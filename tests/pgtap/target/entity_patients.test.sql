-- patients ← dispatch_patient: references through the id map, parking and release, codes.
begin;
select plan(11);

insert into sync.id_map (entity, legacy_id, target_id) values
    ('profiles', 5, 'b0000000-0000-0000-0000-000000000005');
insert into public.profiles (id, legacy_user_id, username, role, is_active, date_joined, created_at, updated_at)
values ('b0000000-0000-0000-0000-000000000005', 5, 'doc', 'staff', true, '2019-01-01', '2019-01-01', '2019-01-01');

create temp table fx (legacy_id bigint, office_id int, user_id int, doctor_id int, email text, status_id int, notes text);
insert into fx values
    (1, 3, null, 5, 'a@x.io', 3, 'Allergic ☀️'),     -- office not mapped yet: parks
    (2, 3, null, null, '', 9, ''),                   -- unknown code, blank email, '' notes copied
    (3, 3, 6, 5, 'c@x.io', 6, null),                 -- user 6 not mapped yet: parks on profiles
    (4, 3, null, null, 'd@x.io', 1, null);
insert into sync.inbox (entity, legacy_id, op, image, source_version, captured_at)
select 'patients', legacy_id, 'upsert', jsonb_build_object('id', legacy_id, 'office_id', office_id, 'user_id', user_id,
       'doctor_id', doctor_id, 'patient_number', 'P' || legacy_id, 'first_name', 'Nguyễn', 'last_name', 'Østergaard',
       'birthdate', '1990-02-03', 'email', email, 'status_id', status_id, 'medical_notes', notes,
       'created_at', '2020-01-01T00:00:00+00:00', 'updated_at', '2021-01-01T00:00:00+00:00'), 1, now()
  from fx;

select is(sync._apply_entity('patients', null), '{"parked": 4}', 'every patient parks while its office is not mapped');
select results_eq($$ select legacy_id, parent_entity, parent_legacy_id from sync.inbox where entity = 'patients' order by 1 $$,
                  $$ values (1::bigint, 'offices'::text, 3::bigint), (2, 'offices', 3), (3, 'offices', 3), (4, 'offices', 3) $$,
                  'parked rows name the parent they wait for');

insert into sync.inbox (entity, legacy_id, op, image, source_version, captured_at) values
('offices', 3, 'upsert', '{"id": 3, "name": "O", "phone": "", "address": "", "city": "", "state": "", "zip_code": "",
  "is_active": true, "created_at": "2019-01-01T00:00:00+00:00", "updated_at": "2019-01-01T00:00:00+00:00"}', 1, now());
select is(sync._apply_entity('offices', null), '{"inserted": 1}', 'the office arrives');
select is(sync._apply_entity('patients', null), '{"parked": 1, "inserted": 3}',
          'released automatically: three apply, the one whose user is missing parks again');
select results_eq($$ select legacy_id, parent_entity, parent_legacy_id from sync.inbox where entity = 'patients' and status = 'parked' $$,
                  $$ values (3::bigint, 'profiles'::text, 6::bigint) $$, 'it now waits for profile 6, never written with NULL');

insert into sync.id_map (entity, legacy_id, target_id) values ('profiles', 6, 'b0000000-0000-0000-0000-000000000006');
insert into public.profiles (id, legacy_user_id, username, role, is_active, date_joined, created_at, updated_at)
values ('b0000000-0000-0000-0000-000000000006', 6, 'pat', 'user', true, '2019-01-01', '2019-01-01', '2019-01-01');
select is(sync._apply_entity('patients', null), '{"inserted": 1}', 'the last one applies when its user is mapped');
update sync.inbox set status = 'pending' where entity = 'patients';
select is(sync._apply_entity('patients', null), '{"unchanged": 4}', 'applying again changes nothing');

select results_eq(
    $$ select p.legacy_patient_id, o.legacy_office_id, pr.legacy_user_id, d.legacy_user_id, p.patient_number, p.first_name,
              p.last_name, p.birthdate, p.email, p.status, p.legacy_status_id::integer, p.medical_notes, p.created_at, p.updated_at
         from public.patients p join public.offices o on o.id = p.office_id
         left join public.profiles pr on pr.id = p.profile_id left join public.profiles d on d.id = p.doctor_id
        order by 1 $$,
    $$ values (1::bigint, 3::bigint, null::bigint, 5::bigint, 'P1'::text, 'Nguyễn'::text, 'Østergaard'::text, '1990-02-03'::date,
               'a@x.io'::text, 'in_treatment'::text, 3, 'Allergic ☀️'::text, '2020-01-01 00:00:00+00'::timestamptz,
               '2021-01-01 00:00:00+00'::timestamptz),
              (2, 3, null, null, 'P2', 'Nguyễn', 'Østergaard', '1990-02-03', null, 'unknown', 9, '', '2020-01-01 00:00:00+00', '2021-01-01 00:00:00+00'),
              (3, 3, 6, 5, 'P3', 'Nguyễn', 'Østergaard', '1990-02-03', 'c@x.io', 'archived', 6, null, '2020-01-01 00:00:00+00', '2021-01-01 00:00:00+00'),
              (4, 3, null, null, 'P4', 'Nguyễn', 'Østergaard', '1990-02-03', 'd@x.io', 'lead', 1, null, '2020-01-01 00:00:00+00', '2021-01-01 00:00:00+00') $$,
    'references resolved through the id map, NULL stays NULL, email blank → NULL, status from the code table'
);
select results_eq($$ select entity, legacy_id, source_table, column_name, code from sync.integrity_issues $$,
                  $$ values ('patients'::text, 2::bigint, 'public.dispatch_patient'::text, 'status_id'::text, '9'::text) $$,
                  'an unknown code records a data-integrity issue naming table, id and code');

insert into sync.inbox (entity, legacy_id, op, image, source_version, captured_at)
values ('patients', 4, 'delete', null, 2, '2026-02-02 00:00:00+00');
select is(sync._apply_entity('patients', null), '{"deleted": 1}', 'a source delete is applied');
select is((select deleted_at from public.patients where legacy_patient_id = 4), '2026-02-02 00:00:00+00'::timestamptz,
          'a source delete soft-deletes at the capture time');

select * from finish();
rollback;
