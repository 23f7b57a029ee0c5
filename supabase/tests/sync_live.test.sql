-- The sync's invariants on a live target, read-only (run it against the hosted target with pg_prove:
--   pg_prove -d "$TARGET_DB_URL" supabase/tests/sync_live.test.sql
-- it needs the pgtap extension, and a role that may execute sync.invariants()). Each test names the
-- broken invariant, the entities and sample legacy ids when it fails.
begin;
select plan(6);

select is_empty($$select format('%s: %s legacy ids on more than one row, e.g. %s', entity, failing, sample)
                    from sync.invariants() where invariant = 'legacy_id_unique' and failing > 0$$,
                'legacy_id_unique: every legacy id is on one target row at most');
select is_empty($$select format('%s: %s mapped legacy ids without their target row, e.g. %s', entity, failing, sample)
                    from sync.invariants() where invariant = 'id_map_consistent' and failing > 0$$,
                'id_map_consistent: every mapped legacy id has its target row');
select is_empty($$select format('%s: %s target rows missing from the id map, e.g. %s', entity, failing, sample)
                    from sync.invariants() where invariant = 'target_rows_mapped' and failing > 0$$,
                'target_rows_mapped: every legacy id is mapped once');
select is_empty($$select format('%s: %s live rows under a soft-deleted parent, e.g. %s', entity, failing, sample)
                    from sync.invariants() where invariant = 'no_orphaned_children' and failing > 0$$,
                'no_orphaned_children: no live row references a deleted parent');
select is_empty($$select format('%s: %s changes parked too long, e.g. %s', entity, failing, sample)
                    from sync.invariants() where invariant = 'no_stale_parked' and failing > 0$$,
                'no_stale_parked: no change is parked longer than the limit');
select is_empty($$select format('%s gaps above the threshold in the last verification: %s', failing, sample)
                    from sync.invariants() where invariant = 'gaps_within_threshold' and failing > 0$$,
                'gaps_within_threshold: the last verification found no gaps above the threshold');

select * from finish();
rollback;
