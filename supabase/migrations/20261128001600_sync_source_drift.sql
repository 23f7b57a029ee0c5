-- Source schema drift (engine.md §1): the legacy application keeps shipping migrations. Before each
-- pull (sync._pull calls sync._source_drift in the pull's transaction, so the check and the pull see
-- one source snapshot) the captured tables' columns on the source are read from its catalog in one
-- remote query (foreign tables over pg_catalog, created here on first use: nothing is installed on
-- the source, so this works in every capture mode) and compared with the shape seen last time
-- (sync.source_shape, by table oid and column number, so a rename is told from a drop and an add)
-- and with the columns each entity's transform uses (sync.entities.source_columns).
--
-- Every change is recorded in sync.source_drift and alerted (kind source_drift, no row values):
--   absorbed  a change no mapping uses (a column added, an unused one dropped, renamed or retyped,
--             a used one retyped compatibly: integer widening, varchar/text): the entity's foreign
--             table is re-imported (excluded columns stay excluded); an info alert notes it.
--   paused    a change that breaks the entity's mapping (a used column dropped, renamed or retyped
--             otherwise; an excluded column renamed; the table renamed or gone; a used column that
--             the source does not have): only that entity stops applying. Its keys are still pulled
--             into the inbox (the cursor moves for everyone) without reading its rows (the inbox
--             image is a marker); they wait as pending. A warning alert per entity.
-- A paused entity resumes when the mapping is updated (a migration that changes its transform and
-- source_columns, or source_table for a renamed table) so that the source satisfies it again (or
-- the source change is undone): the next pull re-imports its foreign table, re-reads the rows of
-- its waiting keys at the pull's snapshot and releases them, so it catches up exactly.

alter table sync.entities add column source_columns text[];
comment on column sync.entities.source_columns is
    'The source columns the entity''s transform reads (besides source_pk): a source change to one of them pauses the entity (source drift) until the mapping is updated. NULL: every column counts as used, and only a mapping update (a changed transform or registry row) resumes the entity.';

-- The 13 pack entities: the image keys each transform reads (2026112700{1000..2200}_entity_*.sql).
update sync.entities e set source_columns = c.cols
  from (values ('content_types', '{app_label,model}'::text[]),
               ('profiles', '{username,email,first_name,last_name,is_superuser,is_staff,is_active,date_joined,last_login}'),
               ('offices', '{name,phone,address,city,state,zip_code,is_active,created_at,updated_at}'),
               ('patients', '{office_id,user_id,doctor_id,patient_number,first_name,last_name,birthdate,email,status_id,medical_notes,created_at,updated_at}'),
               ('cases', '{patient_id,doctor_id,office_id,product,status,notes,submitted_at,created_at,updated_at}'),
               ('treatment_plans', '{instruction_id,version,status,approved_at,created_at,updated_at}'),
               ('orders', '{instruction_id,patient_id,office_id,status,total,created_at,updated_at}'),
               ('operations', '{order_id,type,price,made_at,payment_id,sq_order_id,sq_payment_id,sq_refund_id,card_brand,card_last,card_bin,office_card,created_at}'),
               ('messages', '{type,text,author_id,target_type_id,target_id,group_id,public,created_at}'),
               ('case_messages', '{plan_id,author_id,text,created_at}'),
               ('system_messages', '{recipient_id,template_name,template_context,sender,subject,content,send,sent,send_at,sent_at,created_at}'),
               ('files', '{name,path,size,mime_type,uploaded_by_id,created_at}'),
               ('case_files', '{file_id,instruction_id,created_at}')) as c (name, cols)
 where e.name = c.name;

-- The shape of each entity's source table as last seen: its oid, qualified name and live columns.
create table sync.source_shape (
    entity text not null references sync.entities (name) on delete cascade,
    relid oid not null,
    tbl text not null,               -- schema.table on the source when seen
    attnum smallint not null,
    attname text not null,
    atttype text not null,           -- format_type(atttypid, atttypmod)
    excluded boolean not null,       -- a source_exclude column (followed through renames by attnum)
    primary key (entity, attnum)
);

