-- Logical-decoding capture (engine.md §1, capture = 'logical'): the source's wal2json slot, read
-- through postgres_fdw (which cannot call functions) by the objects sql/capture/install.sql creates
-- with --capture logical: sync_capture.logical_changes (a view over the slot's peek: changed keys in
-- commit order, the slot is not consumed), sync_capture.logical (a control row: its update advances
-- the slot, and bounds the next peek) and sync_capture.logical_status (wal_level, REPLICATION, the
-- slot and the WAL it retains).
--
-- The batch contract of the trigger pull, on one remote REPEATABLE READ transaction:
--  1. the source's snapshot S first (sync_src_capture.current_snapshot): every row is read at S;
--  2. the slot is confirmed (advanced) to the cursor that this target has COMMITTED (sync.source.logical_lsn,
--     the end of the last commit in the inbox): never further, so a crash can lose nothing;
--  3. the peek, bounded by batch_size (whole transactions), keeps only the commits at or after the cursor
--     (a commit decoded again is never ingested twice);
--  4. decoded transactions are consumed in commit order while their xid is visible in S (a transaction
--     committed after S was taken is left, with everything after it, for the next pull: its rows are
--     not in S), up to batch_size changes (a single larger transaction is taken whole);
--  5. their keys go to sync.work_pull (a truncate: every key of the table's entity mapped or waiting
--     here, so that a key not re-inserted becomes a delete), the rows are read at S (absent = delete),
--     and sync._ingest_work writes the inbox; the cursor moves in the same target transaction.
-- The slot therefore lags the inbox by one pull: the WAL of one batch more is retained.

alter table sync.source add column logical_lsn pg_lsn, add column logical_committed_at timestamptz,
    add column logical_identity jsonb;
comment on column sync.source.logical_lsn is
    'Logical capture''s cursor: every source transaction that committed before this WAL position is in the inbox (the end of the last one ingested). The slot is confirmed up to it at the start of the next pull.';
comment on column sync.source.logical_committed_at is 'Logical capture: the commit time of the last source transaction ingested.';
comment on column sync.source.logical_identity is
    'Logical capture: the source identity logical_lsn belongs to (WAL positions mean nothing on another server: a cursor of another identity is ignored).';

-- One pull's decoded changes (sync_src_capture.logical_changes, at or after the cursor).
create unlogged table sync.work_logical (
    commit_lsn pg_lsn not null,
    end_lsn pg_lsn not null,
    xid bigint not null,
    committed_at timestamptz not null,
    pos bigint not null,
    tbl text,
    pk bigint,
    op text not null
);
revoke all on table sync.work_logical from public;

-- The full (epoch-qualified) transaction id of a 32-bit xid that wal2json reports, relative to a
-- snapshot's xmax: the nearest one (within 2^31), so an xid at or after xmax stays at or after it.
create function sync._xid8_near(p_xid bigint, p_ref xid8)
returns xid8
language sql
immutable
set search_path = ''
as $$
    select greatest(p_ref::text::bigint
                    + ((((p_xid - p_ref::text::bigint % 4294967296) % 4294967296) + 4294967296 + 2147483648) % 4294967296
                       - 2147483648), 0)::text::xid8;
$$;

-- Raises, with what to do, when the source's logical capture state (a row of
-- sync_capture.logical_status, as jsonb) cannot be decoded from: not installed, wal_level not logical,
-- the reader without REPLICATION (SY400), the slot missing or lost (p_slot_status: SY400 at connect,
-- SY409 in a pull), not wal2json (SY400).
create function sync._logical_check(p_status jsonb, p_slot_status integer)
returns void
language plpgsql
immutable
set search_path = ''
as $$
declare
    v_fix constant text := 'deno task source:install -- <legacy-db-url> --capture logical --reader <role>';
begin
    if p_status is null or p_status ->> 'slot' is null then
        perform sync._raise(400, 'logical capture is not installed on the source; install it: ' || v_fix);
    end if;
    if p_status ->> 'wal_level' <> 'logical' then
        perform sync._raise(400, format('the source runs with wal_level = %s; logical capture needs wal_level = logical '
                                        '(set it on the source and restart it, then %s)', p_status ->> 'wal_level', v_fix));
    end if;
    if not (p_status ->> 'can_replicate')::boolean then
        perform sync._raise(400, format('the reader role %s lacks the REPLICATION attribute that logical decoding needs; '
                                        'as a superuser on the source: alter role %I replication',
                                        p_status ->> 'reader', p_status ->> 'reader'));
    end if;
    if not (p_status ->> 'slot_exists')::boolean or p_status ->> 'wal_status' = 'lost' then
        perform sync._raise(p_slot_status, format('the decoding slot %s on the source is %s: logical capture cannot continue',
                                                  p_status ->> 'slot',
                                                  case when (p_status ->> 'slot_exists')::boolean then 'lost (its WAL was removed)'
                                                       else 'missing' end),
                            format('re-baseline: %s, connect_source, then a full backfill and verify with repair (README, Logical capture)', v_fix));
    end if;
    if p_status ->> 'plugin' <> 'wal2json' then
        perform sync._raise(400, format('the slot %s on the source decodes with %s, not wal2json', p_status ->> 'slot', p_status ->> 'plugin'));
    end if;
