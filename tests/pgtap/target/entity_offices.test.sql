-- offices ← dispatch_office: address from the non-blank parts, phone blank → NULL; applied twice.
begin;
select plan(3);

insert into sync.inbox (entity, legacy_id, op, image, source_version, captured_at)
select 'offices', id, 'upsert', jsonb_build_object('id', id, 'name', name, 'phone', phone, 'address', address, 'city', city,
       'state', state, 'zip_code', zip_code, 'is_active', is_active, 'created_at', '2019-01-01T00:00:00+00:00',
       'updated_at', '2020-01-01T00:00:00+00:00'), 1, now()
  from (values (1, 'Main', '+1 555', '12 Main St', 'Humble', 'TX', '77338', true),
               (2, 'Zip only', '', '', 'Humble', '', '77338', false),
               (3, 'Blank', '', '', '', '', '', true),
               (4, 'State only', '', '', '', 'TX', '', true),
               (5, 'Clínica São Paulo 🦷', '', 'Rua 1', '', '', '01000', true),
               (6, 'Spaces', ' ', ' ', '', '', '', true)) v (id, name, phone, address, city, state, zip_code, is_active);

select is(sync._apply_entity('offices', null), '{"inserted": 6}', 'six offices inserted');
update sync.inbox set status = 'pending' where entity = 'offices';
select is(sync._apply_entity('offices', null), '{"unchanged": 6}', 'a second apply changes nothing');

select results_eq(
    $$ select legacy_office_id, name, phone, address, is_active, created_at, updated_at from public.offices order by 1 $$,
    $$ values (1::bigint, 'Main'::text, '+1 555'::text, '12 Main St, Humble, TX 77338'::text, true,
               '2019-01-01 00:00:00+00'::timestamptz, '2020-01-01 00:00:00+00'::timestamptz),
              (2, 'Zip only', null, 'Humble, 77338', false, '2019-01-01 00:00:00+00', '2020-01-01 00:00:00+00'),
              (3, 'Blank', null, null, true, '2019-01-01 00:00:00+00', '2020-01-01 00:00:00+00'),
              (4, 'State only', null, 'TX', true, '2019-01-01 00:00:00+00', '2020-01-01 00:00:00+00'),
              (5, 'Clínica São Paulo 🦷', null, 'Rua 1, 01000', true, '2019-01-01 00:00:00+00', '2020-01-01 00:00:00+00'),
              (6, 'Spaces', ' ', ' ', true, '2019-01-01 00:00:00+00', '2020-01-01 00:00:00+00') $$,
    'address joins the non-blank parts with '', '' and state-zip with one space; only '''' counts as blank'
);

select * from finish();
rollback;
