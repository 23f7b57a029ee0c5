-- treatment_plans ← dispatch_plan: the case through the id map, codes, parking.
begin;
select plan(4);

select test.parent('cases', 20);
select test.change('treatment_plans', 1, '{"instruction_id": 20, "version": 2, "status": 2, "approved_at": "2024-05-05T10:00:00+00:00",
                                           "created_at": "2024-05-01T00:00:00+00:00", "updated_at": "2024-05-05T10:00:00+00:00"}');
select test.change('treatment_plans', 2, '{"instruction_id": 20, "version": 3, "status": 9, "approved_at": null,
                                           "created_at": "2024-05-01T00:00:00+00:00", "updated_at": "2024-05-02T00:00:00+00:00"}');
select test.change('treatment_plans', 3, '{"instruction_id": 21, "version": 1, "status": 1, "approved_at": null,
                                           "created_at": "2024-05-01T00:00:00+00:00", "updated_at": "2024-05-02T00:00:00+00:00"}');
select is(test.apply('treatment_plans'), '{"parked": 1, "inserted": 2}', 'two plans apply, one waits for its case');
select is(test.reapply('treatment_plans'), '{"unchanged": 2}', 're-applying changes nothing');
select results_eq(
    $$ select legacy_plan_id, case_id, version, status, approved_at, created_at, updated_at from public.treatment_plans order by 1 $$,
    $$ values (1::bigint, test.uuid('cases', 20), 2, 'approved'::text, '2024-05-05 10:00:00+00'::timestamptz,
               '2024-05-01 00:00:00+00'::timestamptz, '2024-05-05 10:00:00+00'::timestamptz),
              (2, test.uuid('cases', 20), 3, 'unknown', null, '2024-05-01 00:00:00+00', '2024-05-02 00:00:00+00') $$,
    'case_id = map instruction, version and approved_at copied, status from the code table'
);
select results_eq($$ select parent_entity, parent_legacy_id from sync.inbox where entity = 'treatment_plans' and status = 'parked' $$,
                  $$ values ('cases'::text, 21::bigint) $$, 'the third waits for case 21');

select * from finish();
rollback;