end;
$$;

-- Logical capture's connect, in connect_source's transaction: imports the logical objects, checks
-- wal_level, the reader's REPLICATION attribute and the slot (SY400 with what to do), registers the
-- captured tables on the source without triggers (a table captured by triggers before has them
-- removed), and returns {capture_version, identity}. A source connected before with another mode
-- starts at the slot's position (its cursor is cleared).
create or replace function sync._connect_logical()
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_version integer;
    v_identity jsonb;
    v_st record;
    v_fix constant text := 'deno task source:install -- <legacy-db-url> --capture logical --reader <role>';
begin
    import foreign schema sync_capture limit to (logical, logical_changes, logical_status)
        from server sync_source into sync_src_capture;
    if to_regclass('sync_src_capture.logical_status') is null or to_regclass('sync_src_capture.logical_changes') is null
       or to_regclass('sync_src_capture.logical') is null then
        perform sync._raise(400, 'logical capture is not installed on the source; install it: ' || v_fix);
    end if;
    select v.version into v_version from sync_src_capture.version v;
    select * into v_st from sync_src_capture.logical_status;
    if not found then
        perform sync._raise(400, 'logical capture is not installed on the source (sync_capture.logical is empty); install it: ' || v_fix);
    end if;
    perform sync._logical_check(to_jsonb(v_st), 400);
    select c.identity into v_identity from sync_src_capture.current_snapshot c;
    -- The captured tables, without triggers (enabled = false drops any a trigger capture left).
    insert into sync_src_capture.tables (tbl, enabled, changed_at)
    select source_table, false, now() from sync.entities where available
    on conflict do nothing;
    update sync_src_capture.tables set enabled = false, changed_at = now()
     where enabled and tbl in (select source_table from sync.entities where available);
    update sync.source set logical_lsn = null, logical_committed_at = null, logical_identity = null
     where capture_mode is distinct from 'logical';
    return jsonb_build_object('capture_version', v_version, 'identity', v_identity);
end;
$$;

-- Logical capture: pulls one bounded batch into the inbox and moves the cursor, in the caller's
-- transaction (see the top of this file). Returns {batch_id, changes, rows, more, pages_left: null,
-- lsn: the new cursor}, or {refused: 'source_changed', ...} (nothing written) when the source is
-- not the one recorded at connect.
-- Raises SY409 when the slot is lost or missing (re-baseline), SY400 when the reader lost REPLICATION.
create or replace function sync._pull_logical(p_run_id bigint, p_limit integer default null)
returns jsonb
language plpgsql
set search_path = ''
set jit = off
as $$
declare
    s sync.source;
    v_limit integer := coalesce(p_limit, (sync.get_config() ->> 'batch_size')::integer);
    v_snap text;
    v_bound pg_snapshot;
    v_identity jsonb;
    v_refused jsonb;
    v_cursor pg_lsn;
    v_st jsonb;
    v_version bigint;
    v_upto integer;
    v_decoded bigint;
    v_last pg_lsn;
    v_end pg_lsn;
    v_at timestamptz;
    v_changes integer;
    v_more boolean;
    v_result jsonb;