-- Every qualified name under which an entity's source table was seen: the capture log keeps the
-- name a table had when capture was enabled, so a renamed table's keys still reach its entity.
create table sync.source_table_names (
    tbl text primary key,
    entity text not null references sync.entities (name) on delete cascade
);

create table sync.source_drift (
    id bigserial primary key,
    entity text not null references sync.entities (name) on delete cascade,
    source_table text not null,      -- the table's name before the change
    kind text not null check (kind in ('column_added', 'column_dropped', 'column_renamed', 'column_retyped',
                                       'column_missing', 'table_renamed', 'table_missing')),
    column_name text,                -- the column (its name before a rename)
    attnum smallint,
    new_name text,                   -- column_renamed: the new column name; table_renamed: the new table name
    old_type text,
    new_type text,
    action text not null check (action in ('absorbed', 'paused')),
    mapping text not null,           -- the mapping's fingerprint when detected (sync._mapping_fingerprint)
    detected_at timestamptz not null default now(),
    resolved_at timestamptz          -- absorbed: at once; paused: when the mapping was satisfied again
);
create index source_drift_open_idx on sync.source_drift (entity) where resolved_at is null;
comment on table sync.source_drift is
    'Source schema changes seen before a pull: absorbed (re-imported) or pausing the entity until its mapping is updated.';

-- The check's remote read, one query per pull.
create unlogged table sync.work_shape (relid oid not null, tbl text not null, attnum smallint not null, attname text not null,
                                       atttype text not null);
revoke all on sync.source_shape, sync.source_table_names, sync.source_drift, sync.work_shape from public;

-- The entities paused by source drift (no remote access).
create function sync._drift_paused()
returns text[]
language sql
stable
set search_path = ''
as $$
    select coalesce(array_agg(distinct d.entity order by d.entity), '{}')
      from sync.source_drift d where d.action = 'paused' and d.resolved_at is null;
$$;

-- What the entity's mapping is: its table, key, used and excluded columns and its transform's
-- source. A changed fingerprint means the mapping was updated (a migration was shipped).
create function sync._mapping_fingerprint(p_entity text)
returns text
language sql
stable
set search_path = ''
as $$
    select md5(concat_ws('|', e.source_table, e.source_pk, e.source_columns::text, e.source_exclude::text,
                         (select p.prosrc from pg_catalog.pg_proc p where p.oid = e.transform::oid)))
      from sync.entities e where e.name = p_entity;
$$;

-- Jsonb renders the two types alike and the transforms' casts read both: a used column may change
-- between them without touching its mapping (integer widening, varchar lengths and text).
create function sync._drift_compatible(p_old text, p_new text)
returns boolean
language sql
immutable
set search_path = ''
as $$
    select p_old = p_new
        or (p_old in ('smallint', 'integer', 'bigint') and p_new in ('integer', 'bigint')
            and array_position('{smallint,integer,bigint}'::text[], p_new) >= array_position('{smallint,integer,bigint}'::text[], p_old))
        or (regexp_replace(p_old, '\(\d+\)$', '') in ('character varying', 'text') and p_new in ('character varying', 'text'))
        or (regexp_replace(p_old, '\(\d+\)$', '') = 'character varying' and p_new ~ '^character varying\(\d+\)$'
            and coalesce(substring(p_new from '\((\d+)\)')::integer >= substring(p_old from '\((\d+)\)')::integer, false));
$$;

