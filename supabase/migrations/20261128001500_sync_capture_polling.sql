-- Polling capture (engine.md §1, capture = 'polling'): nothing is installed on the source, not even a
-- view; the engine's reader needs SELECT on the registered tables and nothing else.
--
-- Changes of an entity with a poll column (sync.entities.poll_column: a timestamptz the application
-- sets on every write, e.g. Django's auto_now updated_at) are the source rows read in sweeps ordered
-- by (poll column, key): each sweep starts overlap_seconds before the newest timestamp seen so far
-- (so a row committed late with an older timestamp, within the overlap, is read by a later sweep)
-- and pages forward by (timestamp, key) in pages bounded by batch_size (rows sharing a timestamp at a
-- page boundary are never skipped). A row whose image is the one last ingested for its key
-- (sync.poll_seen, a hash per key within the overlap window) is not a change: an idle poll writes
-- nothing. Sweep positions (sync.poll_watermarks), seen hashes, the batch and its inbox rows commit
-- in one target transaction.
--
-- Deletes, the tables without a poll column, rows committed later than the overlap and updates that
-- leave the poll column alone are found by reconciliation: verification's deep check (gaps both
-- ways, drift of every row) repaired through the applier, one entity per pull, a round every
-- polling.reconcile_minutes (sync.poll_state), reported in the run summary.
--
-- Without the capture schema there is no source snapshot to read: sync_src_capture.current_snapshot
-- is a local view here (nothing on the source). Its identity is what any reader may see, the
-- source database's name and oid (pg_catalog.pg_database, a foreign table); its snapshot is
-- synthetic, 'v:v:' with v the target's clock in microseconds: the version of every image read in
-- polling mode (reads are serialized under the applier lease, so a later read has a later version
-- and sees a newer source state).

-- The pack's registry: the legacy tables whose updated_at the Django app sets on every write.
update sync.entities set poll_column = 'updated_at'
 where name in ('offices', 'patients', 'cases', 'treatment_plans', 'orders');

-- Per polled entity: the sweep's position and the newest timestamp seen.
create table sync.poll_watermarks (
    entity text primary key references sync.entities (name) on delete cascade,
    high_ts timestamptz,      -- the newest poll-column value read so far (NULL: none yet)
    sweep_ts timestamptz,     -- the current sweep reads rows after (sweep_ts, sweep_pk); NULL: from the start
    sweep_pk bigint,          -- NULL: every row at sweep_ts and after
    sweep_began_at timestamptz,  -- when the current sweep began
    swept_at timestamptz,     -- when the last complete sweep began (a run is drained once every sweep began in it)
    polled_at timestamptz     -- the entity's last page (the least recently polled goes first)
);
comment on table sync.poll_watermarks is 'Polling capture: per entity, the sweep position (timestamp, key) and the newest timestamp seen.';

-- The image last ingested per key, for rows within the overlap window (older ones are pruned).
create table sync.poll_seen (
    entity text not null references sync.entities (name) on delete cascade,
    legacy_id bigint not null,
    ts timestamptz not null,
    hash uuid not null,
    primary key (entity, legacy_id)
);
comment on table sync.poll_seen is 'Polling capture: md5 of the image last ingested per key within the overlap window (a re-read equal image is not a change).';

-- Reconciliation rounds.
create table sync.poll_state (
    id boolean primary key default true check (id),
    reconciled_at timestamptz,   -- start of the last complete round (NULL: a round is due now)
    round_started_at timestamptz,
    round_left text[],           -- entities still to reconcile in the current round (NULL: no round open)
    round_result jsonb not null default '{}',
    last_round jsonb             -- the last complete round's per-entity result
);
insert into sync.poll_state default values;
comment on table sync.poll_state is 'Polling capture: reconciliation rounds (one entity per pull, a round every polling.reconcile_minutes).';

-- One pull's source rows of the polled entities.
create unlogged table sync.work_poll (entity text not null, tbl text not null, pk bigint not null, ts timestamptz not null,
                                      img jsonb not null);
revoke all on sync.poll_watermarks, sync.poll_seen, sync.poll_state, sync.work_poll from public;