begin
    select * into s from sync.source for update;
    select p.snap, p.identity, p.refused into v_snap, v_identity, v_refused from sync._pull_point() p;
    if v_refused is not null then
        return v_refused;
    end if;
    v_bound := v_snap::pg_snapshot;
    v_version := pg_catalog.pg_snapshot_xmax(v_bound)::text::bigint;
    -- A cursor recorded on another source (re-baselined by a full backfill since) is no position here.
    v_cursor := case when s.logical_identity is not distinct from v_identity then s.logical_lsn end;

    select to_jsonb(st) into v_st from sync_src_capture.logical_status st;
    perform sync._logical_check(v_st, 409);

    -- Confirm what this target has committed (the slot never gets ahead of the inbox), and bound the
    -- peek: at most 3 * batch_size + 2 decoded rows (each transaction adds a begin and a commit row:
    -- batch_size one-change transactions fit), then the transaction it is in, whole.
    v_upto := 3 * v_limit + 2;
    -- Written only when it changes: an idle pull leaves no transaction on the source.
    update sync_src_capture.logical l set confirmed_lsn = v_cursor, upto_nchanges = v_upto
     where l.confirmed_lsn is distinct from v_cursor or l.upto_nchanges is distinct from v_upto;

    truncate sync.work_logical;
    insert into sync.work_logical (commit_lsn, end_lsn, xid, committed_at, pos, tbl, pk, op)
    select l.commit_lsn, l.end_lsn, l.xid, l.committed_at, l.pos, l.tbl, l.pk, l.op
      from sync_src_capture.logical_changes l;
    -- Decoded rows: the changes plus a begin and a commit per transaction (what upto_nchanges counts).
    select count(*) filter (where w.op <> 'C') + 2 * count(*) filter (where w.op = 'C') into v_decoded from sync.work_logical w;
    -- A commit before the cursor is in the inbox already (the slot may not have moved past it yet).
    delete from sync.work_logical w where w.commit_lsn < v_cursor;

    -- The transactions to consume: in commit order, while visible in S, within batch_size changes
    -- (the first one with changes whole, whatever its size).
    with t as (
        select w.commit_lsn, max(w.end_lsn) as end_lsn, max(w.xid) as xid, max(w.committed_at) as committed_at,
               count(*) filter (where w.op <> 'C') as n
          from sync.work_logical w
         group by w.commit_lsn
    ), v as (
        select t.*, pg_catalog.pg_visible_in_snapshot(sync._xid8_near(t.xid, pg_catalog.pg_snapshot_xmax(v_bound)), v_bound) as visible,
               sum(t.n) over (order by t.commit_lsn) as upto
          from t
    )
    select max(v.commit_lsn), max(v.end_lsn), max(v.committed_at), coalesce(sum(v.n), 0)::integer
      into v_last, v_end, v_at, v_changes
      from v
     where v.commit_lsn < coalesce((select min(x.commit_lsn) from v x where not x.visible), 'FFFFFFFF/FFFFFFFF'::pg_lsn)
       and (v.upto <= v_limit or v.upto = v.n);
    v_more := v_decoded >= v_upto or exists (select 1 from sync.work_logical w where w.commit_lsn > coalesce(v_last, '0/0'::pg_lsn));

    -- The changed keys, net per key; a truncate: every key of the table's entity that is mapped or
    -- waiting in the inbox (a key that was not inserted again reads as absent: a delete).
    truncate sync.work_pull;
    insert into sync.work_pull (tbl, pk, captured_at, n)
    select w.tbl, w.pk, max(w.committed_at), count(*)::integer
      from sync.work_logical w
     where w.commit_lsn <= v_last and w.op in ('I', 'U', 'D') and w.pk is not null
     group by w.tbl, w.pk;
    insert into sync.work_pull (tbl, pk, captured_at, n)
    select e.source_table, k.legacy_id, w.committed_at, 1
      from (select w.tbl, max(w.committed_at) as committed_at from sync.work_logical w
             where w.commit_lsn <= v_last and w.op = 'T' group by w.tbl) w
      join sync.entities e on e.source_table = w.tbl
     cross join lateral (select m.legacy_id from sync.id_map m where m.entity = e.name and not m.deleted
                         union
                         select i.legacy_id from sync.inbox i where i.entity = e.name and i.status in ('pending', 'parked')) k
     where not exists (select 1 from sync.work_pull p where p.tbl = e.source_table and p.pk = k.legacy_id);

    perform sync._read_images();

    v_result := sync._ingest_work(p_run_id, v_cursor::text, coalesce(v_end, v_cursor, '0/0'::pg_lsn)::text, v_version,
                                  v_changes, s, false);
    if v_end is not null then
        update sync.source set logical_lsn = v_end, logical_committed_at = v_at, logical_identity = v_identity;
    end if;
    return v_result || jsonb_build_object('more', v_more, 'pages_left', null, 'lsn', coalesce(v_end, v_cursor));
end;
$$;