-- The source's catalog, as foreign tables of the source server (dropped with it by a reconnect:
-- created again on first use).
create function sync._drift_catalog()
returns void
language plpgsql
set search_path = ''
as $$
begin
    if to_regclass('sync_src_catalog.pg_attribute') is not null then
        return;
    end if;
    create schema if not exists sync_src_catalog;
    revoke all on schema sync_src_catalog from public;
    create foreign table if not exists sync_src_catalog.pg_namespace (oid oid, nspname name)
        server sync_source options (schema_name 'pg_catalog', table_name 'pg_namespace');
    create foreign table if not exists sync_src_catalog.pg_class (oid oid, relname name, relnamespace oid)
        server sync_source options (schema_name 'pg_catalog', table_name 'pg_class');
    create foreign table if not exists sync_src_catalog.pg_attribute (attrelid oid, attnum smallint, attname name, atttypid oid,
                                                                      atttypmod integer, attisdropped boolean)
        server sync_source options (schema_name 'pg_catalog', table_name 'pg_attribute');
    -- Statistics, so that the planner sends the three-way join to the source as one query.
    analyze sync_src_catalog.pg_namespace, sync_src_catalog.pg_class, sync_src_catalog.pg_attribute;
end;
$$;

-- Re-imports an entity's foreign table from the source as it is now, minus its excluded columns
-- (by the registry and by the shape, which follows an excluded column through a rename), and
-- drops the foreign tables of the names the table had before (p_old_tbl, sync.source_table_names).
create function sync._drift_reimport(p_entity text, p_old_tbl text default null)
returns void
language plpgsql
set search_path = ''
as $$
declare
    e sync.entities;
    v_col text;
