-- case_messages ← dispatch_comment: the plan → case chain (re-derived when the plan moves),
-- subject from the first non-blank line, classification by ASCII case-insensitive contains.
begin;
select plan(6);

select test.parent('cases', 70), test.parent('cases', 73), test.parent('profiles', 72);
select test.parent('treatment_plans', 71, 70);
create temp table cm (legacy_id bigint, plan_id bigint, author_id bigint, body text);
insert into cm values
    (1, 71, 72, 'Looks GOOD to me'),
    (2, 71, null, E'\n\n  \t First line \r\nSecond?'),
    (3, 71, 72, 'Updated the Treatment'),
    (4, 71, 72, ''),
    (5, 71, 72, repeat('ñ', 79) || 'éx' || E'\nmore'),
    (6, 71, 72, 'QUESTİON about İ'),
    (7, 79, 72, 'waits'),
    (8, 71, 72, E'   \t\r\n  \t ');
select test.change('case_messages', legacy_id, jsonb_build_object('plan_id', plan_id, 'author_id', author_id, 'text', body,
                                                                  'created_at', '2024-09-01T00:00:00+00:00'))
  from cm;

select is(test.apply('case_messages'), '{"parked": 1, "inserted": 7}', 'seven apply, one waits for its plan');
select is(test.reapply('case_messages'), '{"unchanged": 7}', 're-applying changes nothing');
select results_eq(
    $$ select legacy_comment_id, case_id, treatment_plan_id, sender_id, message_type, subject, requires_response, is_confidential,
              sent_at, metadata from public.case_messages order by 1 $$,
    $$ values (1::bigint, test.uuid('cases', 70), test.uuid('treatment_plans', 71), test.uuid('profiles', 72), 'doctor_response'::text,
               'Looks GOOD to me'::text, false, true, '2024-09-01 00:00:00+00'::timestamptz,
               '{"legacy_plan_id": 71, "legacy_author_id": 72}'::jsonb),
              (2, test.uuid('cases', 70), test.uuid('treatment_plans', 71), null, 'patient_question', 'First line', true, true,
               '2024-09-01 00:00:00+00', '{"legacy_plan_id": 71, "legacy_author_id": null}'),
              (3, test.uuid('cases', 70), test.uuid('treatment_plans', 71), test.uuid('profiles', 72), 'treatment_update',
               'Updated the Treatment', false, true, '2024-09-01 00:00:00+00', '{"legacy_plan_id": 71, "legacy_author_id": 72}'),
              (4, test.uuid('cases', 70), test.uuid('treatment_plans', 71), test.uuid('profiles', 72), 'clinical_note', '', false, true,
               '2024-09-01 00:00:00+00', '{"legacy_plan_id": 71, "legacy_author_id": 72}'),
              (5, test.uuid('cases', 70), test.uuid('treatment_plans', 71), test.uuid('profiles', 72), 'clinical_note',
               repeat('ñ', 79) || 'é', false, true, '2024-09-01 00:00:00+00', '{"legacy_plan_id": 71, "legacy_author_id": 72}'),
              (6, test.uuid('cases', 70), test.uuid('treatment_plans', 71), test.uuid('profiles', 72), 'clinical_note',
               'QUESTİON about İ', false, true, '2024-09-01 00:00:00+00', '{"legacy_plan_id": 71, "legacy_author_id": 72}'),
              (8, test.uuid('cases', 70), test.uuid('treatment_plans', 71), test.uuid('profiles', 72), 'clinical_note', '', false, true,
               '2024-09-01 00:00:00+00', '{"legacy_plan_id": 71, "legacy_author_id": 72}') $$,
    'case through the plan; subject = first non-blank line trimmed of spaces, tabs and CR, 80 code points; ASCII-only case folding'
);
select is((select content from public.case_messages where legacy_comment_id = 2), E'\n\n  \t First line \r\nSecond?',
          'content is the text exactly');

-- The plan moves to another case: its comments follow.
select test.change('treatment_plans', 71, '{"instruction_id": 73, "version": 1, "status": 1, "approved_at": null,
                                            "created_at": "2019-01-01T00:00:00+00:00", "updated_at": "2026-01-01T00:00:00+00:00"}');
select is(sync._apply_entity('treatment_plans', null), '{"updated": 1, "rederived": 7}', 'the plan update re-derives its comments');
select is((select count(*)::integer from public.case_messages where case_id = test.uuid('cases', 73)), 7,
          'case_messages.case_id follows the plan''s case');

select * from finish();
rollback;
