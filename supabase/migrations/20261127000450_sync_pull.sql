-- The snapshot pull (PgQ technique over postgres_fdw), bounded by batch_size.
--
-- A batch is every change whose transaction is visible in a source snapshot S and was not visible
-- in the cursor snapshot C (so a transaction that took its xid early and committed late is never
-- skipped). postgres_fdw keeps one REPEATABLE READ remote transaction per local transaction, so the
-- snapshot read first and every foreign scan after it see the same source state; each changed
-- key's row is read there (absent = delete). Inbox rows and the moved cursor commit together.
--
-- Bounded work: when the delta S \ C holds more than batch_size changes (a backlog after an
-- outage, a bulk update), S is kept as the batch's bound (sync.source.pending_snapshot) and the
-- log is read in pages of its blocks (ctid ranges, a TID range scan on the source): each page is
-- one short target transaction that takes the page's keys of S \ C, reads their rows at that
-- transaction's own (newer) snapshot, writes the inbox and records the next block; the previous
-- page's log rows, already committed here, are pruned with it. The cursor moves to S only when the
-- last page is in the inbox, so a crash anywhere re-reads at most one page and loses nothing.

-- The source's read point, as the first remote statement of the caller's transaction (it fixes the
-- remote snapshot that every later foreign scan of the transaction sees): the version that orders
-- the images read now against pulled changes (the snapshot's xmax), and the source's identity.
-- (Polling capture, which installs nothing on the source, makes sync_src_capture.current_snapshot a
-- local view: its version is the time of reading.)
create function sync._source_point(out version bigint, out identity jsonb)
language plpgsql
set search_path = ''
as $$
begin
    select pg_catalog.pg_snapshot_xmax(c.snap::pg_snapshot)::text::bigint, c.identity into version, identity
      from sync_src_capture.current_snapshot c;
end;
$$;
revoke execute on function sync._source_point() from public;

-- Fills sync.work_pull with the keys of the log rows visible in p_bound and not in p_cursor
-- (within blocks [p_from, p_to) when given), at most p_max log rows. Returns the number of log
-- rows (changes) read.
create function sync._pull_keys(p_bound text, p_cursor text, p_from bigint, p_to bigint, p_max integer)
returns integer
language plpgsql
set search_path = ''
set jit = off
as $$
declare
    v_bound pg_snapshot := p_bound::pg_snapshot;
    v_cursor pg_snapshot := p_cursor::pg_snapshot;
    v_from tid := format('(%s,0)', p_from)::tid;
    v_to tid := format('(%s,0)', p_to)::tid;
    v_n integer;
begin
    truncate sync.work_pull;
    if p_from is null then
        insert into sync.work_pull (tbl, pk, captured_at, n)
        select l.tbl, l.pk, max(l.captured_at), count(*)::integer
          from (select l.tbl, l.pk, l.captured_at
                  from sync_src_capture.log l
                 where l.txid < pg_catalog.pg_snapshot_xmax(v_bound)
                   and (v_cursor is null or l.txid >= pg_catalog.pg_snapshot_xmin(v_cursor))
                   and pg_catalog.pg_visible_in_snapshot(l.txid, v_bound)
                   and (v_cursor is null or not pg_catalog.pg_visible_in_snapshot(l.txid, v_cursor))
                 limit p_max) l
         group by l.tbl, l.pk;
    else
        insert into sync.work_pull (tbl, pk, captured_at, n)
        select l.tbl, l.pk, max(l.captured_at), count(*)::integer
          from (select l.tbl, l.pk, l.captured_at
                  from sync_src_capture.log l
                 where l.ctid >= v_from and l.ctid < v_to
                   and l.txid < pg_catalog.pg_snapshot_xmax(v_bound)
                   and pg_catalog.pg_visible_in_snapshot(l.txid, v_bound)
                   and (v_cursor is null or not pg_catalog.pg_visible_in_snapshot(l.txid, v_cursor))
                 limit p_max) l
         group by l.tbl, l.pk;
    end if;
    select coalesce(sum(p.n), 0)::integer into v_n from sync.work_pull p;
    return v_n;
end;
$$;

-- The images of the keys in sync.work_pull that still have a row at the batch's snapshot (a key
-- without one is a delete): read through the FDW by sync._pull, or taken from the batch that the HTTP
-- bridge hands to sync.ingest_batch.
create unlogged table sync.work_img (tbl text not null, pk bigint not null, img jsonb not null);

-- The one insert path of both transports: writes the batch row and its inbox rows (one per key of
-- sync.work_pull whose table an entity captures: its image from sync.work_img, or a delete), and moves
-- the source's cursor and paging state to p_next's, in the caller's transaction. p_paged: the batch is
-- a page of a backlog. Returns {batch_id, changes, rows, more (pages of this backlog remain), pages_left}.
-- Writes: sync.batches, sync.inbox, sync.source.
create function sync._ingest_work(p_run_id bigint, p_from text, p_to text, p_version bigint, p_changes integer,
                                  p_next sync.source, p_paged boolean)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_batch bigint;
    v_rows integer;
