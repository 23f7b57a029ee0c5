-- audit_events ← dispatch_auditlog (an optional entity): the user through the id map, NULL stays NULL,
-- parking and release, blank object_repr → NULL, update, soft delete and undelete; each apply run twice.
begin;
select plan(13);

select results_eq(
    $$ select source_table, target_table = 'public.audit_events'::regclass, legacy_id_column, depends_on, delete_mode, optional, available
         from sync.entities where name = 'audit_events' $$,
    $$ values ('public.dispatch_auditlog'::text, true, 'legacy_auditlog_id'::text, '{profiles}'::text[],
               'soft'::text, true, true) $$,
    'one registry row: optional, after profiles, soft delete; available until a source lacks its table'
);

select test.parent('profiles', 90);
select test.change('audit_events', 1, '{"user_id": 90, "action": "login", "object_repr": "Ana María 😀",
                                        "created_at": "2024-11-01T00:00:00+00:00"}');
select test.change('audit_events', 2, '{"user_id": null, "action": "export", "object_repr": "",
                                        "created_at": "2024-11-02T00:00:00+00:00"}');
select test.change('audit_events', 3, '{"user_id": 99, "action": "delete_case", "object_repr": " ",
                                        "created_at": "2024-11-03T00:00:00+00:00"}');
select is(test.apply('audit_events'), '{"parked": 1, "inserted": 2}', 'two events apply, one waits for its user');
select results_eq($$ select legacy_id, status, parent_entity, parent_legacy_id from sync.inbox where entity = 'audit_events' order by 1 $$,
                  $$ values (1::bigint, 'applied'::text, null::text, null::bigint), (2, 'applied', null, null),
                            (3, 'parked', 'profiles', 99) $$,
                  'the third is parked on user 99, never written with NULL');
select results_eq(
    $$ select legacy_auditlog_id, profile_id, action, object_repr, created_at, updated_at, deleted_at from public.audit_events order by 1 $$,
    $$ values (1::bigint, test.uuid('profiles', 90), 'login'::text, 'Ana María 😀'::text, '2024-11-01 00:00:00+00'::timestamptz,
               '2026-01-01 00:00:00+00'::timestamptz, null::timestamptz),
              (2, null, 'export', null, '2024-11-02 00:00:00+00', '2026-01-01 00:00:00+00', null) $$,
    'profile_id = map user, NULL stays NULL; action copied; object_repr blank → NULL; updated_at = capture time'
);
select is((select id from public.audit_events where legacy_auditlog_id = 1), test.uuid('audit_events', 1),
          'the id derives from (audit_events, legacy id)');

select test.change('audit_events', 1, '{"user_id": null, "action": "logout", "object_repr": "Ana María 😀",
                                        "created_at": "2024-11-01T00:00:00+00:00"}', '2026-01-15 00:00:00+00', 2);
select is(test.apply('audit_events'), '{"updated": 1}', 'an update applies');
select results_eq($$ select profile_id, action, updated_at from public.audit_events where legacy_auditlog_id = 1 $$,
                  $$ values (null::uuid, 'logout'::text, '2026-01-15 00:00:00+00'::timestamptz) $$,
                  'the user cleared, the new action, updated_at the new capture time');

select test.gone('audit_events', 2, '2026-02-01 00:00:00+00', 2);
select is(test.apply('audit_events'), '{"deleted": 1}', 'a source delete');
select is((select deleted_at from public.audit_events where legacy_auditlog_id = 2), '2026-02-01 00:00:00+00'::timestamptz,
          'soft-deletes at the capture time');
select test.change('audit_events', 2, '{"user_id": 90, "action": "export", "object_repr": "orders.csv",
                                        "created_at": "2024-11-02T00:00:00+00:00"}', '2026-03-01 00:00:00+00', 3);
select is(test.apply('audit_events'), '{"updated": 1}', 'the same legacy id inserted again is applied');

select test.parent('profiles', 99);
select is(test.apply('audit_events'), '{"inserted": 1}', 'when user 99 arrives the parked event applies');
select results_eq(
    $$ select legacy_auditlog_id, id, profile_id, action, object_repr, deleted_at from public.audit_events order by 1 $$,
    $$ values (1::bigint, test.uuid('audit_events', 1), null::uuid, 'logout'::text, 'Ana María 😀'::text, null::timestamptz),
              (2, test.uuid('audit_events', 2), test.uuid('profiles', 90), 'export', 'orders.csv', null),
              (3, test.uuid('audit_events', 3), test.uuid('profiles', 99), 'delete_case', ' ', null) $$,
    'undeleted with the same UUID; the released row has its user; only '''' counts as blank'
);

-- A source without the table (connect_source marks the entity unavailable): out of the apply order
-- (apply, backfill, verify, run control), no source relation; the others keep their order.
update sync.entities set available = false where name = 'audit_events';
select results_eq($$ select (select count(*)::integer from sync._apply_order() o where o.name = 'audit_events'),
                            sync._source_relation('audit_events'),
                            (select count(*)::integer from sync._apply_order()) $$,
                  $$ values (0, null::text, (select count(*)::integer - 1 from sync.entities)) $$,
                  'an unavailable entity is out of the apply order and has no source relation');

select * from finish();
rollback;