-- The HTTP bridge reads the trigger capture's log only: it refuses logical mode.
create or replace function sync.get_bridge_request()
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    if sync.get_config() ->> 'capture' <> 'trigger' then
        perform sync._raise(400, format('the HTTP bridge does not support capture %s', sync.get_config() ->> 'capture'),
                            'use transport fdw with logical or polling capture, or capture trigger with the bridge');
    end if;
    return (
        select jsonb_build_object(
            'cursor', s.cursor_snapshot, 'pending', s.pending_snapshot, 'page_block', s.page_block,
            'page_end', s.page_end, 'page_blocks', s.page_blocks,
            'limit', (sync.get_config() ->> 'batch_size')::integer,
            'tables', (select coalesce(jsonb_agg(jsonb_build_object('table', e.source_table, 'key', e.source_pk,
                                                                    'exclude', to_jsonb(e.source_exclude))
                                                 order by e.source_table), '[]')
                         from sync.entities e where e.available))
          from (select 1) as one
          left join sync.source s on true);
end;
$$;

-- The decoding slot's alerts (engine.md §9), for a source connected with logical capture:
-- slot_retained (warning) when the slot retains more WAL than alerts.thresholds.slot_retained_mb
-- (the source's disk fills while the sync is behind or stopped), slot_lost (critical) when the slot
-- is missing or its WAL was removed (capture cannot continue: re-baseline). A source that cannot be
-- read says nothing here (source_unreachable is raised where the pull fails). Returns {kind: state}.
create function sync._slot_alerts()
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_mb numeric := (sync.get_config() #>> '{alerts,thresholds,slot_retained_mb}')::numeric;
    v_st record;
    v_lost boolean;
    v_out jsonb := '{}';
    v_timeout text := current_setting('statement_timeout');
begin
    if not exists (select 1 from sync.source s where s.capture_mode = 'logical') or sync.get_config() ->> 'capture' <> 'logical' then
        return jsonb_strip_nulls(jsonb_build_object(
            'slot_lost', case when sync._resolve_alert('slot_lost', 'logical capture is not in use') then 'resolved' end,
            'slot_retained', case when sync._resolve_alert('slot_retained', 'logical capture is not in use') then 'resolved' end));
    end if;
    -- A slow source must not hold up the other alerts: at most 5 s (the connection itself is bounded
    -- only by the conninfo's connect_timeout).
    begin
        perform set_config('statement_timeout', '5s', true);
        execute 'select st.slot, st.slot_exists, st.wal_status, st.retained_bytes from sync_src_capture.logical_status st' into v_st;
        perform set_config('statement_timeout', v_timeout, true);
    exception when others then
        perform set_config('statement_timeout', v_timeout, true);
        return v_out;
    end;
    v_lost := v_st.slot is null or not v_st.slot_exists or v_st.wal_status = 'lost';
    v_out := v_out || jsonb_strip_nulls(jsonb_build_object('slot_lost', sync._condition(
        v_lost, 'slot_lost', 'critical', 'slot_lost',
        format('the decoding slot %s on the source is %s: logical capture cannot continue; re-baseline (README, Logical capture)',
               coalesce(v_st.slot, '(not installed)'), case when v_st.slot_exists then 'lost (its WAL was removed)' else 'missing' end),
        jsonb_build_object('slot', v_st.slot, 'wal_status', v_st.wal_status), 'the decoding slot is back')));
    v_out := v_out || jsonb_strip_nulls(jsonb_build_object('slot_retained', sync._condition(
        not v_lost and coalesce(v_st.retained_bytes, 0) > v_mb * 1048576, 'slot_retained', 'warning', 'slot_retained',
        format('the decoding slot %s retains %s MB of WAL on the source (threshold %s MB)', v_st.slot,
               round(coalesce(v_st.retained_bytes, 0) / 1048576.0, 1), v_mb),
        jsonb_build_object('slot', v_st.slot, 'retained_bytes', v_st.retained_bytes, 'wal_status', v_st.wal_status),
        'the slot''s retained WAL is back under the threshold')));
    return v_out;
end;
$$;

-- evaluate_alerts keeps every condition it evaluates (renamed, unchanged) and adds the slot's.
alter function sync.evaluate_alerts() rename to _evaluate_alerts_base;
create function sync.evaluate_alerts()
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
    return sync._evaluate_alerts_base() || sync._slot_alerts();
end;
$$;
comment on function sync.evaluate_alerts() is
    'Evaluates the alert conditions of engine.md §9 (failures, no success, lag, gaps, verification, reseed, parked, quarantine growth, conflicts, slow runs, the logical decoding slot''s retained WAL and loss): fires or resolves each. Scheduled every minute.';

revoke execute on function sync._xid8_near(bigint, xid8), sync._logical_check(jsonb, integer), sync._connect_logical(), sync._pull_logical(bigint, integer),
    sync.get_bridge_request(), sync._slot_alerts(), sync._evaluate_alerts_base(), sync.evaluate_alerts() from public;
