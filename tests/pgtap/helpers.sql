-- Test helpers installed into the target template (schema test): feed changes into the inbox
-- and create mapped parent rows with literal legacy ids, so entity tests stay short.

create schema if not exists test;

-- The UUID the engine gives (entity, legacy id) when nothing else claims it.
create or replace function test.uuid(p_entity text, p_legacy_id bigint)
returns uuid language sql immutable
return extensions.uuid_generate_v5('5b0e3c2a-8f4d-4e71-9c6a-1d2f3e4a5b6c', p_entity || ':' || p_legacy_id);

-- A pending upsert of a legacy row image.
create or replace function test.change(p_entity text, p_legacy_id bigint, p_image jsonb,
                                       p_captured_at timestamptz default '2026-01-01 00:00:00+00', p_version bigint default 1)
returns bigint language sql
as $$
    insert into sync.inbox (entity, legacy_id, op, image, source_version, captured_at)
    values (p_entity, p_legacy_id, 'upsert', jsonb_build_object('id', p_legacy_id) || p_image, p_version, p_captured_at)
    returning id;
$$;

-- A pending delete of a legacy row.
create or replace function test.gone(p_entity text, p_legacy_id bigint, p_captured_at timestamptz default '2026-02-01 00:00:00+00',
                                     p_version bigint default 2)
returns bigint language sql
as $$
    insert into sync.inbox (entity, legacy_id, op, image, source_version, captured_at)
    values (p_entity, p_legacy_id, 'delete', null, p_version, p_captured_at)
    returning id;
$$;

-- What a re-application must leave exactly as it was: every registered entity's target rows, each
-- with its physical row version (ctid: a row rewritten with equal values shows too), and the id map.
create or replace function test.state()
returns jsonb language plpgsql
as $$
declare
    v_state jsonb := '{}';
    v_rows jsonb;
    v_entity record;
begin
    for v_entity in select e.name, e.target_table from sync.entities e order by e.name loop
        execute format($q$ select coalesce(jsonb_agg(jsonb_build_object('ctid', t.ctid::text, 'row', to_jsonb(t)) order by t.id), '[]')
                             from %s t $q$, v_entity.target_table)
           into v_rows;
        v_state := v_state || jsonb_build_object(v_entity.name, v_rows);
    end loop;
    return v_state || jsonb_build_object('sync.id_map',
        (select coalesce(jsonb_agg(to_jsonb(m) order by m.entity, m.legacy_id), '[]') from sync.id_map m));
end;
$$;

-- Applies an entity's open changes, then applies the very same changes a second time (reset to
-- pending, as a crash and re-pull would hand them over again) and raises unless that second
-- application left every target row and the id map exactly as the first one did, and wrote
-- nothing (no inserted, updated, deleted or rederived count). Returns the first apply's counts.
create or replace function test.apply(p_entity text)
returns jsonb language plpgsql
as $$
declare
    -- The changes the first apply works on: pending ones and parked ones whose parent is mapped.
    v_taken bigint[] := array(
        select i.id from sync.inbox i
         where i.entity = p_entity
           and (i.status = 'pending'
                or i.status = 'parked' and exists (select 1 from sync.id_map m
                                                    where m.entity = i.parent_entity and m.legacy_id = i.parent_legacy_id)));
    v_first jsonb;
    v_second jsonb;
    v_before jsonb;
    v_after jsonb;
    v_again integer;
begin
    v_first := sync._apply_entity(p_entity, null);
    v_before := test.state();
    -- Every one of them that the first apply settled (not those it superseded or held as a conflict).
    update sync.inbox set status = 'pending', parent_entity = null, parent_legacy_id = null
     where id = any (v_taken) and status in ('applied', 'skipped', 'parked', 'quarantined');
    get diagnostics v_again = row_count;
    if v_again = 0 then
        return v_first;
    end if;
    v_second := sync._apply_entity(p_entity, null);
    v_after := test.state();
    if v_after is distinct from v_before or v_second ?| array['inserted', 'updated', 'deleted', 'rederived'] then
        raise exception 'applying the same % changes a second time changed something', p_entity
            using detail = format('first apply %s, second apply %s; changed: %s', v_first, v_second,
                                  coalesce((select string_agg(a.key, ', ' order by a.key) from jsonb_each(v_after) a
                                             where a.value is distinct from v_before -> a.key), 'no row'));
    end if;
    return v_first;
