-- A Django cascade. A case with its plan, comment, file link, order and payment arrives in one
-- batch, children ahead of their parents: one pass applies every change in dependency order (a
-- child applied before its parent would park). Then the whole cascade is deleted in one legacy
-- transaction: one pass applies every delete, every row is soft-deleted at the capture time (the
-- link hard-deleted), and the children still point at their soft-deleted parents.
begin;
select plan(7);

select test.parent('profiles', 1);
select test.parent('patients', 2);
-- Arrival order: children first (lower inbox ids), parents last.
select test.change('case_files', 16, '{"file_id": 13, "instruction_id": 10, "created_at": "2024-01-01T00:00:00+00:00"}');
select test.change('operations', 15, '{"order_id": 12, "type": 1, "price": "10.00", "made_at": null, "sq_order_id": null,
       "sq_payment_id": null, "sq_refund_id": null, "card_brand": null, "card_bin": null, "card_last": null, "office_card": false,
       "payment_id": null, "created_at": "2024-01-01T00:00:00+00:00"}');
select test.change('case_messages', 14, '{"plan_id": 11, "author_id": 1, "text": "hi", "created_at": "2024-01-01T00:00:00+00:00"}');
select test.change('files', 13, '{"name": "f", "path": "p", "size": 1, "mime_type": "x", "uploaded_by_id": 1,
       "created_at": "2024-01-01T00:00:00+00:00"}');
select test.change('orders', 12, '{"instruction_id": 10, "patient_id": 2, "office_id": null, "total": 10.00, "status": 1,
       "created_at": "2024-01-01T00:00:00+00:00", "updated_at": "2024-01-01T00:00:00+00:00"}');
select test.change('treatment_plans', 11, '{"instruction_id": 10, "version": 1, "status": 1, "approved_at": null,
       "created_at": "2024-01-01T00:00:00+00:00", "updated_at": "2024-01-01T00:00:00+00:00"}');
select test.change('cases', 10, '{"patient_id": 2, "doctor_id": 1, "office_id": null, "status": 1, "product": "x", "notes": "",
       "submitted_at": null, "created_at": "2024-01-01T00:00:00+00:00", "updated_at": "2024-01-01T00:00:00+00:00"}');
select is(sync._apply(null), '{"cases": {"inserted": 1}, "files": {"inserted": 1}, "orders": {"inserted": 1}, "case_files": {"inserted": 1},
                               "operations": {"inserted": 1}, "case_messages": {"inserted": 1}, "treatment_plans": {"inserted": 1}}'::jsonb,
          'children that arrive ahead of their parents apply in the same pass');

select test.gone(e, id, '2026-05-05 00:00:00+00', 5)
  from (values ('case_messages', 14), ('treatment_plans', 11), ('case_files', 16), ('operations', 15), ('orders', 12),
               ('cases', 10)) v (e, id);
select is(sync._apply(null), '{"cases": {"deleted": 1}, "orders": {"deleted": 1}, "case_files": {"deleted": 1},
                               "operations": {"deleted": 1}, "case_messages": {"deleted": 1}, "treatment_plans": {"deleted": 1}}'::jsonb,
          'the whole cascade applies in one pass');
select results_eq(
    $$ select entity, legacy_id, op, status, parent_entity from sync.inbox order by id $$,
    $$ values ('case_files'::text, 16::bigint, 'upsert'::text, 'applied'::text, null::text), ('operations', 15, 'upsert', 'applied', null),
              ('case_messages', 14, 'upsert', 'applied', null), ('files', 13, 'upsert', 'applied', null),
              ('orders', 12, 'upsert', 'applied', null), ('treatment_plans', 11, 'upsert', 'applied', null),
              ('cases', 10, 'upsert', 'applied', null),
              ('case_messages', 14, 'delete', 'applied', null), ('treatment_plans', 11, 'delete', 'applied', null),
              ('case_files', 16, 'delete', 'applied', null), ('operations', 15, 'delete', 'applied', null),
              ('orders', 12, 'delete', 'applied', null), ('cases', 10, 'delete', 'applied', null) $$,
    'every change of the cascade is applied: none parked, none superseded, none left pending'
);
select results_eq(
    $$ select 'cases', deleted_at from public.cases where legacy_instruction_id = 10
       union all select 'treatment_plans', deleted_at from public.treatment_plans where legacy_plan_id = 11
       union all select 'orders', deleted_at from public.orders where legacy_order_id = 12
       union all select 'operations', deleted_at from public.operations where legacy_transaction_id = 15
       union all select 'case_messages', deleted_at from public.case_messages where legacy_comment_id = 14
       union all select 'files', deleted_at from public.files where legacy_file_id = 13 $$,
    $$ values ('cases'::text, '2026-05-05 00:00:00+00'::timestamptz), ('treatment_plans', '2026-05-05 00:00:00+00'),
              ('orders', '2026-05-05 00:00:00+00'), ('operations', '2026-05-05 00:00:00+00'), ('case_messages', '2026-05-05 00:00:00+00'),
              ('files', null) $$,
    'parent and children are soft-deleted at the capture time; the file, not deleted in the source, stays'
);
select is((select count(*)::integer from public.case_files), 0, 'the link is gone (hard delete)');
select results_eq(
    $$ select 'treatment_plans.case_id', case_id from public.treatment_plans where legacy_plan_id = 11
       union all select 'orders.case_id', case_id from public.orders where legacy_order_id = 12
       union all select 'orders.patient_id', patient_id from public.orders where legacy_order_id = 12
       union all select 'operations.order_id', order_id from public.operations where legacy_transaction_id = 15
       union all select 'operations.case_id', case_id from public.operations where legacy_transaction_id = 15
       union all select 'case_messages.treatment_plan_id', treatment_plan_id from public.case_messages where legacy_comment_id = 14
       union all select 'case_messages.case_id', case_id from public.case_messages where legacy_comment_id = 14
       union all select 'case_messages.sender_id', sender_id from public.case_messages where legacy_comment_id = 14 $$,
    $$ values ('treatment_plans.case_id'::text, test.uuid('cases', 10)), ('orders.case_id', test.uuid('cases', 10)),
              ('orders.patient_id', test.uuid('patients', 2)), ('operations.order_id', test.uuid('orders', 12)),
              ('operations.case_id', test.uuid('cases', 10)), ('case_messages.treatment_plan_id', test.uuid('treatment_plans', 11)),
              ('case_messages.case_id', test.uuid('cases', 10)), ('case_messages.sender_id', test.uuid('profiles', 1)) $$,
    'the soft-deleted children still point at their soft-deleted parents'
);
select results_eq(
    $$ select entity, legacy_id, deleted from sync.id_map where entity not in ('profiles', 'offices', 'patients') order by 1 $$,
    $$ values ('case_files'::text, 16::bigint, true), ('case_messages', 14, true), ('cases', 10, true), ('files', 13, false),
              ('operations', 15, true), ('orders', 12, true), ('treatment_plans', 11, true) $$,
    'the id map keeps every deleted row, marked deleted, so a row that comes back gets its UUID again'
);

select * from finish();
rollback;