-- Polling's connect, in connect_source's transaction after the source tables were imported: checks
-- each poll column, makes the local snapshot view, and re-baselines when the source was connected in
-- another mode (sweeps restart, a reconciliation round is due). Returns {capture_version: null, identity}.
create or replace function sync._connect_polling()
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    e record;
    v_type text;
    v_db text;
    v_identity jsonb;
    v_high timestamptz;
    v_overlap interval := make_interval(secs => (sync.get_config() #>> '{polling,overlap_seconds}')::numeric);
begin
    for e in select x.name, x.source_table, x.poll_column from sync.entities x
              where x.poll_column is not null and x.available order by x.name loop
        select pg_catalog.format_type(a.atttypid, a.atttypmod) into v_type
          from pg_catalog.pg_attribute a
         where a.attrelid = sync._source_relation(e.name)::regclass and a.attname = e.poll_column and not a.attisdropped;
        if v_type is null then
            perform sync._raise(400, format('entity %s: poll column %s is not a column of %s on the source', e.name, e.poll_column,
                                            e.source_table),
                                'set sync.entities.poll_column to a timestamptz column the application sets on every write, or to NULL');
        elsif v_type <> 'timestamp with time zone' then
            perform sync._raise(400, format('entity %s: poll column %s of %s is %s, not timestamptz', e.name, e.poll_column,
                                            e.source_table, v_type),
                                'set sync.entities.poll_column to a timestamptz column the application sets on every write, or to NULL');
        end if;
    end loop;

    -- The source database's name (the server's dbname, else libpq's default: the user's name).
    select coalesce((select o.option_value from pg_catalog.pg_foreign_server s, pg_catalog.pg_options_to_table(s.srvoptions) o
                      where s.srvname = 'sync_source' and o.option_name = 'dbname'),
                    (select o.option_value from pg_catalog.pg_user_mappings m, pg_catalog.pg_options_to_table(m.umoptions) o
                      where m.srvname = 'sync_source' and o.option_name = 'user'))
      into v_db;
    execute $q$ create foreign table sync_src_capture.pg_database (oid oid, datname name) server sync_source
                options (schema_name 'pg_catalog', table_name 'pg_database') $q$;
    execute format($q$
        create view sync_src_capture.current_snapshot as
        select format('%%1$s:%%1$s:', v.x) as snap,
               jsonb_build_object('database', d.datname::text, 'database_oid', d.oid::bigint) as identity
          from (select (extract(epoch from pg_catalog.clock_timestamp()) * 1000000)::bigint as x) v
         cross join sync_src_capture.pg_database d
         where d.datname = %L $q$, v_db);
    select c.identity into v_identity from sync_src_capture.current_snapshot c;
    if v_identity is null then
        perform sync._raise(400, format('the source database %s is not in the source''s pg_database', v_db));
    end if;

    -- Another mode (or none) before: polling starts over, and a reconciliation round finds what
    -- changed in between. A reconnect in polling mode keeps its sweeps.
    if (select s.capture_mode from sync.source s) is distinct from 'polling' then
        -- The same database recorded by another mode (with more than polling can read): its identity
        -- takes polling's form. Another database keeps the recorded one, and pulls are refused until a
        -- full backfill re-baselines.
        update sync.source s set identity = v_identity
         where s.identity ->> 'database' = v_identity ->> 'database'
           and s.identity ->> 'database_oid' = v_identity ->> 'database_oid';
        delete from sync.poll_watermarks;
        delete from sync.poll_seen;
        update sync.poll_state set reconciled_at = null, round_started_at = null, round_left = null, round_result = '{}';
    end if;
    delete from sync.poll_watermarks w
     where not exists (select 1 from sync.entities x where x.name = w.entity and x.poll_column is not null);
    for e in select x.name, x.poll_column from sync.entities x
              where x.poll_column is not null and x.available
                and not exists (select 1 from sync.poll_watermarks w where w.entity = x.name) loop
        -- The first sweep starts overlap_seconds before the newest timestamp there is (a pushed-down max).
        begin
            execute format('select max(s.%I) from %s s', e.poll_column, sync._source_relation(e.name)) into v_high;
        exception when insufficient_privilege then
            perform sync._raise(400, format('the reader may not read %s on the source', (select x.source_table from sync.entities x where x.name = e.name)),
                                'grant it USAGE on the schema and SELECT on every registered table (polling needs nothing else)');
        end;
        insert into sync.poll_watermarks (entity, high_ts, sweep_ts) values (e.name, v_high, v_high - v_overlap);
    end loop;
    return jsonb_build_object('capture_version', null, 'identity', v_identity);
end;
$$;

-- Reconciles one entity: verification's deep check (missing rows, reverse gaps, drift of every row
-- under source_wins, naming every drifted row), then every id it names re-read and applied through
-- the applier (a gone row as a delete). At most 10000 ids per call; returns {missing, orphaned,
-- drifted, repaired: apply counts, capped: more ids than repaired}.
create function sync._poll_reconcile_entity(p_run_id bigint, p_entity text)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_cap constant integer := 10000;
    v jsonb := sync._verify_entity(p_entity, true, 0, false, v_cap);
    v_ids bigint[] := array(select distinct x::bigint from jsonb_array_elements_text(v -> 'repairable') x order by 1 limit v_cap);