begin
    insert into sync.batches (run_id, snapshot_from, snapshot_to, version, changes, rows)
    values (p_run_id, p_from, p_to, p_version, p_changes, 0)
    returning id into v_batch;
    insert into sync.inbox (batch_id, entity, legacy_id, op, image, source_version, captured_at, run_id)
    select v_batch, e.name, p.pk, case when r.img is null then 'delete' else 'upsert' end, r.img, p_version, p.captured_at,
           p_run_id
      from sync.work_pull p
      join sync.entities e on e.source_table = p.tbl
      left join sync.work_img r on r.tbl = p.tbl and r.pk = p.pk;
    get diagnostics v_rows = row_count;
    update sync.batches set rows = v_rows where id = v_batch;
    update sync.source set cursor_snapshot = p_next.cursor_snapshot, pending_snapshot = p_next.pending_snapshot,
                           page_block = p_next.page_block, page_end = p_next.page_end, page_blocks = p_next.page_blocks,
                           last_pull_at = now();
    return jsonb_build_object('batch_id', v_batch, 'changes', p_changes, 'rows', v_rows,
                              'more', p_next.pending_snapshot is not null,
                              'pages_left', case when p_paged
                                                 then coalesce(ceil(greatest(0, p_next.page_end - p_next.page_block)::numeric
                                                                    / p_next.page_blocks), 0) end);
end;
$$;

-- Fills sync.work_img with the source rows of the keys in sync.work_pull, read through the FDW in the
-- caller's (remote REPEATABLE READ) transaction: one remote scan per captured table (dynamic SQL: the
-- foreign table is the entity's), the keys travelling as one array parameter (pushed down as
-- "= ANY ($1)"). Used by every capture mode that logs keys (trigger, logical). Source drift
-- (20261128001600) supplies sync.source_table_names and sync._drift_paused().
create function sync._read_images()
returns void
language plpgsql
set search_path = ''
as $$
declare
    v_entity record;
    v_keys bigint[];
    v_paused text[] := sync._drift_paused();
begin
    -- A key logged under a name its table had before (source drift: a renamed table) is its entity's.
    update sync.work_pull p set tbl = e.source_table
      from sync.source_table_names t join sync.entities e on e.name = t.entity
     where p.tbl = t.tbl and t.tbl <> e.source_table;
    truncate sync.work_img;
    for v_entity in
        select e.name, e.source_table, e.source_pk from sync.entities e
         where e.available and exists (select 1 from sync.work_pull p where p.tbl = e.source_table)
    loop
        -- An entity paused by source drift is not read (its foreign table may not match the source):
        -- its keys get a marker image and wait.
        if v_entity.name = any (v_paused) then
            insert into sync.work_img (tbl, pk, img)
            select p.tbl, p.pk, jsonb_build_object('unread', 'paused by source drift')
              from sync.work_pull p where p.tbl = v_entity.source_table;
            continue;
        end if;
        select array_agg(pk) into v_keys from sync.work_pull where tbl = v_entity.source_table;
        execute format($q$
            insert into sync.work_img (tbl, pk, img)
            select $1, s.%1$I::bigint, to_jsonb(s) from %2$s s where s.%1$I = any ($2) $q$,
            v_entity.source_pk, sync._source_relation(v_entity.name))
        using v_entity.source_table, v_keys;
    end loop;
end;
$$;

-- The pull's read point, in the caller's transaction (which holds sync.source FOR UPDATE): the
-- source snapshot that bounds the batch and the source's identity, recorded the first time; refused
-- ({refused: 'source_changed', recorded, found}) when the source is not the one recorded: its
-- transaction ids and positions mean nothing there. Shared by every capture mode's pull.
create function sync._pull_point(out snap text, out identity jsonb, out refused jsonb)
language plpgsql
set search_path = ''
as $$
declare
    v_recorded jsonb := (select s.identity from sync.source s);
begin
    select c.snap, c.identity into snap, identity from sync_src_capture.current_snapshot c;
    if v_recorded is null then
        update sync.source set identity = _pull_point.identity;
    elsif v_recorded is distinct from identity then
        refused := jsonb_build_object('refused', 'source_changed', 'recorded', v_recorded, 'found', identity);
    end if;
end;
$$;
revoke execute on function sync._pull_point() from public;

-- Trigger capture: pulls one bounded batch (or one page of a backlog) into the inbox and moves the
-- cursor, in the caller's transaction. Returns {batch_id, changes, rows, more (pages of this backlog remain), pages_left}, or
-- {refused: 'source_changed', ...} (nothing written) when the source is not the one recorded at
-- connect: its transaction ids and the cursor mean nothing there.
create function sync._pull_trigger(p_run_id bigint, p_limit integer default null)
returns jsonb
language plpgsql
set search_path = ''
set jit = off
as $$
declare
    s sync.source;
    v_limit integer := coalesce(p_limit, (sync.get_config() ->> 'batch_size')::integer);
    v_snap text;
    v_identity jsonb;
    v_refused jsonb;
    v_bound text;
    v_version bigint;
    v_changes integer;
    v_blocks integer;
    v_next sync.source;
    v_cursor pg_snapshot;
    v_bound_snap pg_snapshot;
    v_xmin xid8;
    v_xmax xid8;
    v_from tid;
    v_to tid;
    v_first boolean := false;
