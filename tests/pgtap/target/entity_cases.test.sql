-- cases ← dispatch_instruction: references, codes (0-based), blank notes, parking, delete, undelete.
begin;
select plan(9);

select test.parent('patients', 10), test.parent('profiles', 5), test.parent('offices', 3);
select test.change('cases', 1, '{"patient_id": 10, "doctor_id": 5, "office_id": 3, "status": 2, "product": "Clear Aligner Full",
                                 "notes": "Close the gap 🦷", "submitted_at": "2024-02-03T04:05:06+00:00",
                                 "created_at": "2024-01-01T00:00:00+00:00", "updated_at": "2024-03-01T00:00:00+00:00"}');
select test.change('cases', 2, '{"patient_id": 10, "doctor_id": null, "office_id": null, "status": 7, "product": "Retainer",
                                 "notes": "", "submitted_at": null,
                                 "created_at": "2024-01-01T00:00:00+00:00", "updated_at": "2024-01-02T00:00:00+00:00"}');
select test.change('cases', 3, '{"patient_id": 11, "doctor_id": 5, "office_id": 3, "status": 0, "product": "Lite", "notes": "",
                                 "submitted_at": null, "created_at": "2024-01-01T00:00:00+00:00", "updated_at": "2024-01-01T00:00:00+00:00"}');

select is(test.apply('cases'), '{"parked": 1, "inserted": 2}', 'two cases apply, the one whose patient is not mapped parks');
select is(test.reapply('cases'), '{"unchanged": 2}', 're-applying changes nothing');
select results_eq(
    $$ select c.id, c.legacy_instruction_id, c.patient_id, c.doctor_id, c.office_id, c.status, c.product, c.notes, c.submitted_at,
              c.created_at, c.updated_at, c.deleted_at from public.cases c order by 2 $$,
    $$ values (test.uuid('cases', 1), 1::bigint, test.uuid('patients', 10), test.uuid('profiles', 5), test.uuid('offices', 3),
               'in_progress'::text, 'Clear Aligner Full'::text, 'Close the gap 🦷'::text, '2024-02-03 04:05:06+00'::timestamptz,
               '2024-01-01 00:00:00+00'::timestamptz, '2024-03-01 00:00:00+00'::timestamptz, null::timestamptz),
              (test.uuid('cases', 2), 2, test.uuid('patients', 10), null, null, 'unknown', 'Retainer', null, null,
               '2024-01-01 00:00:00+00', '2024-01-02 00:00:00+00', null) $$,
    'patient, doctor and office through the id map, NULL stays NULL, status 2 → in_progress, 7 → unknown, blank notes → NULL'
);
select results_eq($$ select legacy_id, column_name, code from sync.integrity_issues where entity = 'cases' $$,
                  $$ values (2::bigint, 'status'::text, '7'::text) $$, 'the unknown status is recorded');

select test.parent('patients', 11);
select is(test.apply('cases'), '{"inserted": 1}', 'the parked case applies once its patient is mapped');
select is((select status from public.cases where legacy_instruction_id = 3), 'draft', 'status 0 → draft');

select test.gone('cases', 1, '2026-02-01 00:00:00+00');
select is(test.apply('cases'), '{"deleted": 1}', 'a source delete soft-deletes');
select test.change('cases', 1, '{"patient_id": 10, "doctor_id": 5, "office_id": 3, "status": 4, "product": "Clear Aligner Full",
                                 "notes": "back", "submitted_at": null, "created_at": "2024-01-01T00:00:00+00:00",
                                 "updated_at": "2026-03-01T00:00:00+00:00"}', '2026-03-01 00:00:00+00', 3);
select is(test.apply('cases'), '{"updated": 1}', 'the same legacy id inserted again is applied');
select results_eq($$ select id, status, notes, deleted_at from public.cases where legacy_instruction_id = 1 $$,
                  $$ values (test.uuid('cases', 1), 'completed'::text, 'back'::text, null::timestamptz) $$,
                  'and undeleted, with the same UUID');

select * from finish();
rollback;