end;
$$;

-- Re-applies every applied change of an entity: idempotence (must report only "unchanged").
create or replace function test.reapply(p_entity text)
returns jsonb language plpgsql
as $$
begin
    update sync.inbox set status = 'pending' where entity = p_entity and status = 'applied' and op = 'upsert';
    return sync._apply_entity(p_entity, null);
end;
$$;

-- A mapped parent row of the given entity and legacy id (minimal columns, fixed values).
create or replace function test.parent(p_entity text, p_legacy_id bigint, p_case bigint default null)
returns uuid language plpgsql
as $$
declare
    v_id uuid := test.uuid(p_entity, p_legacy_id);
    v_ts timestamptz := '2019-01-01 00:00:00+00';
begin
    case p_entity
    when 'profiles' then
        insert into public.profiles (id, legacy_user_id, username, role, is_active, date_joined, created_at, updated_at)
        values (v_id, p_legacy_id, 'u' || p_legacy_id, 'user', true, v_ts, v_ts, v_ts);
    when 'offices' then
        insert into public.offices (id, legacy_office_id, name, is_active, created_at, updated_at)
        values (v_id, p_legacy_id, 'o' || p_legacy_id, true, v_ts, v_ts);
    when 'patients' then
        perform test.parent('offices', 900000 + p_legacy_id);
        insert into public.patients (id, legacy_patient_id, office_id, patient_number, first_name, last_name, status,
                                     legacy_status_id, created_at, updated_at)
        values (v_id, p_legacy_id, test.uuid('offices', 900000 + p_legacy_id), 'P' || p_legacy_id, 'A', 'B', 'lead', 1, v_ts, v_ts);
    when 'cases' then
        perform test.parent('patients', 900000 + p_legacy_id);
        insert into public.cases (id, legacy_instruction_id, patient_id, status, product, created_at, updated_at)
        values (v_id, p_legacy_id, test.uuid('patients', 900000 + p_legacy_id), 'draft', 'x', v_ts, v_ts);
    when 'treatment_plans' then
        insert into public.treatment_plans (id, legacy_plan_id, case_id, version, status, created_at, updated_at)
        values (v_id, p_legacy_id, test.uuid('cases', p_case), 1, 'proposed', v_ts, v_ts);
    when 'orders' then
        perform test.parent('patients', 800000 + p_legacy_id);
        insert into public.orders (id, legacy_order_id, case_id, patient_id, total, status, created_at, updated_at)
        values (v_id, p_legacy_id, case when p_case is not null then test.uuid('cases', p_case) end,
                test.uuid('patients', 800000 + p_legacy_id), 1, 'pending', v_ts, v_ts);
    when 'files' then
        insert into public.files (id, legacy_file_id, name, storage_path, size_bytes, mime_type, created_at, updated_at)
        values (v_id, p_legacy_id, 'f', 'p', 1, 'x', v_ts, v_ts);
    when 'content_types' then
        raise exception 'use test.content_type(legacy id, app_label, model)';
    end case;
    insert into sync.id_map (entity, legacy_id, target_id) values (p_entity, p_legacy_id, v_id);
    return v_id;
end;
$$;

create or replace function test.content_type(p_legacy_id bigint, p_app_label text, p_model text)
returns uuid language sql
as $$
    insert into sync.content_types (id, legacy_content_type_id, app_label, model, created_at, updated_at)
    values (test.uuid('content_types', p_legacy_id), p_legacy_id, p_app_label, p_model, now(), now());
    insert into sync.id_map (entity, legacy_id, target_id) values ('content_types', p_legacy_id, test.uuid('content_types', p_legacy_id))
    returning target_id;
$$;
