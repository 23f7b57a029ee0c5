-- orders ← dispatch_order: total copied exactly, optional case and office, parking.
begin;
select plan(4);

select test.parent('cases', 30), test.parent('patients', 31), test.parent('offices', 32);
select test.change('orders', 1, '{"instruction_id": 30, "patient_id": 31, "office_id": 32, "total": 1499.99, "status": 2,
                                  "created_at": "2024-06-01T00:00:00+00:00", "updated_at": "2024-06-02T00:00:00+00:00"}');
select test.change('orders', 2, '{"instruction_id": null, "patient_id": 31, "office_id": null, "total": 0.10, "status": 8,
                                  "created_at": "2024-06-01T00:00:00+00:00", "updated_at": "2024-06-01T00:00:00+00:00"}');
select test.change('orders', 3, '{"instruction_id": 33, "patient_id": 31, "office_id": 32, "total": 5.00, "status": 1,
                                  "created_at": "2024-06-01T00:00:00+00:00", "updated_at": "2024-06-01T00:00:00+00:00"}');
select is(test.apply('orders'), '{"parked": 1, "inserted": 2}', 'two orders apply, one waits for its case');
select is(test.reapply('orders'), '{"unchanged": 2}', 're-applying changes nothing');
select results_eq(
    $$ select legacy_order_id, case_id, patient_id, office_id, total, status, created_at, updated_at from public.orders order by 1 $$,
    $$ values (1::bigint, test.uuid('cases', 30), test.uuid('patients', 31), test.uuid('offices', 32), 1499.99::numeric, 'paid'::text,
               '2024-06-01 00:00:00+00'::timestamptz, '2024-06-02 00:00:00+00'::timestamptz),
              (2, null, test.uuid('patients', 31), null, 0.10, 'unknown', '2024-06-01 00:00:00+00', '2024-06-01 00:00:00+00') $$,
    'references through the id map (NULL stays NULL), total exact, status from the code table'
);
select results_eq($$ select parent_entity, parent_legacy_id from sync.inbox where entity = 'orders' and status = 'parked' $$,
                  $$ values ('cases'::text, 33::bigint) $$, 'an order never loses its case: it waits for case 33');

select * from finish();
rollback;
