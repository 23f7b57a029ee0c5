-- Target-side edits (engine.md §5), on offices: source_wins, target_wins, merge (column changed
-- only in the source, only in the target, in both, with either tie rule), newest_wins (either side
-- newer, a tie, a delete), a delete meeting an edit, manual (held, then each resolution; re-resolving refused), with exact rows.
begin;
select plan(40);

create function pg_temp.office(p_version bigint, p_name text, p_phone text, p_address text default '12 Main St')
returns bigint language sql as $$
    select test.change('offices', 1, jsonb_build_object('name', p_name, 'phone', p_phone, 'address', p_address, 'city', '',
           'state', '', 'zip_code', '', 'is_active', true, 'created_at', '2020-01-01T00:00:00+00:00',
           'updated_at', '2020-01-01T00:00:00+00:00'), '2026-01-01', p_version);
$$;
select pg_temp.office(1, 'A', '111');
select is(test.apply('offices'), '{"inserted": 1}', 'the office is synced');

-- source_wins (default): overwrite and record.
update public.offices set phone = 'T1' where legacy_office_id = 1;
select pg_temp.office(2, 'B', '111');
select is(test.apply('offices'), '{"updated": 1, "conflicts": 1}', 'source_wins: a source change over a target edit');
select results_eq($$ select name, phone from public.offices $$, $$ values ('B'::text, '111'::text) $$, 'source_wins overwrites');
select results_eq(
    $$ select strategy, status, decision, columns, source_image ->> 'phone', target_image ->> 'phone', base_image ->> 'phone',
              resolved_by from sync.conflicts $$,
    $$ values ('source_wins'::text, 'resolved'::text, 'accept_source'::text, '{phone}'::text[], '111'::text, 'T1'::text, '111'::text, 'sync'::text) $$,
    'and records the conflict with the three images, resolved automatically'
);

-- target_wins: keep the target row, record.
select sync.set_config('{"entities": {"offices": {"conflict_strategy": "target_wins"}}}');
update public.offices set phone = 'T2' where legacy_office_id = 1;
select pg_temp.office(3, 'C', '111');
select is(test.apply('offices'), '{"conflicts": 1}', 'target_wins: a source change over a target edit');
select results_eq($$ select name, phone from public.offices $$, $$ values ('B'::text, 'T2'::text) $$, 'target_wins keeps the target row');
select results_eq($$ select decision, columns from sync.conflicts order by id desc limit 1 $$,
                  $$ values ('keep_target'::text, '{phone}'::text[]) $$, 'and records it');

-- merge: name changed on both sides (tie source), phone only in the target, address only in the source.
select sync.set_config('{"entities": {"offices": {"conflict_strategy": "merge"}}}');
update public.offices set name = 'TN' where legacy_office_id = 1;
select pg_temp.office(4, 'D', '111', '9 New St');
select is(test.apply('offices'), '{"updated": 1, "conflicts": 1}', 'merge: a source change over target edits');
select results_eq($$ select name, phone, address from public.offices $$, $$ values ('D'::text, 'T2'::text, '9 New St'::text) $$,
                  'source-only column from the source, target-only column kept, both-sides column by the tie rule (source)');
select results_eq($$ select decision, columns from sync.conflicts order by id desc limit 1 $$,
                  $$ values ('merged'::text, '{name,phone}'::text[]) $$, 'the conflict names the target-side columns');
select is((select image ->> 'phone' from sync.id_map where entity = 'offices' and legacy_id = 1), 'T2',
          'the merged row is the new base: the kept edit is no conflict next time');

select sync.set_config('{"entities": {"offices": {"tie": "target"}}}');
update public.offices set name = 'TN2' where legacy_office_id = 1;
select pg_temp.office(5, 'E', '111', '9 New St');
select is(test.apply('offices'), '{"conflicts": 1, "unchanged": 1}', 'merge with tie target: the merged row equals the target row');
select results_eq($$ select name, phone from public.offices $$, $$ values ('TN2'::text, 'T2'::text) $$,
                  'a column changed on both sides keeps the target value');

-- A delete that meets a target edit.
update public.offices set phone = 'T3' where legacy_office_id = 1;
select sync.set_config('{"entities": {"offices": {"conflict_strategy": "target_wins", "tie": null}}}');
select test.gone('offices', 1, '2026-02-02', 6);
select is(test.apply('offices'), '{"conflicts": 1}', 'target_wins: a delete over a target edit');
select results_eq($$ select deleted_at, phone from public.offices $$, $$ values (null::timestamptz, 'T3'::text) $$,
                  'keeps the row');
select results_eq($$ select op, decision from sync.conflicts order by id desc limit 1 $$,
                  $$ values ('delete'::text, 'keep_target'::text) $$, 'and records a delete conflict');

-- manual: held until someone decides.
select sync.set_config('{"entities": {"offices": {"conflict_strategy": "manual"}}}');
select pg_temp.office(7, 'F', '111');
select is(test.apply('offices'), '{"conflicts": 1}', 'manual: the change is held');
select results_eq($$ select (select status from sync.inbox where entity = 'offices' order by id desc limit 1),
                            (select name from public.offices), (select status from sync.conflicts order by id desc limit 1) $$,
                  $$ values ('conflict'::text, 'TN2'::text, 'open'::text) $$, 'inbox status conflict, target untouched, conflict open');
select is((sync.resolve_conflict((select max(id) from sync.conflicts), 'accept_source', null, 'ops@example.com')) ->> 'decision',
          'accept_source', 'accept_source resolves it');
