-- The HTTP bridge (transport `http`, engine.md §2): for a source that the target cannot reach, the
-- sync Edge Function reads batches on the source (sync_capture.read_batch, the same snapshot
-- contract as sync._pull) and hands each one to sync.ingest_batch here, which writes the inbox and
-- moves the cursor in one target transaction through sync._pull's own insert path
-- (sync._ingest_work). Then the function prunes the consumed log rows on the source
-- (sync_capture.prune_log) with the state this transaction committed, and calls sync.tick, which
-- in `http` mode applies without pulling.
--
-- The batch (what sync_capture.read_batch returns):
--   {from: cursor snapshot or null, to: bound snapshot, snapshot: the snapshot the rows were read in,
--    identity: {system_identifier, timeline, database, database_oid}, source_version: bigint,
--    page: null | {block, blocks, end}  (a page of a backlog: log blocks [block, block + blocks) of end),
--    changes: log rows read,
--    rows: [{table, key, op: upsert | delete, image: object | null, captured_at, changes}]}

-- sync.get_bridge_request() returns jsonb
-- What the bridge asks the source for next: the cursor and paging state, batch_size, and the
-- captured tables with their key and excluded columns:
-- {cursor, pending, page_block, page_end, page_blocks, limit, tables: [{table, key, exclude}]}.
-- Reads only.
create function sync.get_bridge_request()
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
    select jsonb_build_object(
        'cursor', s.cursor_snapshot, 'pending', s.pending_snapshot, 'page_block', s.page_block,
        'page_end', s.page_end, 'page_blocks', s.page_blocks,
        'limit', (sync.get_config() ->> 'batch_size')::integer,
        'tables', (select coalesce(jsonb_agg(jsonb_build_object('table', e.source_table, 'key', e.source_pk,
                                                                'exclude', to_jsonb(e.source_exclude))
                                             order by e.source_table), '[]')
                     from sync.entities e))
      from (select 1) as one
      left join sync.source s on true;
$$;
comment on function sync.get_bridge_request() is
    'The HTTP bridge''s next request to the source: cursor and paging state, batch_size, captured tables (key, excluded columns). Reads only. Returns jsonb.';
revoke execute on function sync.get_bridge_request() from public;

