-- A Django cascade (a case, its plans, their comments, its file links, orders and payments, all
-- deleted in one legacy transaction) arrives as one batch: applied in dependency order it leaves
-- every row soft-deleted (links hard-deleted) and no dangling reference.
begin;
select plan(4);

select test.parent('profiles', 1);
select test.parent('cases', 10);
select test.parent('treatment_plans', 11, 10);
select test.parent('orders', 12, 10);
select test.parent('files', 13);
select test.change('case_messages', 14, '{"plan_id": 11, "author_id": 1, "text": "hi", "created_at": "2024-01-01T00:00:00+00:00"}');
select test.change('operations', 15, '{"order_id": 12, "type": 1, "price": "10.00", "made_at": null, "sq_order_id": null,
       "sq_payment_id": null, "sq_refund_id": null, "card_brand": null, "card_bin": null, "card_last": null, "office_card": false,
       "payment_id": null, "created_at": "2024-01-01T00:00:00+00:00"}');
select test.change('case_files', 16, '{"file_id": 13, "instruction_id": 10, "created_at": "2024-01-01T00:00:00+00:00"}');
select sync._apply(null);

select test.gone(e, id, '2026-05-05 00:00:00+00', 5)
  from (values ('case_messages', 14), ('treatment_plans', 11), ('case_files', 16), ('operations', 15), ('orders', 12),
               ('cases', 10)) v (e, id);
select is(sync._apply(null), '{"cases": {"deleted": 1}, "orders": {"deleted": 1}, "case_files": {"deleted": 1},
                               "operations": {"deleted": 1}, "case_messages": {"deleted": 1}, "treatment_plans": {"deleted": 1}}'::jsonb,
          'the whole cascade applies in one pass');
select results_eq(
    $$ select 'cases', deleted_at from public.cases where legacy_instruction_id = 10
       union all select 'treatment_plans', deleted_at from public.treatment_plans where legacy_plan_id = 11
       union all select 'orders', deleted_at from public.orders where legacy_order_id = 12
       union all select 'operations', deleted_at from public.operations where legacy_transaction_id = 15
       union all select 'case_messages', deleted_at from public.case_messages where legacy_comment_id = 14 $$,
    $$ values ('cases'::text, '2026-05-05 00:00:00+00'::timestamptz), ('treatment_plans', '2026-05-05 00:00:00+00'),
              ('orders', '2026-05-05 00:00:00+00'), ('operations', '2026-05-05 00:00:00+00'), ('case_messages', '2026-05-05 00:00:00+00') $$,
    'parent and children are soft-deleted at the capture time'
);
select is((select count(*)::integer from public.case_files), 0, 'the link is gone (hard delete)');
select is_empty(
    $$ select 1 from public.case_messages m where not exists (select 1 from public.cases c where c.id = m.case_id)
       union all select 1 from public.operations o where o.order_id is not null and not exists (select 1 from public.orders r where r.id = o.order_id) $$,
    'no reference dangles'
);

select * from finish();
rollback;
