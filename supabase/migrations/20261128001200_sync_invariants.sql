-- The invariants an operator checks on a live target (supabase/tests/sync_live.test.sql, with
-- pg_prove): read-only, from the target alone (gaps come from the last verification, which read the
-- source). One row per invariant and entity: how many rows break it and a sample of legacy ids.
--   legacy_id_unique       a legacy id appears on one target row at most
--   id_map_consistent      every mapped legacy id has its target row, with that legacy id
--   target_rows_mapped     every target row with a legacy id is in the id map
--   no_orphaned_children   no live row references a soft-deleted parent
--   no_stale_parked        no change parked longer than alerts.thresholds.parked_minutes
--   gaps_within_threshold  the last verification's unrepaired gaps are within alerts.thresholds.gaps
create function sync.invariants()
returns table (invariant text, entity text, failing bigint, sample jsonb)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    e sync.entities;
    v_fk record;
    v_live text;
    v_t jsonb := sync.get_config() #> '{alerts,thresholds}';
begin
    for e in select * from sync.entities order by name loop
        v_live := case when e.has_deleted_at then 'x.deleted_at is null' else 'true' end;
        invariant := 'legacy_id_unique'; entity := e.name;
        execute format($q$select count(*), coalesce(jsonb_agg(d.l order by d.l) filter (where d.n <= 10), '[]')
                            from (select x.%2$I as l, row_number() over (order by x.%2$I) as n from %1$s x
                                   where x.%2$I is not null group by x.%2$I having count(*) > 1) d$q$,
                       e.target_table, e.legacy_id_column) into failing, sample;
        return next;
        invariant := 'id_map_consistent';
        execute format($q$select count(*), coalesce(jsonb_agg(d.legacy_id order by d.legacy_id) filter (where d.n <= 10), '[]')
                            from (select m.legacy_id, row_number() over (order by m.legacy_id) as n from sync.id_map m
                                   where m.entity = $1 and not m.deleted
                                     and not exists (select 1 from %1$s x where x.id = m.target_id and x.%2$I = m.legacy_id)) d$q$,
                       e.target_table, e.legacy_id_column) into failing, sample using e.name;
        return next;
        invariant := 'target_rows_mapped';
        execute format($q$select count(*), coalesce(jsonb_agg(d.l order by d.l) filter (where d.n <= 10), '[]')
                            from (select x.%2$I as l, row_number() over (order by x.%2$I) as n from %1$s x
                                   where x.%2$I is not null
                                     and not exists (select 1 from sync.id_map m where m.entity = $1 and m.legacy_id = x.%2$I)) d$q$,
                       e.target_table, e.legacy_id_column) into failing, sample using e.name;
        return next;
        invariant := 'no_orphaned_children'; failing := 0; sample := '[]';
        for v_fk in
            select a.attname as fk, p.target_table as parent_table
              from pg_catalog.pg_constraint c
              join pg_catalog.pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
              join sync.entities p on p.target_table = c.confrelid and p.has_deleted_at
             where c.contype = 'f' and c.conrelid = e.target_table and cardinality(c.conkey) = 1
             order by a.attname
        loop
            execute format($q$select $1 + count(*), $2 || coalesce(jsonb_agg(x.%4$I order by x.%4$I) filter (where x.%4$I is not null), '[]')
                                from (select x.* from %1$s x join %2$s p on p.id = x.%3$I
                                       where %5$s and p.deleted_at is not null order by x.%4$I limit 1000) x$q$,
                           e.target_table, v_fk.parent_table, v_fk.fk, e.legacy_id_column, v_live)
               into failing, sample using failing, sample;
        end loop;
        sample := (select coalesce(jsonb_agg(s), '[]') from (select s from jsonb_array_elements(sample) s limit 10) x);
        return next;
        invariant := 'no_stale_parked';
        select count(*), coalesce(jsonb_agg(i.legacy_id order by i.legacy_id) filter (where i.n <= 10), '[]')
          into failing, sample
          from (select i.legacy_id, row_number() over (order by i.legacy_id) as n from sync.inbox i
                 where i.entity = e.name and i.status = 'parked'
                   and i.created_at < pg_catalog.now() - make_interval(mins => (v_t ->> 'parked_minutes')::integer)) i;
        return next;
    end loop;
    invariant := 'gaps_within_threshold'; entity := null;
    select coalesce(sum(coalesce((g.value #>> '{gaps,missing}')::bigint, 0) + coalesce((g.value #>> '{gaps,orphaned}')::bigint, 0)), 0),
           coalesce(jsonb_object_agg(g.key, g.value -> 'gaps') filter (where g.value -> 'gaps' <> 'null'), '{}')
      into failing, sample
      from (select r.summary from sync.runs r where r.mode = 'verify' and r.status = 'succeeded' order by r.id desc limit 1) v,
           jsonb_each(v.summary -> 'entities') g
     where not (v.summary -> 'repaired') ? g.key;
    failing := case when coalesce(failing, 0) > (v_t ->> 'gaps')::numeric then failing else 0 end;
    return next;
end;
$$;
comment on function sync.invariants() is
    'The live invariants (legacy ids unique and mapped once, id map consistent, no orphaned children, no stale parked rows, gaps within the threshold): one row per invariant and entity with the failing count and sample legacy ids. Read-only.';
revoke execute on function sync.invariants() from public;
