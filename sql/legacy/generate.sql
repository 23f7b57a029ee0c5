-- Demo data generator for the legacy database: deterministic from a seed, scaled by one factor,
-- set-based (one insert ... select per table). Installs schema demo_gen on the legacy database;
-- it is the demo's and the tests' tool, not part of the product.
--
-- demo_gen.generate(scale, seed) empties the synced tables and fills them; scale 1 is about
-- 2.5M rows. Every awkward case of legacy-schema.md appears at any scale (fixed id patterns):
-- '' in optional text, unicode and emoji, text over 100 kB, NULL foreign keys, records whose
-- content type is neither patient nor user, invalid or empty JSON, placeholders with no value,
-- unknown codes, prices that do not parse, references to deleted parents, Django cascades.

create schema if not exists demo_gen;

-- A deterministic pseudo-random integer in 1..n for (i, salt).
create or replace function demo_gen.rnd(p_i bigint, p_salt bigint, p_n bigint)
returns bigint
language sql
immutable parallel safe
return 1 + (hashint8extended(p_i, p_salt) & 9223372036854775807) % greatest(p_n, 1);

-- A deterministic element of an array for (i, salt).
create or replace function demo_gen.pick(p_i bigint, p_salt bigint, p_items text[])
returns text
language sql
immutable parallel safe
return p_items[demo_gen.rnd(p_i, p_salt, cardinality(p_items))];

-- A deterministic timestamp between 2019-01-01 and about 2025-06 for (i, salt).
create or replace function demo_gen.ts(p_i bigint, p_salt bigint)
returns timestamptz
language sql
immutable parallel safe
return timestamptz '2019-01-01 00:00:00+00' + make_interval(secs => demo_gen.rnd(p_i, p_salt, 200000000));

create or replace function demo_gen.first_names()
returns text[]
language sql
immutable
return array['Ana', 'José', 'Zoë', 'Łukasz', 'Søren', '李', 'Renée', 'Oğuz', 'Ana María', 'Jean-Luc',
             'O''Brien', 'Mary', 'John', 'Fatima', 'Björk', 'Дмитрий', 'Ayşe', '😀 Sunny', 'Chloé', 'Nguyễn'];

create or replace function demo_gen.last_names()
returns text[]
language sql
immutable
return array['Smith', 'García', 'Müller', 'Kowalski', 'Østergaard', '王', 'Dubois', 'Yılmaz', 'Núñez',
             'Brown', 'Ivanova', 'Nakamura 中村', 'Lee', 'Patel', 'Rossi', 'Ó Súilleabháin', 'Khan 🦷', 'Silva'];

-- Deletes patients the way Django's on_delete=CASCADE does: children first, in the caller's
-- transaction. Records and notifications that point at a patient have no foreign key and stay.
create or replace function demo_gen.delete_patients(p_ids integer[])
returns integer
language plpgsql
as $$
declare
    v_rows integer;
begin
    delete from public.dispatch_comment c using public.dispatch_plan p, public.dispatch_instruction i
     where c.plan_id = p.id and p.instruction_id = i.id and i.patient_id = any (p_ids);
    delete from public.dispatch_plan p using public.dispatch_instruction i
     where p.instruction_id = i.id and i.patient_id = any (p_ids);
    delete from public.dispatch_file_instruction f using public.dispatch_instruction i
     where f.instruction_id = i.id and i.patient_id = any (p_ids);
    delete from public.dispatch_transaction t using public.dispatch_order o
     where t.order_id = o.id
       and (o.patient_id = any (p_ids)
            or o.instruction_id in (select id from public.dispatch_instruction where patient_id = any (p_ids)));
    delete from public.dispatch_order o
     where o.patient_id = any (p_ids)
        or o.instruction_id in (select id from public.dispatch_instruction where patient_id = any (p_ids));
    delete from public.dispatch_instruction where patient_id = any (p_ids);
    delete from public.dispatch_patient where id = any (p_ids);
    get diagnostics v_rows = row_count;
    return v_rows;
end;
$$;

-- Deletes instructions with their plans, comments, file links, orders and transactions.
create or replace function demo_gen.delete_instructions(p_ids integer[])
returns integer
language plpgsql
as $$
declare
    v_rows integer;
begin
    delete from public.dispatch_comment c using public.dispatch_plan p
     where c.plan_id = p.id and p.instruction_id = any (p_ids);
    delete from public.dispatch_plan where instruction_id = any (p_ids);
    delete from public.dispatch_file_instruction where instruction_id = any (p_ids);
    delete from public.dispatch_transaction t using public.dispatch_order o
     where t.order_id = o.id and o.instruction_id = any (p_ids);
    delete from public.dispatch_order where instruction_id = any (p_ids);
    delete from public.dispatch_instruction where id = any (p_ids);
    get diagnostics v_rows = row_count;
    return v_rows;
end;
$$;

-- The generated tables of schema public (those with a serial id), in name order; a table the
-- database lacks (an optional one) is simply not there.
create or replace function demo_gen.tables()
returns text[]
language sql
stable
return array(select c.relname::text from pg_catalog.pg_class c
                join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attname = 'id' and not a.attisdropped
                join pg_catalog.pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
              where c.relnamespace = 'public'::regnamespace and c.relkind = 'r'
                and pg_catalog.pg_get_expr(d.adbin, d.adrelid) like 'nextval(%'
              order by c.relname);

