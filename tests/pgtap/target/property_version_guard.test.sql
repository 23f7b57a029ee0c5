-- Property 40 of tests/PROPERTIES.md: the apply's version guard. The id map holds the source version
-- last applied to each row; an image older than it (a backfill chunk read before a concurrent
-- update was applied, a change that arrives late) never overwrites the newer row, and of several
-- open changes to one row only the newest applies.
begin;
select plan(7);

create function pg_temp.office(p_version bigint, p_name text)
returns bigint language sql as $$
    select test.change('offices', 1, jsonb_build_object('name', p_name, 'phone', '', 'address', '', 'city', '', 'state', '',
           'zip_code', '', 'is_active', true, 'created_at', '2020-01-01T00:00:00+00:00', 'updated_at', '2020-01-01T00:00:00+00:00'),
           '2026-01-01', p_version);
$$;

select pg_temp.office(2, 'B');
select is(sync._apply_entity('offices', null), '{"inserted": 1}', 'version 2 of the office applies');

-- Version 1 arrives after version 2 was applied.
select pg_temp.office(1, 'A');
select is(sync._apply_entity('offices', null), '{"stale": 1}', 'the older version 1 is recognised as stale');
select results_eq(
    $$ select o.name, m.source_version, (select i.status || ' ' || i.reason from sync.inbox i where i.source_version = 1)
         from public.offices o join sync.id_map m on m.entity = 'offices' and m.target_id = o.id $$,
    $$ values ('B'::text, 2::bigint, 'applied stale'::text) $$,
    'it never overwrites version 2: the row and the map keep version 2, the change is closed as stale'
);
select is((select count(*)::integer from sync.conflicts), 0, 'and it is no conflict');

-- Versions 4 and 3 open together, the older one arriving last: only version 4 applies.
select pg_temp.office(4, 'D');
select pg_temp.office(3, 'C');
select is(sync._apply_entity('offices', null), '{"updated": 1}', 'of two open changes one write');
select results_eq(
    $$ select o.name, m.source_version from public.offices o join sync.id_map m on m.entity = 'offices' and m.target_id = o.id $$,
    $$ values ('D'::text, 4::bigint) $$,
    'the newest version wins, whatever the arrival order'
);
select results_eq(
    $$ select source_version, status from sync.inbox where entity = 'offices' and source_version >= 3 order by source_version $$,
    $$ values (3::bigint, 'superseded'::text), (4, 'applied') $$,
    'the older one is superseded, not applied'
);

select * from finish();
rollback;
