-- content_types ← django_content_type: the natural-key lookup, with changes.
begin;
select plan(3);

insert into sync.inbox (entity, legacy_id, op, image, source_version, captured_at) values
    ('content_types', 31, 'upsert', '{"id": 31, "app_label": "dispatch", "model": "patient"}', 1, '2026-01-01 00:00:00+00'),
    ('content_types', 77, 'upsert', '{"id": 77, "app_label": "auth", "model": "user"}', 1, '2026-01-01 00:00:00+00');
select is(sync._apply_entity('content_types', null), '{"inserted": 2}', 'two content types cached');
insert into sync.inbox (entity, legacy_id, op, image, source_version, captured_at) values
    ('content_types', 31, 'upsert', '{"id": 31, "app_label": "dispatch", "model": "client"}', 2, '2026-01-02 00:00:00+00');
select is(sync._apply_entity('content_types', null), '{"updated": 1}', 'a renamed model updates the cache');
select results_eq($$ select legacy_content_type_id, app_label, model from sync.content_types order by 1 $$,
                  $$ values (31::bigint, 'dispatch'::text, 'client'::text), (77, 'auth', 'user') $$,
                  'the lookup holds the natural keys by legacy id');

select * from finish();
rollback;