-- The row count a table gets at a scale: round(base * scale), at least 2.
create or replace function demo_gen.count_for(p_base bigint, p_scale numeric)
returns bigint
language sql
immutable
return greatest(2, round(p_base * p_scale))::bigint;

-- Data shapes (demo_gen.generate's p_shape). The helpers below are identities under the default
-- shape, so that '{}' generates exactly what the generator generated before it had shapes.

-- The id of the n-th row of a table under sparse_ids k: (n - 1) * k + 1 plus a jitter in 0..k-1,
-- deterministic for (n, salt); n itself when k = 1.
create or replace function demo_gen.sid(p_n bigint, p_k integer, p_salt bigint)
returns bigint
language sql
immutable parallel safe
return (p_n - 1) * p_k + 1
       + case when p_k > 1 then (hashint8extended(p_n, p_salt) & 9223372036854775807) % p_k else 0 end;

-- True for the rows of a share: of rows 1..n exactly round(n * share), evenly spread.
create or replace function demo_gen.in_share(p_i bigint, p_share numeric)
returns boolean
language sql
immutable parallel safe
return round(p_i * p_share) > round((p_i - 1) * p_share);

-- Whether a nullable column of row i is NULL: the generator's own pattern (p_default) when the
-- shape has no null_share (NULL), else whether row i is in that share.
create or replace function demo_gen.nulled(p_default boolean, p_i bigint, p_share numeric)
returns boolean
language sql
immutable parallel safe
return case when p_share is null then p_default else demo_gen.in_share(p_i, p_share) end;

-- The words of the wide texts: clinical-sounding and free of everything the mappings look for in
-- a text (the comment classification's 'approve', 'looks good', 'question', '?', 'treatment',
-- 'plan'; notification placeholders '{{').
create or replace function demo_gen.bulk_words()
returns text[]
language sql
immutable
return array['aligner', 'tray', 'upper', 'lower', 'arch', 'molar', 'incisor', 'canine', 'premolar', 'occlusal',
             'attachment', 'IPR', 'spacing', 'crowding', 'rotation', 'torque', 'intrusion', 'extrusion', 'midline',
             'overjet', 'overbite', 'crossbite', 'retainer', 'scan', 'impression', 'gingival', 'enamel', 'elastic',
             'button', 'refinement', 'stage', 'week', 'compliance', 'tracking', 'seating', 'chewies', 'hygiene',
             'sensitivity', 'mesial', 'distal', 'buccal', 'lingual', 'palatal', 'root', 'crown', 'contact', 'slight',
             'moderate', 'severe', 'noted', 'observed', 'adjusted', 'reviewed', 'confirmed', 'continue', 'wear',
             'hours', 'daily', 'the', 'and', 'with', 'on', 'of', 'for', 'after', 'before', 'remains', 'improved',
             'UR2', 'UL3', 'LR6', 'LL4', 'patient', 'reports', 'no', 'pain', 'mild', 'pressure', 'fit', 'good'];

-- The pool that wide texts are cut from: p_lines lines of exactly 100 bytes (99 ASCII characters
-- and a newline) of words, measurements and md5 references, deterministic for the salt. A wide
-- text is a run of consecutive lines, so it compresses about as much as real notes (pglz ~2:1).
create or replace function demo_gen.bulk_pool(p_salt bigint, p_lines integer)
returns bytea
language sql
immutable
return (select string_agg(convert_to(rpad(l.line, 99) || E'\n', 'UTF8'), ''::bytea order by l.i)
          from (select i, 'Stage ' || demo_gen.rnd(i, p_salt, 60) || ': '
                       || (select string_agg(case when w % 4 = 0 then (demo_gen.rnd(i * 16 + w, p_salt + 1, 250) / 100.0)::numeric(4, 2)::text || ' mm'
                                                  else demo_gen.pick(i * 16 + w, p_salt + 2, demo_gen.bulk_words()) end,
                                             ' ' order by w)
                             from generate_series(1, 10) w)
                       || '; ref ' || left(md5(i::text || ':' || p_salt), 8) || '.' as line
                  from generate_series(1, p_lines) i) l);

-- The bulk of a wide text: p_bytes bytes of the pool from one of its first 4096 lines, picked for
-- (i, salt).
create or replace function demo_gen.bulk(p_pool bytea, p_i bigint, p_salt bigint, p_bytes integer)
returns text
language sql
immutable parallel safe
return convert_from(substring(p_pool from ((demo_gen.rnd(p_i, p_salt, 4096) - 1) * 100 + 1)::integer for p_bytes), 'UTF8');

-- A long text made wide when p_wide: the text, a newline, then the bulk. Blank texts ('', only
-- whitespace) and NULL stay as they are, and so do the first line and every word of the text.
create or replace function demo_gen.widen(p_text text, p_wide boolean, p_pool bytea, p_i bigint, p_salt bigint,
                                          p_bytes integer)
returns text
language sql
immutable parallel safe
return case when p_wide and btrim(p_text, E' \t\r\n') <> '' then p_text || E'\n' || demo_gen.bulk(p_pool, p_i, p_salt, p_bytes)
            else p_text end;

-- A JSON-object text made wide when p_wide: a last key "notes" holding the bulk. Anything but an
-- object ('', invalid JSON, an array) stays as it is.
create or replace function demo_gen.widen_json(p_json text, p_wide boolean, p_pool bytea, p_i bigint, p_salt bigint,
                                               p_bytes integer)
returns text
language sql
immutable parallel safe
return case when p_wide and p_json like '{%}'
            then left(p_json, -1) || ', "notes": ' || to_json(demo_gen.bulk(p_pool, p_i, p_salt, p_bytes))::text || '}'
            else p_json end;

-- One numeric shape option: its value, or p_default when absent.
create or replace function demo_gen._shape_number(p_shape jsonb, p_key text, p_default numeric, p_min numeric,
                                                  p_max numeric, p_integer boolean)
returns numeric
language plpgsql
immutable
as $$
declare
    v jsonb := p_shape -> p_key;
    v_num numeric;
begin
    if v is null then
        return p_default;
    end if;
    if jsonb_typeof(v) = 'number' then
        v_num := (v #>> '{}')::numeric;
    end if;
    if v_num is null or v_num < p_min or v_num > p_max or (p_integer and v_num <> trunc(v_num)) then
        raise exception 'demo_gen.generate: shape option % must be % in [%, %], got %',
                        p_key, case when p_integer then 'an integer' else 'a number' end, p_min, p_max, v
            using errcode = '22023';
    end if;
    return v_num;
end;
$$;

-- The data-shape options of demo_gen.generate (see there), validated, with their defaults;
-- null_share is NULL when absent (the generator's own NULL patterns).
create or replace function demo_gen.parse_shape(p_shape jsonb, out wide_share numeric, out wide_kb numeric,
                                                out children integer, out null_share numeric, out sparse_ids integer)
language plpgsql
immutable
as $$
declare
    v_unknown text;
begin
    if p_shape is null or jsonb_typeof(p_shape) <> 'object' then
        raise exception 'demo_gen.generate: the shape must be a JSON object, got %', coalesce(p_shape::text, 'NULL')
            using errcode = '22023';
    end if;
    select string_agg(k, ', ' order by k) into v_unknown
      from jsonb_object_keys(p_shape) k
     where k not in ('wide_share', 'wide_kb', 'children', 'null_share', 'sparse_ids');
    if v_unknown is not null then
        raise exception 'demo_gen.generate: unknown shape option(s): %', v_unknown
            using errcode = '22023', hint = 'the options are wide_share, wide_kb, children, null_share, sparse_ids';
    end if;
    wide_share := demo_gen._shape_number(p_shape, 'wide_share', 0, 0, 1, false);
    wide_kb := demo_gen._shape_number(p_shape, 'wide_kb', 120, 1, 1024, false);
    children := demo_gen._shape_number(p_shape, 'children', 1, 1, 100, true);
    null_share := demo_gen._shape_number(p_shape, 'null_share', null, 0, 1, false);
    sparse_ids := demo_gen._shape_number(p_shape, 'sparse_ids', 1, 1, 1000, true);
end;
$$;

-- Fills the legacy tables (see the file header). p_shape, a JSON object, shapes the data for the
-- benchmark; every option is optional and '{}' generates exactly what the generator always did.
-- A row's ordinal is its position 1..n in its table as generated (before Django's cascades).
--   wide_share (0..1, default 0), wide_kb (1..1024, default 120): of the rows of each long-text
--     column (dispatch_comment.text, dispatch_record.text, dispatch_notification.content and
--     .template_context, dispatch_patient.medical_notes, dispatch_instruction.notes), those whose
--     ordinal is in the share (demo_gen.in_share: exactly round(n * wide_share) of n rows) get a
--     wide text: the text as it was, a newline, then ceil((wide_kb * 1000 + 1) / 100) * 100 - 1
--     bytes of multi-line clinical-sounding text (demo_gen.bulk_pool). Blank or NULL texts stay,
--     template_context grows only when it is a JSON object (a last key "notes").
--   children (integer 1..100, default 1): every table below offices, users and patients (the
--     roots) gets children times its rows: variant j (0-based) of row g0 is ordinal j * n + g0;
--     its foreign keys are row g0's, pointing at the same root or at variant j of a multiplied
--     parent, so every table keeps exactly children times its rows after the cascades; the other
--     columns are computed from its own ordinal.
--   null_share (0..1, default: the generator's own patterns): the nullable foreign keys (patient
--     user and doctor, instruction doctor and office, comment and record author, notification
--     recipient, file uploader, order instruction and office, transaction order, audit user) and
--     optional text columns (medical_notes, the transaction's price, Square ids, card fields,
--     payment_id) are NULL exactly in the rows whose ordinal is in the share; deliberate bad values
--     ('' notes, unparsable prices) stay where they were.
--   sparse_ids (integer 1..1000, default 1): the row of ordinal n gets id (n - 1) * sparse_ids + 1
--     + a jitter in 0..sparse_ids-1 deterministic from the seed (demo_gen.sid), in every table with
--     a serial id; every reference follows; the sequences end at each table's max id.
-- Raises 22023 on an unknown option or a value out of range. Returns each table's row count.
drop function if exists demo_gen.generate(numeric, integer);  -- the signature before shapes
create or replace function demo_gen.generate(p_scale numeric default 0.01, p_seed integer default 42,
                                             p_shape jsonb default '{}')
returns table (table_name text, row_count bigint)
language plpgsql
as $$
declare
    s bigint := p_seed::bigint * 1000;
    n_off bigint := demo_gen.count_for(200, p_scale);
    n_usr bigint := demo_gen.count_for(20000, p_scale);
    n_pat bigint := demo_gen.count_for(100000, p_scale);
    n_ins bigint := demo_gen.count_for(150000, p_scale);
    n_pln bigint := demo_gen.count_for(300000, p_scale);
    n_com bigint := demo_gen.count_for(600000, p_scale);
    n_rec bigint := demo_gen.count_for(400000, p_scale);
    n_not bigint := demo_gen.count_for(300000, p_scale);
    n_fil bigint := demo_gen.count_for(100000, p_scale);
    n_lnk bigint := least(demo_gen.count_for(150000, p_scale), n_fil * n_ins);
    n_ord bigint := demo_gen.count_for(150000, p_scale);
    n_trx bigint := demo_gen.count_for(200000, p_scale);
    n_aud bigint := demo_gen.count_for(50000, p_scale);
    v_ct0 bigint := demo_gen.rnd(p_seed, 1, 40);
    v_ct_patient integer;
    v_ct_user integer;
    v_ct_other integer[];
    v_long text := repeat('Lorem ipsum dolor sit amet, ¿qué tal? 🦷 ', 3000);
    v_fn text[] := demo_gen.first_names();
    v_ln text[] := demo_gen.last_names();
    -- The shape.
    v_ws numeric;        -- wide_share
    v_wkb numeric;       -- wide_kb
    v_c integer;         -- children
    v_ns numeric;        -- null_share, NULL = the generator's own patterns
    v_k integer;         -- sparse_ids
    v_wb integer;        -- bytes of a wide text's bulk
    v_pool bytea;        -- what the bulk is cut from
    -- Salts of each table's id jitter (sparse_ids).
    x_ct bigint := s + 901;
    x_mig bigint := s + 902;
    x_grp bigint := s + 903;
    x_usr bigint := s + 904;
    x_off bigint := s + 905;
    x_pat bigint := s + 906;
    x_ins bigint := s + 907;
    x_pln bigint := s + 908;
    x_com bigint := s + 909;
    x_rec bigint := s + 910;
    x_not bigint := s + 911;
    x_fil bigint := s + 912;
    x_lnk bigint := s + 913;
    x_ord bigint := s + 914;
    x_trx bigint := s + 915;
    x_adm bigint := s + 916;
    x_aud bigint := s + 917;
begin
    select * into v_ws, v_wkb, v_c, v_ns, v_k from demo_gen.parse_shape(p_shape);
    if (greatest(n_usr, n_pat, n_off) + greatest(n_ins, n_pln, n_com, n_rec, n_not, n_fil, n_lnk, n_ord, n_trx, n_aud) * v_c
        + v_ct0 + 20) * v_k > 2147483647 then
        raise exception 'demo_gen.generate: ids past the integer range at scale %, children %, sparse_ids %',
                        p_scale, v_c, v_k
            using errcode = '22023';
    end if;
    if v_ws > 0 then
        v_wb := ceil((v_wkb * 1000 + 1) / 100)::integer * 100 - 1;
        v_pool := demo_gen.bulk_pool(s + 120, (v_wb + 1) / 100 + 4096);
        if convert_from(v_pool, 'UTF8') ~* '(approve|looks good|question|treatment|plan|\?|\{\{)' then
            raise exception 'demo_gen.generate: the wide-text pool holds a word the mappings look for';
        end if;
    end if;

    set local session_replication_role = replica;  -- consistent by construction: skip per-row FK checks
    truncate public.dispatch_transaction, public.dispatch_order, public.dispatch_file_instruction,
             public.dispatch_file, public.dispatch_notification, public.dispatch_record,
             public.dispatch_comment, public.dispatch_plan, public.dispatch_instruction,
             public.dispatch_patient, public.dispatch_office, public.django_admin_log,
             public.dispatch_auditlog, public.auth_user, public.auth_group, public.django_session,
             public.django_migrations, public.django_content_type
             restart identity;

    -- Content types: the same natural keys, ids that depend on the seed.
    insert into public.django_content_type (id, app_label, model)
    select v_ct0 - 1 + demo_gen.sid(row_number() over (order by hashtext(a || '.' || m || p_seed::text)), v_k, x_ct), a, m
      from unnest(array['admin', 'auth', 'auth', 'auth', 'contenttypes', 'sessions', 'dispatch', 'dispatch',
                        'dispatch', 'dispatch', 'dispatch', 'dispatch', 'dispatch', 'dispatch', 'dispatch',
                        'dispatch', 'dispatch', 'reports', 'reports', 'billing'],
                  array['logentry', 'permission', 'group', 'user', 'contenttype', 'session', 'office', 'patient',
                        'instruction', 'plan', 'comment', 'record', 'notification', 'file', 'fileinstruction',
                        'order', 'transaction', 'report', 'schedule', 'invoice']) as t(a, m)
     order by hashtext(a || '.' || m || p_seed::text);
    select id into v_ct_patient from public.django_content_type where app_label = 'dispatch' and model = 'patient';
    select id into v_ct_user from public.django_content_type where app_label = 'auth' and model = 'user';
    select array_agg(id order by id) into v_ct_other from public.django_content_type
     where (app_label, model) in (('dispatch', 'instruction'), ('dispatch', 'office'), ('reports', 'report'));

    insert into public.django_migrations (id, app, name, applied)
    select demo_gen.sid(i, v_k, x_mig), a, n, timestamptz '2018-06-01 00:00:00+00' + make_interval(days => i::integer)
      from unnest(array['contenttypes', 'auth', 'admin', 'sessions', 'dispatch', 'dispatch'],
                  array['0001_initial', '0001_initial', '0001_initial', '0001_initial', '0001_initial',
                        '0042_transaction_price_text']) with ordinality as t(a, n, i);
    insert into public.auth_group (id, name)
    select demo_gen.sid(i, v_k, x_grp), n from unnest(array['doctors', 'office staff', 'billing']) with ordinality as t(n, i);

    insert into public.auth_user (id, password, last_login, is_superuser, username, first_name, last_name, email,
                                  is_staff, is_active, date_joined)
    select demo_gen.sid(g, v_k, x_usr),
           'pbkdf2_sha256$600000$' || md5(g::text || s) || '$' || md5(s::text || g),
           case when g % 5 = 0 then null else demo_gen.ts(g, s + 2) end,
           g % 500 = 1,
           'user' || g,
           case when g % 19 = 0 then '' when g % 41 = 0 then ' ' || v_fn[demo_gen.rnd(g, s + 3, 20)] || ' '
                else v_fn[demo_gen.rnd(g, s + 3, 20)] end,
           case when g % 23 = 0 then '' else v_ln[demo_gen.rnd(g, s + 4, 18)] end,
           case when g % 10 = 0 then '' else 'user' || g || '@example.com' end,
           g % 20 = 1,
           g % 25 <> 0,
           demo_gen.ts(g, s + 5)
      from generate_series(1, n_usr) g;

    insert into public.dispatch_office (id, name, phone, address, city, state, zip_code, is_active, created_at, updated_at)
    select demo_gen.sid(g, v_k, x_off),
           case when g % 3 = 2 then 'Clínica Dental São Paulo ' || g else 'Smile Office ' || g end,
           case when g % 5 = 2 then '' else '+1 555 ' || lpad((g % 10000)::text, 4, '0') end,
           case when g % 4 = 2 then '' else g || ' Main St' end,
           case when g % 6 = 3 then '' else demo_gen.pick(g, s + 6, array['Humble', 'Austin', 'Zürich', 'Montréal']) end,
           case when g % 5 = 4 then '' else demo_gen.pick(g, s + 7, array['TX', 'CA', 'QC', 'ZH']) end,
           case when g % 7 = 5 then '' else lpad((g * 7 % 100000)::text, 5, '0') end,
           g % 11 <> 0,
           demo_gen.ts(g, s + 8),
           demo_gen.ts(g, s + 8) + make_interval(days => demo_gen.rnd(g, s + 9, 300)::integer)
      from generate_series(1, n_off) g;
    -- One office with every address part blank, at any scale.
    update public.dispatch_office set address = '', city = '', state = '', zip_code = ''
     where id = demo_gen.sid(2, v_k, x_off);

    insert into public.dispatch_patient (id, office_id, user_id, doctor_id, patient_number, first_name, last_name,
                                         birthdate, email, status_id, medical_notes, created_at, updated_at)
    select demo_gen.sid(g, v_k, x_pat),
           demo_gen.sid(demo_gen.rnd(g, s + 10, n_off), v_k, x_off),
           case when demo_gen.nulled(g % 5 <> 1, g, v_ns) then null else demo_gen.sid(demo_gen.rnd(g, s + 11, n_usr), v_k, x_usr) end,
           case when demo_gen.nulled(g % 10 = 3, g, v_ns) then null else demo_gen.sid(demo_gen.rnd(g, s + 12, n_usr), v_k, x_usr) end,
           'P' || lpad(g::text, 7, '0'),
           v_fn[demo_gen.rnd(g, s + 13, 20)],
           v_ln[demo_gen.rnd(g, s + 14, 18)],
           case when g % 10 = 7 then null else date '1950-01-01' + demo_gen.rnd(g, s + 15, 25000)::integer end,
           case when g % 3 = 0 then '' else 'patient' || g || '@mail.example' end,
           case when g % 211 = 7 then 9 else demo_gen.rnd(g, s + 16, 6) end,
           demo_gen.widen(case when g % 20 = 1 then '' when demo_gen.nulled(g % 2 = 0, g, v_ns) then null
                               else 'Allergic to latex; prefers morning visits ☀️' end,
                          demo_gen.in_share(g, v_ws), v_pool, g, s + 121, v_wb),
           demo_gen.ts(g, s + 17),
           demo_gen.ts(g, s + 17) + make_interval(hours => demo_gen.rnd(g, s + 18, 5000)::integer)
      from generate_series(1, n_pat) g;

    -- Below the roots, v.g0 is the row a variant copies its foreign keys from, v.j its variant (children).
    insert into public.dispatch_instruction (id, patient_id, doctor_id, office_id, status, product, notes, submitted_at,
                                             created_at, updated_at)
    select demo_gen.sid(g, v_k, x_ins),
           demo_gen.sid(demo_gen.rnd(v.g0, s + 20, n_pat), v_k, x_pat),
           case when demo_gen.nulled(v.g0 % 7 = 2, g, v_ns) then null
                else demo_gen.sid(demo_gen.rnd(v.g0, s + 21, n_usr), v_k, x_usr) end,
           case when demo_gen.nulled(v.g0 % 5 = 3, g, v_ns) then null
                else demo_gen.sid(demo_gen.rnd(v.g0, s + 22, n_off), v_k, x_off) end,
           st,
           demo_gen.pick(g, s + 24, array['Clear Aligner Full', 'Clear Aligner Lite', 'Retainer', 'Refinement']),
           demo_gen.widen(case when g % 5 < 2 then '' else 'Close the gap on UR2; 🦷 check IPR. Ñandú' end,
                          demo_gen.in_share(g, v_ws), v_pool, g, s + 122, v_wb),
           case when st = 0 then null else demo_gen.ts(g, s + 25) end,
           demo_gen.ts(g, s + 25) - interval '2 days',
           demo_gen.ts(g, s + 25) + make_interval(hours => demo_gen.rnd(g, s + 26, 3000)::integer)
      from generate_series(1, n_ins * v_c) g
     cross join lateral (select (g - 1) % n_ins + 1 as g0, (g - 1) / n_ins as j) v
     cross join lateral (select case when g % 199 = 3 then 7 else (demo_gen.rnd(g, s + 23, 6) - 1)::integer end as st) x;

    insert into public.dispatch_plan (id, instruction_id, version, status, approved_at, created_at, updated_at)
    select demo_gen.sid(g, v_k, x_pln),
           demo_gen.sid(v.j * n_ins + demo_gen.rnd(v.g0, s + 30, n_ins), v_k, x_ins),
           demo_gen.rnd(g, s + 31, 3),
           st,
           case when st = 2 then demo_gen.ts(g, s + 33) + interval '3 days' end,
           demo_gen.ts(g, s + 33),
           demo_gen.ts(g, s + 33) + make_interval(hours => demo_gen.rnd(g, s + 34, 2000)::integer)
      from generate_series(1, n_pln * v_c) g
     cross join lateral (select (g - 1) % n_pln + 1 as g0, (g - 1) / n_pln as j) v
     cross join lateral (select case when g % 307 = 11 then 9 else demo_gen.rnd(g, s + 32, 4)::integer end as st) x;

    insert into public.dispatch_comment (id, plan_id, author_id, text, created_at)
    select demo_gen.sid(g, v_k, x_com),
           demo_gen.sid(v.j * n_pln + demo_gen.rnd(v.g0, s + 40, n_pln), v_k, x_pln),
           case when demo_gen.nulled(v.g0 % 10 = 4, g, v_ns) then null
                else demo_gen.sid(demo_gen.rnd(v.g0, s + 41, n_usr), v_k, x_usr) end,
           demo_gen.widen(
               case when g % 5000 = 17 then 'Long review notes' || E'\n' || v_long
                    else demo_gen.pick(g, s + 42, array[
                        'Looks good, approved.', 'I APPROVE this setup', 'Quick question: can we start in May?',
                        'Is the attachment on UL3 needed?', 'Treatment plan updated with 4 more aligners',
                        E'\n\n   \t First real line after blanks\r\nsecond line', 'Patient reports discomfort 😣',
                        'Ok', '', E'   \t\r\n  ', 'Revised the PLAN for the lower arch',
                        repeat('Very long subject line without any break at all ', 4),
                        'Zähne sehen gut aus, danke! 😀'])
               end,
               demo_gen.in_share(g, v_ws), v_pool, g, s + 123, v_wb),
           demo_gen.ts(g, s + 43)
      from generate_series(1, n_com * v_c) g
     cross join lateral (select (g - 1) % n_com + 1 as g0, (g - 1) / n_com as j) v;

    insert into public.dispatch_record (id, target_type_id, target_id, author_id, type, text, group_id, public, created_at)
    select demo_gen.sid(g, v_k, x_rec),
           case when kind < 60 then v_ct_patient when kind < 95 then v_ct_user
                else v_ct_other[demo_gen.rnd(g, s + 51, cardinality(v_ct_other))] end,
           case when kind < 60 then demo_gen.sid(demo_gen.rnd(v.g0, s + 52, n_pat + n_pat / 50 + 1), v_k, x_pat)  -- a few never-existing patients
                when kind < 95 then demo_gen.sid(demo_gen.rnd(v.g0, s + 52, n_usr), v_k, x_usr)
                else demo_gen.sid(v.j * n_ins + demo_gen.rnd(v.g0, s + 52, n_ins), v_k, x_ins) end,
           case when demo_gen.nulled(v.g0 % 8 = 5, g, v_ns) then null
                else demo_gen.sid(demo_gen.rnd(v.g0, s + 53, n_usr), v_k, x_usr) end,
           case when g % 101 = 9 then 4 else (array[3, 5, 6, 8])[demo_gen.rnd(g, s + 54, 4)] end,
           demo_gen.widen(
               case when g % 5000 = 23 then v_long
                    else demo_gen.pick(g, s + 55, array['Please call the office', 'Scan received 📎', '',
                                                          'Status changed to shipped', 'Nota clínica: sin cambios'])
               end,
               demo_gen.in_share(g, v_ws), v_pool, g, s + 124, v_wb),
           case when g % 10 < 7 then null else demo_gen.rnd(g, s + 56, 1000)::integer end,
           g % 3 = 0,
           demo_gen.ts(g, s + 57)
      from generate_series(1, n_rec * v_c) g
     cross join lateral (select (g - 1) % n_rec + 1 as g0, (g - 1) / n_rec as j) v
     cross join lateral (select case when g % 50 = 13 then 99 else demo_gen.rnd(g, s + 50, 95) - 1 end as kind) x;

    insert into public.dispatch_notification (id, recipient_id, sender, template_name, template_context, subject, content,
                                              send, sent, send_at, sent_at, created_at)
    select demo_gen.sid(g, v_k, x_not),
           case when demo_gen.nulled(v.g0 % 20 = 6, g, v_ns) then null
                when tn like 'patient\_%' then demo_gen.sid(demo_gen.rnd(v.g0, s + 61, n_pat + n_pat / 50 + 1), v_k, x_pat)::integer
                else demo_gen.sid(demo_gen.rnd(v.g0, s + 61, n_usr), v_k, x_usr)::integer end,
           case when g % 4 = 0 then '' else demo_gen.pick(g, s + 62, array['billing@dispatch', 'Dr. Núñez', 'system']) end,
           tn,
           demo_gen.widen_json(
               case when g % 10 = 1 then ''
                    when g % 50 = 2 then '{"patient": {"first_name": "Ana"'
                    when g % 100 = 3 then '[1, 2, 3]'
                    else format('{"patient": {"first_name": %s, "last_name": %s}, "amount": 9.0, "count": 1e2, '
                                '"flag": true, "nothing": null, "items": [1], "date": "2025-03-0%s"}',
                                to_json(v_fn[demo_gen.rnd(g, s + 63, 20)]), to_json(v_ln[demo_gen.rnd(g, s + 64, 18)]),
                                g % 9 + 1) end,
               demo_gen.in_share(g, v_ws), v_pool, g, s + 125, v_wb),
           demo_gen.pick(g, s + 65, array['Your appointment on {{ date }}', 'Payment reminder', 'Welcome! 🎉', '']),
           demo_gen.widen(
               demo_gen.pick(g, s + 66, array[
                   'Hello {{ patient.first_name }}, you owe {{amount}} ({{ count }} items, flag {{flag}}).',
                   'Dear {{ patient.last_name }}: {{ missing.key }} {{nothing}} {{ items }} {{	date }}',
                   'Reminder for {{ patient.first_name.x }} on {{ date }} {{ patient }}',
                   'No placeholders here.', '{{ date }}{{date}}{{  date  }}']),
               demo_gen.in_share(g, v_ws), v_pool, g, s + 126, v_wb),
           g % 10 < 7,
           g % 10 < 6 or g % 10 = 8,
           case when g % 6 = 0 then null else demo_gen.ts(g, s + 67) end,
           case when g % 10 < 6 then demo_gen.ts(g, s + 67) + interval '1 minute' end,
           demo_gen.ts(g, s + 67) - interval '1 day'
      from generate_series(1, n_not * v_c) g
     cross join lateral (select (g - 1) % n_not + 1 as g0, (g - 1) / n_not as j) v
     cross join lateral (select demo_gen.pick(g, s + 60, array[
               'patient_payment_reminder', 'patient_appointment_confirmation', 'treatment_update_urgent',
               'system_maintenance', 'welcome_message', 'patient_welcome_message', 'custom_digest',
               'urgent_payment_reminder', 'patient_treatment_update']) as tn) x;

    insert into public.dispatch_file (id, name, path, size, mime_type, uploaded_by_id, created_at)
    select demo_gen.sid(g, v_k, x_fil),
           case when g % 13 = 0 then 'Röntgen 😀 ' || g || '.png' else 'scan_' || g || '.stl' end,
           'uploads/' || (2019 + g % 6) || '/' || md5(g::text || s) || '/scan_' || g,
           demo_gen.rnd(g, s + 70, 50000000),
           demo_gen.pick(g, s + 71, array['model/stl', 'image/png', 'application/pdf', 'image/jpeg']),
           case when demo_gen.nulled(v.g0 % 5 = 2, g, v_ns) then null
                else demo_gen.sid(demo_gen.rnd(v.g0, s + 72, n_usr), v_k, x_usr) end,
           demo_gen.ts(g, s + 73)
      from generate_series(1, n_fil * v_c) g
     cross join lateral (select (g - 1) % n_fil + 1 as g0, (g - 1) / n_fil as j) v;

    -- Variant j links variant j of a file to variant j of an instruction: (file, instruction) stays unique.
    insert into public.dispatch_file_instruction (id, file_id, instruction_id, created_at)
    select demo_gen.sid(g, v_k, x_lnk),
           demo_gen.sid(v.j * n_fil + (v.g0 - 1) % n_fil + 1, v_k, x_fil),
           demo_gen.sid(v.j * n_ins + 1 + (demo_gen.rnd((v.g0 - 1) % n_fil + 1, s + 80, n_ins) + (v.g0 - 1) / n_fil) % n_ins,
                        v_k, x_ins),
           demo_gen.ts(g, s + 81)
      from generate_series(1, n_lnk * v_c) g
     cross join lateral (select (g - 1) % n_lnk + 1 as g0, (g - 1) / n_lnk as j) v;

    insert into public.dispatch_order (id, instruction_id, patient_id, office_id, total, status, created_at, updated_at)
    select demo_gen.sid(g, v_k, x_ord),
           i.id,
           coalesce(i.patient_id, demo_gen.sid(demo_gen.rnd(v.g0, s + 91, n_pat), v_k, x_pat)),
           case when demo_gen.nulled(v.g0 % 10 = 4, g, v_ns) then null
                else demo_gen.sid(demo_gen.rnd(v.g0, s + 92, n_off), v_k, x_off) end,
           (demo_gen.rnd(g, s + 93, 500000) / 100.0)::numeric(10, 2),
           case when g % 401 = 5 then 8 else demo_gen.rnd(g, s + 94, 5)::integer end,
           demo_gen.ts(g, s + 95),
           demo_gen.ts(g, s + 95) + make_interval(hours => demo_gen.rnd(g, s + 96, 1000)::integer)
      from generate_series(1, n_ord * v_c) g
     cross join lateral (select (g - 1) % n_ord + 1 as g0, (g - 1) / n_ord as j) v
      left join public.dispatch_instruction i
        on i.id = case when demo_gen.nulled(v.g0 % 7 = 1, g, v_ns) then null
                       else demo_gen.sid(v.j * n_ins + demo_gen.rnd(v.g0, s + 90, n_ins), v_k, x_ins) end;

    insert into public.dispatch_transaction (id, order_id, type, price, made_at, sq_order_id, sq_payment_id, sq_refund_id,
                                             card_brand, card_bin, card_last, office_card, payment_id, created_at)
    select demo_gen.sid(g, v_k, x_trx),
           case when demo_gen.nulled(v.g0 % 20 = 9, g, v_ns) then null
                else demo_gen.sid(v.j * n_ord + demo_gen.rnd(v.g0, s + 100, n_ord), v_k, x_ord)::integer end,
           case when g % 151 = 2 then 6 else demo_gen.rnd(g, s + 101, 4)::integer end,
           case when g % 97 not between 1 and 9 and demo_gen.nulled(false, g, v_ns) then null
                else case g % 97
                    when 1 then '' when 2 then '12,50' when 3 then 'abc' when 4 then null when 5 then '99999999999'
                    when 6 then ' 15.00 ' when 7 then '1.999' when 8 then '-40.5' when 9 then '.5'
                    else ((demo_gen.rnd(g, s + 102, 200000) - 20000) / 100.0)::numeric(12, 2)::text end
           end,
           case when g % 9 = 0 then null else demo_gen.ts(g, s + 103) end,
           case when demo_gen.nulled(g % 4 = 0, g, v_ns) then null else 'sqo_' || md5(g::text || 'o') end,
           case when demo_gen.nulled(g % 4 = 0, g, v_ns) then null else 'sqp_' || md5(g::text || 'p') end,
           case when demo_gen.nulled(g % 8 <> 3, g, v_ns) then null else 'sqr_' || md5(g::text || 'r') end,
           case when demo_gen.nulled(g % 6 = 0, g, v_ns) then null
                else demo_gen.pick(g, s + 104, array['VISA', 'MASTERCARD', 'AMEX']) end,
           case when demo_gen.nulled(g % 6 = 0, g, v_ns) then null
                else lpad(demo_gen.rnd(g, s + 105, 999999)::text, 6, '0') end,
           case when demo_gen.nulled(g % 6 = 0, g, v_ns) then null
                else lpad(demo_gen.rnd(g, s + 106, 9999)::text, 4, '0') end,
           g % 9 = 4,
           case when demo_gen.nulled(g % 3 = 0, g, v_ns) then null else 'pay_' || g end,
           demo_gen.ts(g, s + 107)
      from generate_series(1, n_trx * v_c) g
     cross join lateral (select (g - 1) % n_trx + 1 as g0, (g - 1) / n_trx as j) v;

    insert into public.django_session (session_key, session_data, expire_date)
    select md5(g::text || s), 'e30:1t' || md5(g::text), demo_gen.ts(g, s + 110) from generate_series(1, 20) g;
    insert into public.django_admin_log (id, action_time, object_id, object_repr, action_flag, change_message,
                                         content_type_id, user_id)
    select demo_gen.sid(g, v_k, x_adm), demo_gen.ts(g, s + 111), g::text, 'Patient ' || g, 2, '[]', v_ct_patient,
           demo_gen.sid(1, v_k, x_usr)
      from generate_series(1, 20) g;
    -- The application's audit trail (synced by the optional entity audit_events): NULL users (system
    -- actions), '' and unicode in object_repr, a long one at the column's limit.
    insert into public.dispatch_auditlog (id, user_id, action, object_repr, created_at)
    select demo_gen.sid(g, v_k, x_aud),
           case when demo_gen.nulled(v.g0 % 6 = 0, g, v_ns) then null
                else demo_gen.sid(demo_gen.rnd(v.g0, s + 113, n_usr), v_k, x_usr) end,
           demo_gen.pick(g, s + 114, array['login', 'logout', 'view_patient', 'export', 'update_case', 'delete_case']),
           case when g % 9 = 0 then '' when g % 250 = 7 then repeat('Ω', 200)
                else demo_gen.pick(g, s + 115, array['Patient P0000001', 'Instruction 42', 'Zoë Müller 🦷', 'orders.csv']) end,
           demo_gen.ts(g, s + 112)
      from generate_series(1, n_aud * v_c) g
     cross join lateral (select (g - 1) % n_aud + 1 as g0, (g - 1) / n_aud as j) v;

    -- Django cascades: a few patients deleted with everything that hangs off them. Records and
    -- notifications that pointed at them stay (no foreign key): references to deleted parents.
    perform demo_gen.delete_patients(array(select demo_gen.sid(g, v_k, x_pat)::integer
                                             from generate_series(1, n_pat) g where g % 293 = 5));

    perform setval(pg_get_serial_sequence('public.' || t, 'id'),
                   greatest(1, (xpath('/row/m/text()',
                       query_to_xml(format('select max(id) as m from public.%I', t), false, true, '')))[1]::text::bigint))
       from unnest(demo_gen.tables()) t;

    return query
    select t::text, (xpath('/row/c/text()', query_to_xml(format('select count(*) as c from public.%I', t),
                                                           false, true, '')))[1]::text::bigint
      from unnest(demo_gen.tables()) t;
end;
$$;
