-- files ← dispatch_file, and case_files ← dispatch_file_instruction (the fan-in junction, hard delete).
begin;
select plan(9);

select test.parent('profiles', 90), test.parent('cases', 101);
select test.change('files', 1, '{"name": "Röntgen 😀.png", "path": "uploads/1/a", "size": 123456789012, "mime_type": "image/png",
                                 "uploaded_by_id": 90, "created_at": "2024-11-01T00:00:00+00:00"}');
select test.change('files', 2, '{"name": "b.stl", "path": "uploads/2/b", "size": 0, "mime_type": "model/stl",
                                 "uploaded_by_id": null, "created_at": "2024-11-02T00:00:00+00:00"}');
select test.change('files', 3, '{"name": "c", "path": "c", "size": 1, "mime_type": "x", "uploaded_by_id": 99,
                                 "created_at": "2024-11-03T00:00:00+00:00"}');
select is(test.apply('files'), '{"parked": 1, "inserted": 2}', 'two files apply, one waits for its uploader');
select is(test.reapply('files'), '{"unchanged": 2}', 're-applying changes nothing');
select results_eq(
    $$ select legacy_file_id, name, storage_path, size_bytes, mime_type, uploaded_by, created_at, updated_at from public.files order by 1 $$,
    $$ values (1::bigint, 'Röntgen 😀.png'::text, 'uploads/1/a'::text, 123456789012::bigint, 'image/png'::text, test.uuid('profiles', 90),
               '2024-11-01 00:00:00+00'::timestamptz, '2026-01-01 00:00:00+00'::timestamptz),
              (2, 'b.stl', 'uploads/2/b', 0, 'model/stl', null, '2024-11-02 00:00:00+00', '2026-01-01 00:00:00+00') $$,
    'name and mime_type copied, storage_path = path, size_bytes = size, uploaded_by = map user, updated_at = capture time'
);

select test.change('case_files', 1, '{"file_id": 1, "instruction_id": 101, "created_at": "2024-11-05T00:00:00+00:00"}');
select test.change('case_files', 2, '{"file_id": 3, "instruction_id": 101, "created_at": "2024-11-05T00:00:00+00:00"}');
select test.change('case_files', 4, '{"file_id": 2, "instruction_id": 102, "created_at": "2024-11-05T00:00:00+00:00"}');
select is(test.apply('case_files'), '{"parked": 2, "inserted": 1}', 'a link applies; links to a parked file or a missing case wait');
select results_eq($$ select legacy_file_instruction_id, file_id, case_id, created_at from public.case_files $$,
                  $$ values (1::bigint, test.uuid('files', 1), test.uuid('cases', 101), '2024-11-05 00:00:00+00'::timestamptz) $$,
                  'file and case through the id map');

select test.gone('case_files', 1);
select is(test.apply('case_files'), '{"deleted": 1}', 'a source delete of a link');
select is((select count(*)::integer from public.case_files where legacy_file_instruction_id = 1), 0, 'deletes the row (hard delete)');
-- The same pair linked again under a new legacy id, after the old link went.
select test.change('case_files', 5, '{"file_id": 1, "instruction_id": 101, "created_at": "2024-12-01T00:00:00+00:00"}');
select is(test.apply('case_files'), '{"inserted": 1}', 'the pair can be linked again');
select test.parent('profiles', 99);
select is(test.apply('files') || test.apply('case_files'), '{"inserted": 1}',
          'when the uploader arrives the file applies, and then its parked link');

select * from finish();
rollback;
