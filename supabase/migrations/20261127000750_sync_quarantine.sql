-- Releasing quarantined changes by hand (api.md): retry (the legacy row's current image, or the
-- operator's row) and discard. Both audited with the caller; both return the quarantine row.
-- Errors: SY404 unknown id, SY409 already released or a run applying right now, SY400 a bad row.

-- Whether a run holds the applier now (else this transaction takes it, until it ends).
create function sync._applier_busy()
returns boolean
language sql
set search_path = ''
as $$
    select not pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('sync.applier'))
           or exists (select 1 from sync.applier l where sync._lease_alive(l));
$$;

-- The open quarantine row, locked, after the checks every release makes; and the applier, held by
-- this transaction (a release applies now, so it must not run beside a tick).
create function sync._quarantine_take(p_id bigint, p_queue boolean default false)
returns sync.quarantine
language plpgsql
set search_path = ''
as $$
declare
    q sync.quarantine;
begin
    select * into q from sync.quarantine x where x.id = p_id for update;
    if not found then
        perform sync._raise(404, format('quarantine row %s does not exist', p_id), format('id %s', p_id));
    end if;
    if q.released_at is not null then
        perform sync._raise(409, format('quarantine row %s is already released (%s by %s)', q.id, q.resolution, q.released_by),
                            format('id %s', q.id));
    end if;
    if not p_queue and sync._applier_busy() then
        perform sync._raise(409, 'a run is applying changes right now: try again in a moment', format('id %s', q.id));
    end if;
    return q;
end;
$$;

create function sync.retry_quarantined(id bigint, "row" jsonb default null, caller text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    -- A retry of the legacy row may be queued behind a running tick; an operator's row is written now.
    q sync.quarantine := sync._quarantine_take(retry_quarantined.id, retry_quarantined."row" is null);
    e sync.entities;
    v_who text := sync._caller(retry_quarantined.caller);
    v_version bigint;
    v_identity jsonb;
    v_image jsonb;
    v_inbox bigint;
    v_target uuid;
    v_bad text;
    v_state text;
    v_constraint text;
    v_column text;
    v_schema text;
    v_table text;
    v_outcome text;
begin
    select * into e from sync.entities x where x.name = q.entity;
    if retry_quarantined."row" is null then
        -- The legacy row as it is now (first remote statement: the snapshot it is read at).
        select p.version, p.identity into v_version, v_identity from sync._source_point() p;
        if v_identity is distinct from (select s.identity from sync.source s) then
            perform sync._raise(409, 'the source changed identity: re-baseline it with a full backfill first');
        end if;
        execute format('select to_jsonb(s) from %s s where s.%I = $1', sync._source_relation(e.name), e.source_pk)
           into v_image using q.legacy_id;
        insert into sync.inbox (entity, legacy_id, op, image, source_version, captured_at)
        values (e.name, q.legacy_id, case when v_image is null then 'delete' else 'upsert' end, v_image,
                v_version, now())
        returning inbox.id into v_inbox;
        update sync.inbox i set status = 'superseded', applied_at = now() where i.id = q.inbox_id and i.status = 'quarantined';
        update sync.quarantine x set released_at = now(), released_by = v_who, resolution = 'retried' where x.id = q.id
        returning * into q;
        -- Applied now; or, while a run holds the applier (a scheduled tick polls most of each minute),
        -- left pending for it: it applies it within a poll (outcome pending).
        if not sync._applier_busy() then
            perform sync._apply_isolated(e.name, null, array[v_inbox]);
        end if;
    else
        if jsonb_typeof(retry_quarantined."row") <> 'object' then
            perform sync._raise(400, 'the row must be a JSON object of target columns');
        end if;
        select k into v_bad from jsonb_object_keys(retry_quarantined."row") k where not k = any (e.write_columns) limit 1;
        if v_bad is not null then
            perform sync._raise(400, format('column "%s" is not one the sync writes for %s', v_bad, e.name));
        end if;
        v_inbox := q.inbox_id;
        execute format('select coalesce((select m.target_id from sync.id_map m where m.entity = $1 and m.legacy_id = $2),
                                        (select a.id from %s a where a.%I = $2),
                                        extensions.uuid_generate_v5(''5b0e3c2a-8f4d-4e71-9c6a-1d2f3e4a5b6c''::uuid, $1 || '':'' || $2))',
                       e.target_table, e.legacy_id_column)
           into v_target using e.name, q.legacy_id;
        begin
            perform sync._write_row(e.name, q.legacy_id, v_target,
                                    coalesce(sync._target_image(e.name, v_target), '{}') || retry_quarantined."row");
        exception when others then
            get stacked diagnostics v_state = returned_sqlstate, v_constraint = constraint_name, v_column = column_name,
                                    v_schema = schema_name, v_table = table_name;
            if not sync._row_error(v_state) then
                raise;
            end if;
            perform sync._raise(400, sync._apply_error_message(e.name, q.legacy_id, v_state, v_constraint, v_column, v_schema, v_table));
        end;
        update sync.id_map m set source_version = greatest(m.source_version, i.source_version)
          from sync.inbox i where i.id = q.inbox_id and m.entity = e.name and m.legacy_id = q.legacy_id;
        update sync.inbox i set status = 'applied', applied_at = now(), reason = 'operator row' where i.id = q.inbox_id;
        update sync.quarantine x set released_at = now(), released_by = v_who, resolution = 'custom' where x.id = q.id
        returning * into q;
    end if;
    select i.status into v_outcome from sync.inbox i where i.id = v_inbox;
    insert into sync.audit (kind, subject, caller, details)
    values ('quarantine.retry', 'quarantine:' || q.id, v_who,
            jsonb_build_object('entity', q.entity, 'legacy_id', q.legacy_id, 'outcome', v_outcome,
                               'columns', (select jsonb_agg(k) from jsonb_object_keys(retry_quarantined."row") k)));
    return to_jsonb(q) || jsonb_build_object(
        'outcome', v_outcome,
        'quarantine', (select to_jsonb(x) from sync.quarantine x
                        where x.entity = q.entity and x.legacy_id = q.legacy_id and x.released_at is null));
end;
$$;
comment on function sync.retry_quarantined(bigint, jsonb, text) is
    'Releases a quarantined change and applies it now: the legacy row''s current image (it may be quarantined again, with the new reason; while a run applies, left pending for it), or the operator''s row of target columns (SY409 while a run applies). SY404 unknown, SY409 released. Audited. Returns the quarantine row with the outcome.';

create function sync.discard_quarantined(id bigint, caller text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    q sync.quarantine := sync._quarantine_take(discard_quarantined.id);
    v_who text := sync._caller(discard_quarantined.caller);
begin
    update sync.inbox i set status = 'discarded', applied_at = now(), reason = 'discarded by ' || v_who
     where i.id = q.inbox_id and i.status = 'quarantined';
    update sync.quarantine x set released_at = now(), released_by = v_who, resolution = 'discarded' where x.id = q.id
    returning * into q;
    insert into sync.audit (kind, subject, caller, details)
    values ('quarantine.discard', 'quarantine:' || q.id, v_who, jsonb_build_object('entity', q.entity, 'legacy_id', q.legacy_id));
    return to_jsonb(q);
end;
$$;
comment on function sync.discard_quarantined(bigint, text) is
    'Closes a quarantined change as discarded (it is never applied). SY404 unknown, SY409 released. Audited. Returns the quarantine row.';

revoke execute on function sync._quarantine_take(bigint, boolean), sync._applier_busy(), sync.retry_quarantined(bigint, jsonb, text),
    sync.discard_quarantined(bigint, text) from public;
