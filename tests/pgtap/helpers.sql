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

-- Applies an entity twice; returns the first apply's counts (the second must find nothing).
create or replace function test.apply(p_entity text)
returns jsonb language plpgsql
as $$
declare
    v jsonb := sync._apply_entity(p_entity, null);
begin
    if sync._apply_entity(p_entity, null) <> '{}' then
        raise exception 'a second apply of % changed something', p_entity;
    end if;
    return v;
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