select results_eq($$ select name, phone from public.offices $$, $$ values ('F'::text, '111'::text) $$, 'and applies the held change');
select is(test.apply('offices'), '{}', 'exactly once: nothing is left to apply');
select throws_ok(format('select sync.resolve_conflict(%s, %L)', (select max(id) from sync.conflicts), 'keep_target'), 'SY409',
                 format('conflict %s is already resolved (accept_source by ops@example.com)', (select max(id) from sync.conflicts)),
                 're-resolving is refused with a clear error');

update public.offices set phone = 'T4' where legacy_office_id = 1;
select pg_temp.office(8, 'G', '111');
select test.apply('offices');
select is((sync.resolve_conflict((select max(id) from sync.conflicts), 'keep_target')) ->> 'status', 'resolved', 'keep_target resolves it');
select results_eq($$ select name, phone, (select image ->> 'phone' from sync.id_map where entity = 'offices') from public.offices $$,
                  $$ values ('F'::text, 'T4'::text, 'T4'::text) $$, 'keeps the target row, which becomes the new base');

update public.offices set phone = 'T5' where legacy_office_id = 1;
select pg_temp.office(9, 'H', '111');
select test.apply('offices');
select throws_ok(format('select sync.resolve_conflict(%s, %L, %L)', (select max(id) from sync.conflicts), 'custom', '{"nme": "x"}'),
                 'SY400', 'column "nme" is not one the sync writes for offices', 'custom rejects unknown columns');
select is((sync.resolve_conflict((select max(id) from sync.conflicts), 'custom', '{"phone": "555"}')) ->> 'decision', 'custom',
          'custom resolves it');
select results_eq($$ select name, phone from public.offices $$, $$ values ('H'::text, '555'::text) $$,
                  'with the supplied row over the held change');

-- merge (tie source): a delete that meets a target edit still deletes, and is recorded.
select sync.set_config('{"entities": {"offices": {"conflict_strategy": "merge", "tie": "source"}}}');
update public.offices set phone = 'T6' where legacy_office_id = 1;
select test.gone('offices', 1, '2026-04-04', 10);
select is(test.apply('offices'), '{"deleted": 1, "conflicts": 1}', 'merge: a delete over a target edit');
select is((select deleted_at from public.offices), '2026-04-04 00:00:00+00'::timestamptz, 'the source delete wins the tie');
select results_eq($$ select op, decision, columns from sync.conflicts order by id desc limit 1 $$,
                  $$ values ('delete'::text, 'merged'::text, '{phone}'::text[]) $$, 'and the conflict is recorded');

-- newest_wins: the side whose row changed last wins, by updated_at on both sides; ties go to the source.
select sync.set_config('{"entities": {"offices": {"conflict_strategy": "newest_wins", "tie": null}}}');
create function pg_temp.office2(p_version bigint, p_name text, p_updated text)
returns bigint language sql as $$
    select test.change('offices', 2, jsonb_build_object('name', p_name, 'phone', '222', 'address', '', 'city', '',
           'state', '', 'zip_code', '', 'is_active', true, 'created_at', '2026-01-01T00:00:00+00:00',
           'updated_at', p_updated), '2026-01-01', p_version);
$$;
select pg_temp.office2(11, 'N1', '2026-03-01T00:00:00+00:00');
select is(test.apply('offices'), '{"inserted": 1}', 'newest_wins: the office is synced');
update public.offices set phone = 'NT1', updated_at = '2026-03-05' where legacy_office_id = 2;
select pg_temp.office2(12, 'N2', '2026-03-03T00:00:00+00:00');
select is(test.apply('offices'), '{"conflicts": 1}', 'newest_wins: a source change older than the target edit');
select results_eq($$ select name, phone, updated_at from public.offices where legacy_office_id = 2 $$,
                  $$ values ('N1'::text, 'NT1'::text, '2026-03-05 00:00:00+00'::timestamptz) $$, 'keeps the newer target row');
select results_eq($$ select strategy, decision, columns, (select status from sync.inbox where entity = 'offices' order by id desc limit 1)
                       from sync.conflicts order by id desc limit 1 $$,
                  $$ values ('newest_wins'::text, 'keep_target'::text, '{phone,updated_at}'::text[], 'applied'::text) $$,
                  'and records it, the change closed as kept');
update public.offices set phone = 'NT2', updated_at = '2026-03-06' where legacy_office_id = 2;
select pg_temp.office2(13, 'N3', '2026-03-07T00:00:00+00:00');
select is(test.apply('offices'), '{"updated": 1, "conflicts": 1}', 'newest_wins: a source change newer than the target edit');
select results_eq($$ select name, phone, updated_at from public.offices where legacy_office_id = 2 $$,
                  $$ values ('N3'::text, '222'::text, '2026-03-07 00:00:00+00'::timestamptz) $$, 'overwrites the target row');
update public.offices set phone = 'NT3', updated_at = '2026-03-08' where legacy_office_id = 2;
select pg_temp.office2(14, 'N4', '2026-03-08T00:00:00+00:00');
select is(test.apply('offices'), '{"updated": 1, "conflicts": 1}', 'newest_wins: the same updated_at on both sides');
select results_eq($$ select (select phone from public.offices where legacy_office_id = 2), decision from sync.conflicts order by id desc limit 1 $$,
                  $$ values ('222'::text, 'accept_source'::text) $$, 'a tie goes to the source');
update public.offices set phone = 'NT4', updated_at = '2026-04-02' where legacy_office_id = 2;
select test.gone('offices', 2, '2026-04-01', 15);
select is(test.apply('offices'), '{"conflicts": 1}', 'newest_wins: a delete captured before the target edit');
select results_eq($$ select deleted_at, phone from public.offices where legacy_office_id = 2 $$,
                  $$ values (null::timestamptz, 'NT4'::text) $$, 'keeps the row');

select * from finish();
rollback;
