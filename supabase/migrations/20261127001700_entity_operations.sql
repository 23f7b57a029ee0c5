-- Entity operations ← dispatch_transaction (mappings.md): money parsed exactly or quarantined
-- (invalid_amount); case_id derived from the order's case and re-derived when the order changes;
-- a source delete soft-deletes and raises a financial_delete alert.
create function sync.transform_operations()
returns setof sync.transformed
language sql
stable
as $$
    select i.work_id,
           case when st.amount is null then 'quarantine' when st.order_id is not null and mo.target_id is null then 'park'
                else 'write' end,
           case when st.amount is not null and (st.order_id is null or mo.target_id is not null) then jsonb_build_object(
               -- (a probe of the order, never a hash join over all orders: that costs a scan of them per chunk)
               'order_id', mo.target_id, 'case_id', (select o.case_id from public.orders o where o.id = mo.target_id),
               'operation_type', coalesce(sync.code_label((i.image ->> 'type')::integer, '{payment,refund,chargeback,adjustment}'), 'other'),
               'amount', st.amount, 'made_at', i.image -> 'made_at',
               'metadata', jsonb_build_object('sq_order_id', i.image -> 'sq_order_id', 'sq_payment_id', i.image -> 'sq_payment_id',
                                              'sq_refund_id', i.image -> 'sq_refund_id', 'card_brand', i.image -> 'card_brand',
                                              'card_bin', i.image -> 'card_bin', 'card_last', i.image -> 'card_last',
                                              'office_card', i.image -> 'office_card', 'payment_id', i.image -> 'payment_id'),
               'created_at', i.image -> 'created_at', 'updated_at', i.captured_at) end,
           case when st.amount is not null and st.order_id is not null and mo.target_id is null then 'orders' end,
           case when st.amount is not null and st.order_id is not null and mo.target_id is null then st.order_id end,
           case when st.amount is null then 'invalid_amount' end,
           case when st.amount is null then format('price %s is not an exact amount of at most 12 digits with 2 decimals',
                                                   coalesce(to_json(i.image ->> 'price')::text, 'NULL')) end,
           case when sync.code_label((i.image ->> 'type')::integer, '{payment,refund,chargeback,adjustment}') is null
                then jsonb_build_array(jsonb_build_object('column', 'type', 'code', i.image ->> 'type')) end
      from sync.work_images i
     cross join lateral (select (i.image ->> 'order_id')::bigint as order_id, sync.parse_amount(i.image ->> 'price') as amount offset 0) st
      left join sync.id_map mo on mo.entity = 'orders' and mo.legacy_id = st.order_id
     where i.op = 'upsert';
$$;
revoke execute on function sync.transform_operations() from public;

insert into sync.entities (name, source_table, target_table, legacy_id_column, transform, write_columns, depends_on,
                           delete_alert, derive)
values ('operations', 'public.dispatch_transaction', 'public.operations', 'legacy_transaction_id', 'sync.transform_operations',
        '{order_id,case_id,operation_type,amount,made_at,metadata,created_at,updated_at}', '{orders}', 'financial_delete',
        '[{"parent": "orders", "fk": "order_id", "column": "case_id", "parent_column": "case_id"}]');
