-- The snapshot pull (PgQ technique over postgres_fdw).

-- Pulls one batch: every change whose transaction is visible in the source's current snapshot
-- and was not in the cursor's, with each changed row's image read at that same snapshot
-- (postgres_fdw keeps one REPEATABLE READ remote transaction per local transaction). Writes the
-- inbox and moves the cursor in the caller's transaction, so both commit together or not at all.
-- Also prunes source log rows that earlier (committed) batches consumed.
-- Returns {batch_id, changes, rows}.
create function sync._pull(p_run_id bigint)
returns jsonb
language plpgsql
set search_path = ''
set jit = off
as $$
declare
    v_cursor text;
    v_snap text;
    v_batch bigint;
    v_version bigint;
    v_changes integer;
    v_rows integer := 0;
    v_n integer;
    v_entity record;
    v_keys bigint[];
begin
    select cursor_snapshot into v_cursor from sync.source for update;
    if not found then
        perform sync._raise(409, 'no source is connected', 'call sync.connect_source(conninfo) first');
    end if;
    -- First remote statement: fixes the remote snapshot that bounds this batch.
    select snap into v_snap from sync_src_capture.current_snapshot;
    v_version := pg_snapshot_xmax(v_snap::pg_snapshot)::text::bigint;

    if v_cursor is not null then
        delete from sync_src_capture.log where txid < pg_snapshot_xmin(v_cursor::pg_snapshot);
    end if;

    truncate sync.work_pull;
    insert into sync.work_pull (tbl, pk, captured_at, n)
    select l.tbl, l.pk, max(l.captured_at) as captured_at, count(*)::integer as n
      from sync_src_capture.log l
     where l.txid < pg_snapshot_xmax(v_snap::pg_snapshot)
       and (v_cursor is null or l.txid >= pg_snapshot_xmin(v_cursor::pg_snapshot))
       and pg_visible_in_snapshot(l.txid, v_snap::pg_snapshot)
       and (v_cursor is null or not pg_visible_in_snapshot(l.txid, v_cursor::pg_snapshot))
     group by l.tbl, l.pk;
    select coalesce(sum(n), 0) into v_changes from sync.work_pull;

    insert into sync.batches (run_id, snapshot_from, snapshot_to, version, changes, rows)
    values (p_run_id, v_cursor, v_snap, v_version, v_changes, 0)
    returning id into v_batch;

    for v_entity in
        select e.name, e.source_table, e.source_pk from sync.entities e
         where exists (select 1 from sync.work_pull p where p.tbl = e.source_table)
    loop
        select array_agg(pk) into v_keys from sync.work_pull where tbl = v_entity.source_table;
        -- The keys travel as one array parameter (pushed down as "= ANY ($1)"): one remote scan.
        execute format($q$
            insert into sync.inbox (batch_id, entity, legacy_id, op, image, source_version, captured_at, run_id)
            select $1, $2, p.pk, case when r.img is null then 'delete' else 'upsert' end, r.img, $3, p.captured_at, $4
              from sync.work_pull p
              left join (select s.%1$I::bigint as pk, to_jsonb(s) as img from %2$s s where s.%1$I = any ($5)) r
                on r.pk = p.pk
             where p.tbl = $6 $q$, v_entity.source_pk, sync._source_relation(v_entity.name))
        using v_batch, v_entity.name, v_version, p_run_id, v_keys, v_entity.source_table;
        get diagnostics v_n = row_count;
        v_rows := v_rows + v_n;
    end loop;

    update sync.batches set rows = v_rows where id = v_batch;
    update sync.source set cursor_snapshot = v_snap, last_pull_at = now();
    return jsonb_build_object('batch_id', v_batch, 'changes', v_changes, 'rows', v_rows);
end;
$$;
revoke execute on function sync._pull(bigint) from public;