begin
    select * into s from sync.source for update;
    select p.snap, p.identity, p.refused into v_snap, v_identity, v_refused from sync._pull_point() p;
    if v_refused is not null then
        return v_refused;
    end if;
    v_version := pg_catalog.pg_snapshot_xmax(v_snap::pg_snapshot)::text::bigint;

    -- Prunes are plain remote DELETEs (postgres_fdw's direct modify): every value in their WHERE is
    -- a typed parameter, never a cast that would keep them local (a SELECT ... FOR UPDATE that the
    -- reader, without UPDATE on the log, may not run).
    v_cursor := s.cursor_snapshot::pg_snapshot;
    if s.pending_snapshot is null then
        if s.cursor_snapshot is not null then
            v_xmin := pg_catalog.pg_snapshot_xmin(v_cursor);
            delete from sync_src_capture.log l where l.txid < v_xmin;
        end if;
        v_bound := v_snap;
        v_changes := sync._pull_keys(v_bound, s.cursor_snapshot, null, null, v_limit + 1);
        if v_changes > v_limit then
            -- A backlog: page through the log's blocks under this snapshot, from the first block that
            -- holds one of its changes to the last (one aggregate over the txid index: the rest of the
            -- log is rows pulled before and space pruned since, which a walk from block 0 read page by
            -- page: seconds of empty pages behind every backlog of a live log).
            s.pending_snapshot := v_snap;
            select coalesce((pg_catalog.min(l.ctid)::text::point)[0]::bigint, 0),
                   coalesce((pg_catalog.max(l.ctid)::text::point)[0]::bigint + 1, 0)
              into s.page_block, s.page_end
              from sync_src_capture.log l
             where l.txid < pg_catalog.pg_snapshot_xmax(v_bound::pg_snapshot)
               and (v_cursor is null or l.txid >= pg_catalog.pg_snapshot_xmin(v_cursor));
            s.page_blocks := greatest(1, v_limit / 100);
            v_first := true;
        end if;
    end if;
    if s.pending_snapshot is not null then
        v_bound := s.pending_snapshot;
        -- The previous page's log rows are in the inbox (committed): prune them now.
        if not v_first then
            v_bound_snap := v_bound::pg_snapshot;
            v_xmax := pg_catalog.pg_snapshot_xmax(v_bound_snap);
            v_from := format('(%s,0)', greatest(s.page_block - s.page_blocks, 0))::tid;
            v_to := format('(%s,0)', s.page_block)::tid;
            if v_cursor is null then
                delete from sync_src_capture.log l
                 where l.ctid >= v_from and l.ctid < v_to and l.txid < v_xmax
                   and pg_catalog.pg_visible_in_snapshot(l.txid, v_bound_snap);
            else
                delete from sync_src_capture.log l
                 where l.ctid >= v_from and l.ctid < v_to and l.txid < v_xmax
                   and pg_catalog.pg_visible_in_snapshot(l.txid, v_bound_snap)
                   and not pg_catalog.pg_visible_in_snapshot(l.txid, v_cursor);
            end if;
        end if;
        -- A stretch of the log that holds few of the backlog's changes is crossed in growing pages:
        -- a page under a quarter of batch_size doubles the next (an overfull one halves, below).
        if not v_first and (select b.changes from sync.batches b order by b.id desc limit 1) < v_limit / 4 then
            s.page_blocks := least(s.page_blocks * 2, greatest(1, s.page_end - s.page_block));
        end if;
        loop
            v_blocks := s.page_blocks;
            -- A page never exceeds batch_size changes, but one block (at most 291 log rows) is the floor
            -- and is read whole: cut at batch_size, the rest of its rows would be skipped for good.
            v_changes := sync._pull_keys(v_bound, s.cursor_snapshot, s.page_block, s.page_block + v_blocks,
                                         case when v_blocks = 1 then null else v_limit + 1 end);
            exit when v_changes <= v_limit or v_blocks = 1;
            s.page_blocks := greatest(1, v_blocks / 2);
        end loop;
        s.page_block := s.page_block + v_blocks;
    end if;

    perform sync._read_images();

    v_next := s;
    if s.pending_snapshot is not null and s.page_block >= s.page_end then
        -- The last page is in: the whole delta up to the bound is, and the cursor moves there.
        v_next.cursor_snapshot := s.pending_snapshot;
        v_next.pending_snapshot := null;
        v_next.page_block := null;
        v_next.page_end := null;
        v_next.page_blocks := null;
    elsif s.pending_snapshot is null then
        v_next.cursor_snapshot := v_snap;
    end if;
    return sync._ingest_work(p_run_id, s.cursor_snapshot, v_bound, v_version, v_changes, v_next,
                             s.pending_snapshot is not null);
end;
$$;
revoke execute on function sync._pull_keys(text, text, bigint, bigint, integer), sync._pull_trigger(bigint, integer), sync._read_images(),
    sync._ingest_work(bigint, text, text, bigint, integer, sync.source, boolean) from public;