begin
    return jsonb_build_object('missing', coalesce((v #>> '{gaps,missing}')::integer, 0),
                              'orphaned', coalesce((v #>> '{gaps,orphaned}')::integer, 0),
                              'drifted', coalesce((v #>> '{drift,drifted}')::integer, 0),
                              'repaired', sync._repair(p_run_id, p_entity, v_ids),
                              'capped', cardinality(v_ids) >= v_cap);
end;
$$;

-- One reconciliation step, when a round is open or due: the round's next entity. Returns
-- {entity: result} or NULL (nothing due).
create function sync._poll_reconcile_step(p_run_id bigint)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    st sync.poll_state;
    v_entity text;
    v_result jsonb;
    v_t0 timestamptz := pg_catalog.clock_timestamp();
    v_state text;
    v_msg text;
begin
    select * into st from sync.poll_state for update;
    if st.round_left is null then
        if st.reconciled_at is not null
           and pg_catalog.now() < st.reconciled_at
                                  + make_interval(mins => (sync.get_config() #>> '{polling,reconcile_minutes}')::integer) then
            return null;
        end if;
        st.round_left := array(select o.name from sync._apply_order() o
                                where coalesce((sync.get_config() #>> array['entities', o.name, 'enabled'])::boolean, true));
        st.round_started_at := pg_catalog.now();
        st.round_result := '{}';
        if cardinality(st.round_left) = 0 then
            update sync.poll_state set reconciled_at = st.round_started_at, last_round = '{}';
            return null;
        end if;
    end if;
    v_entity := st.round_left[1];
    -- A failing entity is reported and skipped until the next round: the pull (and polling) goes on.
    begin
        v_result := sync._poll_reconcile_entity(p_run_id, v_entity);
    exception when others then
        get stacked diagnostics v_state = returned_sqlstate, v_msg = message_text;
        v_result := jsonb_build_object('error', sync._run_error('reconcile', v_state, v_msg));
    end;
    v_result := v_result || jsonb_build_object('ms', round(extract(epoch from pg_catalog.clock_timestamp() - v_t0) * 1000));
    -- An entity with more to repair than one call takes goes again at the end of the round.
    st.round_left := st.round_left[2:] || case when coalesce((v_result ->> 'capped')::boolean, false) then array[v_entity] else '{}' end;
    st.round_result := st.round_result || jsonb_build_object(v_entity, v_result);
    if cardinality(st.round_left) = 0 then
        update sync.poll_state set reconciled_at = st.round_started_at, round_started_at = null, round_left = null,
                                   round_result = '{}', last_round = st.round_result;
    else
        update sync.poll_state set round_started_at = st.round_started_at, round_left = st.round_left,
                                   round_result = st.round_result;
    end if;
    return jsonb_build_object(v_entity, v_result);
end;
$$;

-- Polling capture: one bounded batch of the polled entities' changed rows into the inbox (and, when
-- due, one reconciliation step), in the caller's transaction. Returns {batch_id, changes, rows (inbox
-- rows), more (an entity has not completed a sweep begun in this run, or a reconciliation round is
-- open), pages_left: null, read (rows read from the source), reconcile: {entity: result} or null},
-- or {refused: 'source_changed', ...} (nothing written).
create or replace function sync._pull_polling(p_run_id bigint, p_limit integer default null)
returns jsonb
language plpgsql
set search_path = ''
set jit = off
as $$
declare
    s sync.source;
    w sync.poll_watermarks;
    e record;
    v_limit integer := coalesce(p_limit, (sync.get_config() ->> 'batch_size')::integer);
    v_overlap interval := make_interval(secs => (sync.get_config() #>> '{polling,overlap_seconds}')::numeric);
    v_snap text;
    v_identity jsonb;
    v_refused jsonb;
    v_version bigint;
    v_page integer;
    v_want integer;
    v_read integer := 0;
    v_n integer;
    v_max timestamptz;
    v_last record;
    v_more boolean;
    v_now timestamptz := pg_catalog.clock_timestamp();
    v_reconcile jsonb;
    v_result jsonb;
begin
    select * into s from sync.source for update;
    select p.snap, p.identity, p.refused into v_snap, v_identity, v_refused from sync._pull_point() p;
    if v_refused is not null then
        return v_refused;
    end if;
    v_version := pg_catalog.pg_snapshot_xmax(v_snap::pg_snapshot)::text::bigint;

    truncate sync.work_poll, sync.work_pull, sync.work_img;
    -- Each polled entity's next page, the least recently polled first, while the batch has room.
    v_page := greatest(1, v_limit / greatest(1, (select count(*) from sync.entities x where x.poll_column is not null))::integer);
    -- (Not the entities the source lacks, nor those paused by source drift: their rows wait, unread.)
    for e in select x.name, x.source_table, x.source_pk, x.poll_column
               from sync.entities x join sync.poll_watermarks pw on pw.entity = x.name
              where x.poll_column is not null and x.available and not x.name = any (sync._drift_paused())
              order by pw.polled_at nulls first, x.name loop
        exit when v_read >= v_limit;
        select * into w from sync.poll_watermarks pw where pw.entity = e.name for update;
        v_want := least(v_page, v_limit - v_read);
        -- Plain comparisons with constants and ORDER BY ... LIMIT: postgres_fdw ships them all to the source
        -- (the position inlined as literals, so the pushdown never depends on how parameters are planned).
        execute format($q$
            insert into sync.work_poll (entity, tbl, pk, ts, img)
            select $1, $2, s.%1$I, s.%2$I, to_jsonb(s) from %3$s s
             where %4$s
             order by s.%2$I, s.%1$I
             limit %5$s $q$,
            e.source_pk, e.poll_column, sync._source_relation(e.name),
            case when w.sweep_ts is null then format('s.%I is not null', e.poll_column)
                 when w.sweep_pk is null then format('s.%I >= %L::timestamptz', e.poll_column, w.sweep_ts)
                 else format('s.%1$I >= %3$L::timestamptz and (s.%1$I > %3$L::timestamptz or s.%2$I > %4$s)',
                             e.poll_column, e.source_pk, w.sweep_ts, w.sweep_pk) end,
            v_want)
        using e.name, e.source_table;
        get diagnostics v_n = row_count;
        v_read := v_read + v_n;
        select max(p.ts) into v_max from sync.work_poll p where p.entity = e.name;
        w.high_ts := greatest(w.high_ts, v_max);
        if v_n = v_want then
            -- A full page: the sweep goes on after its last row (ties at this timestamp come next).
            select p.ts, p.pk into v_last from sync.work_poll p where p.entity = e.name order by p.ts desc, p.pk desc limit 1;
            update sync.poll_watermarks pw set high_ts = w.high_ts, sweep_ts = v_last.ts, sweep_pk = v_last.pk,
                                               sweep_began_at = coalesce(w.sweep_began_at, v_now), polled_at = v_now
             where pw.entity = e.name;
        else
            -- The sweep reached the end: the next one starts overlap_seconds before the newest timestamp.
            update sync.poll_watermarks pw set high_ts = w.high_ts, sweep_ts = w.high_ts - v_overlap, sweep_pk = null,
                                               swept_at = coalesce(w.sweep_began_at, v_now), sweep_began_at = null, polled_at = v_now
             where pw.entity = e.name;
            delete from sync.poll_seen ps where ps.entity = e.name and ps.ts < w.high_ts - v_overlap;
        end if;
    end loop;

    -- Changes: the rows whose image is not the one last ingested for their key.
    insert into sync.work_pull (tbl, pk, captured_at, n)
    select p.tbl, p.pk, p.ts, 1 from sync.work_poll p
     where not exists (select 1 from sync.poll_seen ps
                        where ps.entity = p.entity and ps.legacy_id = p.pk and ps.hash = md5(p.img::text)::uuid);
    insert into sync.work_img (tbl, pk, img)
    select p.tbl, p.pk, p.img from sync.work_poll p join sync.work_pull k on k.tbl = p.tbl and k.pk = p.pk;
    insert into sync.poll_seen as ps (entity, legacy_id, ts, hash)
    select p.entity, p.pk, p.ts, md5(p.img::text)::uuid from sync.work_poll p join sync.work_pull k on k.tbl = p.tbl and k.pk = p.pk
    on conflict (entity, legacy_id) do update set ts = excluded.ts, hash = excluded.hash;

    -- More to pull in this run: a sweep that began before it has not come to its end.
    v_more := exists (select 1 from sync.poll_watermarks pw
                       where pw.swept_at is null
                          or pw.swept_at < coalesce((select r.started_at from sync.runs r where r.id = p_run_id), v_now));
    v_result := sync._ingest_work(p_run_id, null, v_snap, v_version, (select count(*)::integer from sync.work_pull), s, false);
    v_reconcile := sync._poll_reconcile_step(p_run_id);
    return v_result || jsonb_build_object('more', v_more or v_reconcile is not null, 'read', v_read, 'reconcile', v_reconcile);
end;
$$;

revoke execute on function sync._connect_polling(), sync._poll_reconcile_entity(bigint, text), sync._poll_reconcile_step(bigint),
    sync._pull_polling(bigint, integer) from public;