-- sync.ingest_batch(batch jsonb) returns jsonb
-- Writes one batch read by sync_capture.read_batch into the inbox and moves the cursor (or the
-- backlog's page) past it, in the caller's transaction: the same rows and state that sync._pull
-- writes for the same batch. Idempotent per batch: a batch whose end state is already the current
-- one returns {already_ingested: true} and writes nothing; a batch that does not start at the
-- current cursor (out of order, or a concurrent bridge) is refused. The first batch of a source
-- that was never connected connects it and records its identity; a batch from another identity is
-- refused with an alert `source_changed`, as the FDW pull does.
-- Returns {batch_id, changes, rows, more, pages_left, next: the next request (sync.get_bridge_request)},
-- {already_ingested: true, ...}, or {refused: 'source_changed', code: 'SY409', recorded, found}
-- (nothing written but the alert).
-- Raises SY400 (malformed batch: the detail names the field or the row), SY409 (the batch does not
-- start at the cursor).
-- Writes: sync.batches, sync.inbox, sync.source, sync.alerts (source_changed).
create function sync.ingest_batch(batch jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    s sync.source;
    v_next sync.source;
    v_from text := batch ->> 'from';
    v_to text := batch ->> 'to';
    v_page jsonb := batch -> 'page';
    v_identity jsonb := batch -> 'identity';
    v_block bigint;
    v_blocks integer;
    v_end bigint;
    v_changes integer;
    v_bad text;
    v_result jsonb;
begin
    if jsonb_typeof(batch) is distinct from 'object' or jsonb_typeof(batch -> 'to') is distinct from 'string'
       or jsonb_typeof(batch -> 'from') not in ('string', 'null') or jsonb_typeof(v_identity) is distinct from 'object'
       or jsonb_typeof(batch -> 'source_version') is distinct from 'number'
       or jsonb_typeof(batch -> 'changes') is distinct from 'number' or jsonb_typeof(batch -> 'rows') is distinct from 'array'
       or jsonb_typeof(v_page) not in ('object', 'null')
       or (jsonb_typeof(v_page) = 'object' and (jsonb_typeof(v_page -> 'block') is distinct from 'number'
           or jsonb_typeof(v_page -> 'blocks') is distinct from 'number' or jsonb_typeof(v_page -> 'end') is distinct from 'number')) then
        perform sync._raise(400, 'the batch is malformed',
                            'it needs from, to, identity, source_version, changes, rows and page (null or {block, blocks, end})');
    end if;
    begin
        perform v_to::pg_snapshot, v_from::pg_snapshot;
    exception when invalid_text_representation then
        perform sync._raise(400, 'the batch''s from and to are not snapshots');
    end;
    v_changes := (batch ->> 'changes')::integer;
    if jsonb_typeof(v_page) = 'object' then
        v_block := (v_page ->> 'block')::bigint;
        v_blocks := (v_page ->> 'blocks')::integer;
        v_end := (v_page ->> 'end')::bigint;
        if v_block < 0 or v_blocks < 1 or v_end < 0 then
            perform sync._raise(400, 'the batch''s page is malformed', format('page %s', v_page));
        end if;
    else
        v_page := null;
    end if;

    select * into s from sync.source for update;
    if not found then
        -- No FDW connection (transport http): the first batch connects the source.
        if v_from is not null or v_block > 0 then
            perform sync._raise(409, 'the batch does not start at the cursor: no source is connected yet',
                                format('the batch starts at %s', v_from));
        end if;
        insert into sync.source (server_name, conninfo_redacted, identity)
        values ('http', 'the sync Edge Function (SYNC_SOURCE_URL)', v_identity)
        returning * into s;
    end if;
    if s.identity is null then
        update sync.source set identity = v_identity;
    elsif s.identity is distinct from v_identity then
        -- Not raised: the alert must commit. The caller answers 409 source_changed.
        perform sync._alert('source_changed', 'critical', 'source_changed',
                            'the source database changed identity; pulls are refused until a full backfill re-baselines it',
                            jsonb_build_object('recorded', s.identity, 'found', v_identity));
        return jsonb_build_object('refused', 'source_changed', 'code', 'SY409', 'recorded', s.identity, 'found', v_identity);
    end if;

    -- The state after this batch: the cursor past it, or the next page of the backlog.
    v_next := s;
    if v_page is null or v_block + v_blocks >= v_end then
        v_next.cursor_snapshot := v_to;
        v_next.pending_snapshot := null;
        v_next.page_block := null;
        v_next.page_end := null;
        v_next.page_blocks := null;
    else
        v_next.cursor_snapshot := v_from;
        v_next.pending_snapshot := v_to;
        v_next.page_block := v_block + v_blocks;
        v_next.page_end := v_end;
        v_next.page_blocks := v_blocks;
    end if;
    if (s.cursor_snapshot, s.pending_snapshot, s.page_block, s.page_end, s.page_blocks)
       is not distinct from (v_next.cursor_snapshot, v_next.pending_snapshot, v_next.page_block, v_next.page_end, v_next.page_blocks) then
        return jsonb_build_object('already_ingested', true, 'batch_id', null, 'changes', 0, 'rows', 0,
                                  'more', s.pending_snapshot is not null, 'next', sync.get_bridge_request());
    end if;
    if s.cursor_snapshot is distinct from v_from
       or (coalesce(v_block, 0) = 0 and s.pending_snapshot is not null)
       or (v_block > 0 and (s.pending_snapshot is distinct from v_to or s.page_block is distinct from v_block
                            or s.page_end is distinct from v_end)) then
        perform sync._raise(409, 'the batch does not start at the cursor (out of order, or another bridge is pulling)',
                            format('the batch starts at %s (block %s); the cursor is %s (pending %s, block %s)',
                                   coalesce(v_from, 'the beginning'), coalesce(v_block, 0), coalesce(s.cursor_snapshot, 'the beginning'),
                                   coalesce(s.pending_snapshot, 'none'), coalesce(s.page_block, 0)));
    end if;

    -- Every row is well formed, once per key, and within the batch's changes.
    select format('row %s (table %s, key %s)', x.ord, x.row ->> 'table', x.row ->> 'key') into v_bad
      from jsonb_array_elements(batch -> 'rows') with ordinality as x (row, ord)
     where jsonb_typeof(x.row -> 'table') is distinct from 'string' or jsonb_typeof(x.row -> 'key') is distinct from 'number'
        or jsonb_typeof(x.row -> 'captured_at') is distinct from 'string' or jsonb_typeof(x.row -> 'changes') is distinct from 'number'
        or (x.row ->> 'changes')::numeric < 1
        or not ((x.row ->> 'op' = 'upsert' and jsonb_typeof(x.row -> 'image') = 'object')
                or (x.row ->> 'op' = 'delete' and coalesce(jsonb_typeof(x.row -> 'image'), 'null') = 'null'))
     order by x.ord
     limit 1;
    if v_bad is null then
        select format('table %s, key %s appears more than once', x.row ->> 'table', x.row ->> 'key') into v_bad
          from jsonb_array_elements(batch -> 'rows') as x (row)
         group by x.row ->> 'table', x.row ->> 'key' having count(*) > 1
         limit 1;
    end if;
    if v_bad is null and (select coalesce(sum((x.row ->> 'changes')::integer), 0)
                            from jsonb_array_elements(batch -> 'rows') as x (row)) > v_changes then
        v_bad := format('the rows hold more changes than the batch (%s)', v_changes);
    end if;
    if v_bad is not null then
        -- The detail names the row's table and key only, never its image.
        perform sync._raise(400, 'the batch has a malformed row', v_bad);
    end if;

    truncate sync.work_pull, sync.work_img;
    insert into sync.work_pull (tbl, pk, captured_at, n)
    select r."table", r.key, r.captured_at, r.changes
      from jsonb_to_recordset(batch -> 'rows') as r ("table" text, key bigint, op text, image jsonb, captured_at timestamptz, changes integer);
    insert into sync.work_img (tbl, pk, img)
    select r."table", r.key, r.image
      from jsonb_to_recordset(batch -> 'rows') as r ("table" text, key bigint, op text, image jsonb)
     where r.op = 'upsert';
    v_result := sync._ingest_work(null, v_from, v_to, (batch ->> 'source_version')::bigint, v_changes, v_next,
                                  v_block is not null);
    return v_result || jsonb_build_object('next', sync.get_bridge_request());
end;
$$;
comment on function sync.ingest_batch(jsonb) is
    'Writes one HTTP-bridge batch (from sync_capture.read_batch) into the inbox and moves the cursor, in one transaction. Idempotent per batch (a repeated batch writes nothing); refuses a batch that does not start at the cursor (SY409) or comes from another source (source_changed). Returns counts and the next request.';
revoke execute on function sync.ingest_batch(jsonb) from public;