begin
    select * into e from sync.entities where name = p_entity;
    -- The foreign tables of the names the table had before (none of another entity's).
    for v_col in
        select distinct split_part(t.tbl, '.', 2) from sync.source_table_names t
         where t.entity = p_entity and t.tbl <> e.source_table
        union select split_part(p_old_tbl, '.', 2) where p_old_tbl <> e.source_table
        except select split_part(x.source_table, '.', 2) from sync.entities x
    loop
        execute format('drop foreign table if exists sync_src.%I', v_col);
    end loop;
    execute format('drop foreign table if exists %s', sync._source_relation(p_entity));
    execute format('import foreign schema %I limit to (%I) from server sync_source into sync_src',
                   split_part(e.source_table, '.', 1), split_part(e.source_table, '.', 2));
    for v_col in
        select x from unnest(e.source_exclude) x
        union select s.attname from sync.source_shape s where s.entity = p_entity and s.excluded
    loop
        execute format('alter foreign table %s drop column if exists %I', sync._source_relation(p_entity), v_col);
    end loop;
end;
$$;

-- Re-reads the rows of a resuming entity's waiting keys (pending and parked) at the pull's
-- snapshot: the images stored while it was paused are markers or have the old shape. Each key's
-- waiting rows get its current image (or become a delete) and go back to pending; versions stay, so
-- the newest still wins. Returns the keys re-read.
create function sync._drift_reread(p_entity text)
returns integer
language plpgsql
set search_path = ''
as $$
declare
    v_tbl text := (select e.source_table from sync.entities e where e.name = p_entity);
    v_n integer;
begin
    truncate sync.work_pull;
    insert into sync.work_pull (tbl, pk, captured_at, n)
    select v_tbl, i.legacy_id, max(i.captured_at), count(*)::integer
      from sync.inbox i where i.entity = p_entity and i.status in ('pending', 'parked')
     group by i.legacy_id;
    get diagnostics v_n = row_count;
    if v_n > 0 then
        perform sync._read_images();
        update sync.inbox i set image = r.img, op = case when r.img is null then 'delete' else 'upsert' end, status = 'pending',
                                parent_entity = null, parent_legacy_id = null
          from sync.work_pull p
          left join sync.work_img r on r.tbl = p.tbl and r.pk = p.pk
         where i.entity = p_entity and i.status in ('pending', 'parked') and i.legacy_id = p.pk;
    end if;
    truncate sync.work_pull;
    return v_n;
end;
$$;

-- Before each pull, in its transaction: compares the source's columns of every entity's table with
-- the shape seen last and with the mapping; records, alerts, absorbs (re-import) or pauses, and
-- resumes the paused entities whose mapping the source satisfies again. One remote query when
-- nothing changed. Returns the paused entities.
-- Writes: sync.source_shape, sync.source_table_names, sync.source_drift, sync.alerts, sync.inbox
-- (a resuming entity's waiting rows), the foreign tables of sync_src.
create or replace function sync._source_drift()
returns text[]
language plpgsql
set search_path = ''
as $$
declare
    v_oids oid[];
    v_names text[];
    e record;
    d record;
    v_cur_relid oid;
    v_cur_tbl text;
    v_base_relid oid;
    v_base_tbl text;
    v_used text[];
    v_fp text;
    v_absorbed boolean;
    v_paused boolean;
    v_ok boolean;
    v_n integer;
    v_sql text;
begin
    perform sync._drift_catalog();
    v_oids := array(select distinct s.relid from sync.source_shape s);
    delete from sync.work_shape;  -- not truncate: a new file per pull costs more than the check
    -- The one remote query: the tables seen before, by oid (so a renamed one is still found), with
    -- their namespaces and columns, joined and filtered on the source (literals: planned with the
    -- catalog tables' statistics, the three-way join is shipped; a generic plan would fetch
    -- pg_attribute whole). Types by oid: a built-in type's oid is the same in every cluster, so its
    -- name is rendered here (format_type is not shipped); another (an enum, a domain) is compared by oid.
    v_sql := $q$
        insert into sync.work_shape (relid, tbl, attnum, attname, atttype)
        select c.oid, n.nspname::text || '.' || c.relname::text, a.attnum, a.attname::text,
               case when a.atttypid < 16384 then pg_catalog.format_type(a.atttypid, a.atttypmod)
                    else pg_catalog.format('type oid %s (%s)', a.atttypid, a.atttypmod) end
          from sync_src_catalog.pg_class c
          join sync_src_catalog.pg_namespace n on n.oid = c.relnamespace
          join sync_src_catalog.pg_attribute a on a.attrelid = c.oid
         where a.attnum > 0 and not a.attisdropped $q$;
    if v_oids <> '{}' then
        execute v_sql || format(' and c.oid = any (%1$L::oid[]) and a.attrelid = any (%1$L::oid[])', v_oids);
    end if;
    -- A second one only for the tables not found by oid (first sight, or gone): by name.
    v_names := array(select x.source_table from sync.entities x
                      where x.available and not exists (select 1 from sync.source_shape s join sync.work_shape w on w.relid = s.relid
                                         where s.entity = x.name));
    if v_names <> '{}' then
        execute v_sql || format(' and n.nspname::text || ''.'' || c.relname::text = any (%L::text[])', v_names)
                      || format(' and not c.oid = any (%L::oid[])', v_oids);
    end if;

    -- Nothing changed, nothing paused and the registry satisfied: done.
    if not exists (select 1 from sync.source_drift x where x.resolved_at is null)
       and not exists (select s.relid, s.tbl, s.attnum, s.attname, s.atttype from sync.source_shape s
                       except select w.relid, w.tbl, w.attnum, w.attname, w.atttype from sync.work_shape w)
       and not exists (select w.relid, w.tbl, w.attnum, w.attname, w.atttype from sync.work_shape w
                        where w.relid = any (v_oids)
                       except select s.relid, s.tbl, s.attnum, s.attname, s.atttype from sync.source_shape s)
       and not exists (select 1 from sync.entities x
                        where x.available and not exists (select 1 from sync.source_shape s where s.entity = x.name))
       -- and the registry still matches it (a mapping may be shipped ahead of its source migration)
       and not exists (select 1 from sync.entities x
                        where x.available and (not exists (select 1 from sync.source_shape s where s.entity = x.name and s.tbl = x.source_table)
                           or exists (select 1 from unnest(coalesce(x.source_columns, '{}') || x.source_pk || x.poll_column) u
                                       where u is not null
                                         and not exists (select 1 from sync.source_shape s where s.entity = x.name and s.attname = u))
                           or exists (select 1 from sync.source_shape s
                                       where s.entity = x.name and s.excluded and not s.attname = any (x.source_exclude)))) then
        return '{}';
    end if;

    for e in select x.name, x.source_table, x.source_pk, x.source_exclude, x.source_columns, x.poll_column
               from sync.entities x where x.available order by x.name loop
        -- Without source_columns every column seen (but the excluded ones) counts as used.
        v_used := array(select distinct u from unnest(coalesce(e.source_columns,
                                                                array(select s.attname from sync.source_shape s
                                                                       where s.entity = e.name and not s.excluded))
                                                       || e.source_pk || e.poll_column) u
                         where u is not null);
        v_fp := sync._mapping_fingerprint(e.name);
        v_absorbed := false;
        select s.relid, s.tbl into v_base_relid, v_base_tbl from sync.source_shape s where s.entity = e.name limit 1;
        -- The table now: the same oid, else the registry's name.
        v_cur_relid := null;
        select w.relid, w.tbl into v_cur_relid, v_cur_tbl from sync.work_shape w where w.relid = v_base_relid limit 1;
        if v_cur_relid is null then
            select w.relid, w.tbl into v_cur_relid, v_cur_tbl from sync.work_shape w where w.tbl = e.source_table limit 1;
        end if;

        if v_base_relid is null then
            -- First sight (a new connection or a new entity): the current shape is the baseline.
            if v_cur_relid is not null then
                insert into sync.source_shape (entity, relid, tbl, attnum, attname, atttype, excluded)
                select e.name, w.relid, w.tbl, w.attnum, w.attname, w.atttype, w.attname = any (e.source_exclude)
                  from sync.work_shape w where w.relid = v_cur_relid;
                insert into sync.source_table_names (tbl, entity) values (v_cur_tbl, e.name) on conflict (tbl) do update set entity = excluded.entity;
                -- What connect_source imported may predate it: a column changed in between is told by name
                -- (a used one missing is found below as column_missing).
                insert into sync.source_drift (entity, source_table, kind, column_name, old_type, new_type, action, mapping, resolved_at)
                select e.name, v_cur_tbl, case when c.name is null then 'column_dropped' else 'column_added' end,
                       coalesce(i.name, c.name), case when c.name is null then pg_catalog.format_type(i.typ, i.typmod) end,
                       c.atttype, case when c.name is null and e.source_columns is null then 'paused' else 'absorbed' end, v_fp,
                       case when c.name is null and e.source_columns is null then null else now() end
                  from (select coalesce((select o.option_value from pg_catalog.pg_options_to_table(a.attfdwoptions) o
                                          where o.option_name = 'column_name'), a.attname::text) as name,
                               a.atttypid as typ, a.atttypmod as typmod
                          from pg_catalog.pg_attribute a
                         where a.attrelid = to_regclass(sync._source_relation(e.name)) and a.attnum > 0 and not a.attisdropped) i
                  full join (select w.attname as name, w.atttype from sync.work_shape w
                              where w.relid = v_cur_relid and not w.attname = any (e.source_exclude)) c on c.name = i.name
                 where (i.name is null or c.name is null) and not coalesce(i.name, c.name) = any (v_used)
                   and to_regclass(sync._source_relation(e.name)) is not null;
                v_absorbed := exists (select 1 from sync.source_drift x where x.entity = e.name and x.action = 'absorbed'
                                                                         and x.detected_at = now());
            end if;
        elsif v_cur_relid is null then
            if not exists (select 1 from sync.source_drift x where x.entity = e.name and x.kind = 'table_missing' and x.resolved_at is null) then
                insert into sync.source_drift (entity, source_table, kind, action, mapping)
                values (e.name, v_base_tbl, 'table_missing', 'paused', v_fp);
            end if;
        else
            if v_cur_tbl <> v_base_tbl then
                insert into sync.source_drift (entity, source_table, kind, new_name, action, mapping)
                values (e.name, v_base_tbl, 'table_renamed', v_cur_tbl,
                        case when v_cur_tbl = e.source_table then 'absorbed' else 'paused' end, v_fp);
                insert into sync.source_table_names (tbl, entity) values (v_cur_tbl, e.name) on conflict (tbl) do update set entity = excluded.entity;
            end if;
            -- Column changes, matched by column number in the same table (by name in a recreated one).
            for d in
                with b as (select s.*, case when v_cur_relid = v_base_relid then s.attnum::text else s.attname end as k
                             from sync.source_shape s where s.entity = e.name),
                     c as (select w.*, case when v_cur_relid = v_base_relid then w.attnum::text else w.attname end as k
                             from sync.work_shape w where w.relid = v_cur_relid),
                     m as (select b.attnum as b_num, b.attname as b_name, b.atttype as b_type, b.excluded,
                                  c.attnum as c_num, c.attname as c_name, c.atttype as c_type
                             from b full join c on b.k = c.k)
                select case when m.b_num is null then 'column_added' when m.c_num is null then 'column_dropped'
                            when m.b_name <> m.c_name then 'column_renamed' end as kind, m.*
                  from m where m.b_num is null or m.c_num is null or m.b_name <> m.c_name
                union all
                select 'column_retyped', m.* from m where m.b_type <> m.c_type
            loop
                v_paused := case d.kind
                                when 'column_added' then false
                                when 'column_retyped' then coalesce(d.c_name = any (v_used) or d.b_name = any (v_used), false)
                                                           and not sync._drift_compatible(d.b_type, d.c_type)
                                else d.b_name = any (v_used) or (d.kind = 'column_renamed' and d.excluded) end;
                insert into sync.source_drift (entity, source_table, kind, column_name, attnum, new_name, old_type, new_type,
                                               action, mapping, resolved_at)
                values (e.name, v_base_tbl, d.kind, coalesce(d.b_name, d.c_name), coalesce(d.c_num, d.b_num),
                        case when d.kind = 'column_renamed' then d.c_name end,
                        case when d.kind <> 'column_added' then d.b_type end, case when d.kind <> 'column_dropped' then d.c_type end,
                        case when v_paused then 'paused' else 'absorbed' end, v_fp, case when not v_paused then now() end);
                v_absorbed := v_absorbed or not v_paused;
            end loop;
            -- The shape seen now becomes the baseline (excluded columns followed by number).
            delete from sync.source_shape s where s.entity = e.name
               and not exists (select 1 from sync.work_shape w where w.relid = v_cur_relid and w.attnum = s.attnum);
            insert into sync.source_shape as s (entity, relid, tbl, attnum, attname, atttype, excluded)
            select e.name, w.relid, w.tbl, w.attnum, w.attname, w.atttype, w.attname = any (e.source_exclude)
              from sync.work_shape w where w.relid = v_cur_relid
            on conflict (entity, attnum) do update
                set relid = excluded.relid, tbl = excluded.tbl, attname = excluded.attname, atttype = excluded.atttype,
                    excluded = s.excluded or excluded.excluded;
        end if;

        -- A column the mapping uses that the source does not have (a mapping shipped ahead of its
        -- source migration, or a change made before the first look): paused too.
        if v_cur_relid is not null and v_cur_tbl = e.source_table then
            insert into sync.source_drift (entity, source_table, kind, column_name, action, mapping)
            select e.name, e.source_table, 'column_missing', u, 'paused', v_fp
              from unnest(v_used) u
             where not exists (select 1 from sync.work_shape w where w.relid = v_cur_relid and w.attname = u)
               and not exists (select 1 from sync.source_drift x where x.entity = e.name and x.resolved_at is null and x.action = 'paused');
        end if;

        if exists (select 1 from sync.source_drift x where x.entity = e.name and x.action = 'paused' and x.resolved_at is null) then
            -- Resumes when the source satisfies the mapping: its table under the registry's name, every
            -- used column there, no excluded column under a name the registry does not exclude, and each
            -- used column retyped back or the mapping updated since.
            v_ok := v_cur_relid is not null and v_cur_tbl = e.source_table
                and not exists (select 1 from unnest(v_used) u
                                 where not exists (select 1 from sync.work_shape w where w.relid = v_cur_relid and w.attname = u))
                and not exists (select 1 from sync.source_shape s where s.entity = e.name and s.excluded
                                   and not s.attname = any (e.source_exclude))
                and not exists (select 1 from sync.source_drift x
                                  join sync.work_shape w on w.relid = v_cur_relid and w.attnum = x.attnum
                                 where x.entity = e.name and x.kind = 'column_retyped' and x.action = 'paused' and x.resolved_at is null
                                   and w.atttype <> x.old_type and x.mapping = v_fp)
                -- without source_columns only a mapping update (a new fingerprint) resumes it
                and (e.source_columns is not null
                     or not exists (select 1 from sync.source_drift x where x.entity = e.name and x.action = 'paused'
                                       and x.resolved_at is null and x.mapping = v_fp));
            if v_ok then
                update sync.source_drift x set resolved_at = now() where x.entity = e.name and x.resolved_at is null;
                perform sync._drift_reimport(e.name, v_base_tbl);
                v_n := sync._drift_reread(e.name);
                perform sync._resolve_alert('source_drift:' || e.name,
                                            format('the mapping matches the source again; %s waiting keys re-read', v_n));
            elsif exists (select 1 from sync.source_drift x where x.entity = e.name and x.resolved_at is null and x.detected_at = now()) then
                -- Raised when a change is found (not on every pull while paused), naming every open one.
                perform sync._alert('source_drift', 'warning', 'source_drift:' || e.name,
                    format('entity %s is paused: a source change breaks its mapping (%s); its changes wait until the mapping is updated',
                           e.name, (select string_agg(concat_ws(' ', x.kind, x.column_name, nullif('-> ' || coalesce(x.new_name, x.new_type), '-> ')),
                                                      ', ' order by x.id)
                                      from sync.source_drift x where x.entity = e.name and x.resolved_at is null)),
                    jsonb_build_object('entity', e.name, 'drift', (select jsonb_agg(x.id order by x.id) from sync.source_drift x
                                                                     where x.entity = e.name and x.resolved_at is null)));
            end if;
        elsif v_absorbed or (v_base_tbl is not null and v_cur_tbl is distinct from v_base_tbl) then
            perform sync._drift_reimport(e.name, v_base_tbl);
        end if;
        if v_absorbed then
            perform sync._alert('source_drift', 'info', format('source_drift:%s:absorbed', e.name),
                format('source table %s of entity %s changed in columns its mapping does not use (%s); its foreign table was re-imported',
                       coalesce(v_cur_tbl, e.source_table), e.name,
                       (select string_agg(concat_ws(' ', x.kind, x.column_name), ', ' order by x.id) from sync.source_drift x
                         where x.entity = e.name and x.action = 'absorbed' and x.detected_at = now())),
                jsonb_build_object('entity', e.name));
        end if;
    end loop;
    return sync._drift_paused();
end;
$$;

revoke execute on function sync._drift_paused(), sync._mapping_fingerprint(text), sync._drift_compatible(text, text),
    sync._drift_catalog(), sync._drift_reimport(text, text), sync._drift_reread(text), sync._source_drift() from public;

-- Source schema drift's part of the health summary (sync.health): the paused entities and the open
-- changes that pause them.
create or replace function sync._health_drift()
returns jsonb
language sql
stable
set search_path = ''
as $$
    select jsonb_build_object(
        'paused', to_jsonb(sync._drift_paused()),
        'open', coalesce((select jsonb_agg(jsonb_build_object('id', d.id, 'entity', d.entity, 'table', d.source_table, 'kind', d.kind,
                                                              'column', d.column_name, 'new_name', d.new_name, 'old_type', d.old_type,
                                                              'new_type', d.new_type, 'detected_at', d.detected_at) order by d.id)
                            from sync.source_drift d where d.resolved_at is null), '[]'));
$$;
comment on function sync.health() is
    'The health summary: status, last and last successful run, lag, next scheduled run, success rates 24 h and 7 d, queue depths, throughput, the last verification and its gaps, source and circuit breaker, backfill, source schema drift (paused entities, open changes), open alerts, runs per hour. Read-only.';
