-- operations ← dispatch_transaction: exact money or invalid_amount quarantine (released by a
-- fixing update), metadata, case derived from the order (and re-derived when it moves),
-- soft delete with a financial_delete alert.
begin;
select plan(12);

select test.parent('cases', 41), test.parent('cases', 43);
select test.parent('orders', 40, 41);
create temp table tx (legacy_id bigint, order_id bigint, type int, price text);
insert into tx values (1, 40, 1, '129.00'), (2, null, 6, ' -40.5 '), (3, 40, 2, '12,50'), (4, 40, 1, '99999999999'),
                      (5, 40, 1, null), (6, null, 4, '9999999999.99'), (7, 42, 1, '10'), (8, 40, 1, '1.999'), (9, 40, 1, '');
select test.change('operations', legacy_id, jsonb_build_object('order_id', order_id, 'type', type, 'price', price,
       'made_at', '2024-07-01T12:00:00+00:00', 'sq_order_id', 'sqo', 'sq_payment_id', null, 'sq_refund_id', null,
       'card_brand', 'VISA', 'card_bin', '411111', 'card_last', '1111', 'office_card', false, 'payment_id', 'pay_1',
       'created_at', '2024-07-01T12:00:00+00:00'))
  from tx;

select is(test.apply('operations'), '{"parked": 1, "inserted": 3, "quarantined": 5}',
          'three apply, five are quarantined, one waits for its order');
select is(test.reapply('operations'), '{"unchanged": 3}', 're-applying changes nothing');
select results_eq(
    $$ select legacy_transaction_id, order_id, case_id, operation_type, amount, made_at, metadata, created_at, updated_at
         from public.operations order by 1 $$,
    $$ values (1::bigint, test.uuid('orders', 40), test.uuid('cases', 41), 'payment'::text, 129.00::numeric,
               '2024-07-01 12:00:00+00'::timestamptz,
               '{"sq_order_id": "sqo", "sq_payment_id": null, "sq_refund_id": null, "card_brand": "VISA", "card_bin": "411111",
                 "card_last": "1111", "office_card": false, "payment_id": "pay_1"}'::jsonb,
               '2024-07-01 12:00:00+00'::timestamptz, '2026-01-01 00:00:00+00'::timestamptz),
              (2, null, null, 'other', -40.50, '2024-07-01 12:00:00+00',
               '{"sq_order_id": "sqo", "sq_payment_id": null, "sq_refund_id": null, "card_brand": "VISA", "card_bin": "411111",
                 "card_last": "1111", "office_card": false, "payment_id": "pay_1"}', '2024-07-01 12:00:00+00', '2026-01-01 00:00:00+00'),
              (6, null, null, 'adjustment', 9999999999.99, '2024-07-01 12:00:00+00',
               '{"sq_order_id": "sqo", "sq_payment_id": null, "sq_refund_id": null, "card_brand": "VISA", "card_bin": "411111",
                 "card_last": "1111", "office_card": false, "payment_id": "pay_1"}', '2024-07-01 12:00:00+00', '2026-01-01 00:00:00+00') $$,
    'amount parsed exactly after trimming spaces, unknown type → other, case from the order, metadata with exactly its keys'
);
select results_eq(
    $$ select legacy_id, reason, message from sync.quarantine where entity = 'operations' and released_at is null order by 1 $$,
    $$ values (3::bigint, 'invalid_amount'::text, 'price "12,50" is not an exact amount of at most 12 digits with 2 decimals'::text),
              (4, 'invalid_amount', 'price "99999999999" is not an exact amount of at most 12 digits with 2 decimals'),
              (5, 'invalid_amount', 'price NULL is not an exact amount of at most 12 digits with 2 decimals'),
              (8, 'invalid_amount', 'price "1.999" is not an exact amount of at most 12 digits with 2 decimals'),
              (9, 'invalid_amount', 'price "" is not an exact amount of at most 12 digits with 2 decimals') $$,
    'each bad price is quarantined with its reason and a human message'
);
select is((select count(*)::integer from sync.inbox where entity = 'operations' and status = 'quarantined'), 5,
          'the quarantined changes stay in the inbox');

select test.change('operations', 3, '{"order_id": 40, "type": 2, "price": "12.50", "made_at": null, "sq_order_id": null,
       "sq_payment_id": null, "sq_refund_id": "r", "card_brand": null, "card_bin": null, "card_last": null, "office_card": true,
       "payment_id": null, "created_at": "2024-07-02T00:00:00+00:00"}', '2026-01-02 00:00:00+00', 2);
select is(test.apply('operations'), '{"inserted": 1}', 'a fixing update applies');
select results_eq($$ select released_by is not null, (select amount from public.operations where legacy_transaction_id = 3)
                      from sync.quarantine where entity = 'operations' and legacy_id = 3 $$,
                  $$ values (true, 12.50::numeric) $$, 'and releases the quarantine');

-- The order moves to another case: the operation's derived case follows.
select test.change('orders', 40, '{"instruction_id": 43, "patient_id": 800040, "office_id": null, "total": 1, "status": 1,
                                   "created_at": "2019-01-01T00:00:00+00:00", "updated_at": "2026-01-03T00:00:00+00:00"}');
select is(sync._apply_entity('orders', null), '{"updated": 1, "rederived": 2}', 'the order update re-derives its operations');
select results_eq($$ select legacy_transaction_id, case_id from public.operations where order_id = test.uuid('orders', 40) order by 1 $$,
                  $$ values (1::bigint, test.uuid('cases', 43)), (3, test.uuid('cases', 43)) $$,
                  'operations.case_id follows the order''s case');
select is((select image ->> 'case_id' from sync.id_map where entity = 'operations' and legacy_id = 1), test.uuid('cases', 43)::text,
          'and the last written image follows too (no false conflict later)');

select test.gone('operations', 1, '2026-02-01 00:00:00+00');
select is(test.apply('operations'), '{"deleted": 1}', 'a source delete soft-deletes, never hard-deletes a payment');
select results_eq($$ select kind, severity, dedup_key, (details ->> 'legacy_id')::bigint from sync.alerts $$,
                  $$ values ('financial_delete'::text, 'critical'::text, 'financial_delete:operations:1'::text, 1::bigint) $$,
                  'and raises a critical financial_delete alert (engine.md §9)');

select * from finish();
rollback;
