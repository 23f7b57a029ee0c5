-- The target application schema (target-schema.md), exactly: columns with types and nullability,
-- CHECK and FOREIGN KEY constraints, indexes on every foreign key and legacy id, RLS on; and the
-- Supabase-like setup (roles, extensions in schema extensions) that db:setup provides.
begin;
select plan(8);

-- target-schema.md's tables; a pack may add target tables of its own (an entity's migration, tested
-- in its entity file), which the generic checks below (RLS, indexes, legacy ids) cover too.
create temp table app (name text primary key);
insert into app values ('case_files'), ('case_messages'), ('cases'), ('files'), ('messages'), ('offices'), ('operations'),
                       ('orders'), ('patients'), ('profiles'), ('system_messages'), ('treatment_plans');

select results_eq(
    $$ select table_name::text collate "default", column_name::text collate "default", data_type::text collate "default", is_nullable::text collate "default"
         from information_schema.columns where table_schema = 'public' and table_name in (select name from app)
        order by table_name, ordinal_position $$,
    $$ values
    ('case_files', 'id', 'uuid', 'NO'),
    ('case_files', 'legacy_file_instruction_id', 'bigint', 'YES'),
    ('case_files', 'file_id', 'uuid', 'NO'),
    ('case_files', 'case_id', 'uuid', 'NO'),
    ('case_files', 'created_at', 'timestamp with time zone', 'NO'),
    ('case_messages', 'id', 'uuid', 'NO'),
    ('case_messages', 'legacy_comment_id', 'bigint', 'YES'),
    ('case_messages', 'case_id', 'uuid', 'NO'),
    ('case_messages', 'treatment_plan_id', 'uuid', 'NO'),
    ('case_messages', 'sender_id', 'uuid', 'YES'),
    ('case_messages', 'message_type', 'text', 'NO'),
    ('case_messages', 'subject', 'text', 'NO'),
    ('case_messages', 'content', 'text', 'NO'),
    ('case_messages', 'requires_response', 'boolean', 'NO'),
    ('case_messages', 'is_confidential', 'boolean', 'NO'),
    ('case_messages', 'sent_at', 'timestamp with time zone', 'NO'),
    ('case_messages', 'metadata', 'jsonb', 'NO'),
    ('case_messages', 'created_at', 'timestamp with time zone', 'NO'),
    ('case_messages', 'updated_at', 'timestamp with time zone', 'NO'),
    ('case_messages', 'deleted_at', 'timestamp with time zone', 'YES'),
    ('cases', 'id', 'uuid', 'NO'),
    ('cases', 'legacy_instruction_id', 'bigint', 'YES'),
    ('cases', 'patient_id', 'uuid', 'NO'),
    ('cases', 'doctor_id', 'uuid', 'YES'),
    ('cases', 'office_id', 'uuid', 'YES'),
    ('cases', 'status', 'text', 'NO'),
    ('cases', 'product', 'text', 'NO'),
    ('cases', 'notes', 'text', 'YES'),
    ('cases', 'submitted_at', 'timestamp with time zone', 'YES'),
    ('cases', 'created_at', 'timestamp with time zone', 'NO'),
    ('cases', 'updated_at', 'timestamp with time zone', 'NO'),
    ('cases', 'deleted_at', 'timestamp with time zone', 'YES'),
    ('files', 'id', 'uuid', 'NO'),
    ('files', 'legacy_file_id', 'bigint', 'YES'),
    ('files', 'name', 'text', 'NO'),
    ('files', 'storage_path', 'text', 'NO'),
    ('files', 'size_bytes', 'bigint', 'NO'),
    ('files', 'mime_type', 'text', 'NO'),
    ('files', 'uploaded_by', 'uuid', 'YES'),
    ('files', 'created_at', 'timestamp with time zone', 'NO'),
    ('files', 'updated_at', 'timestamp with time zone', 'NO'),
    ('files', 'deleted_at', 'timestamp with time zone', 'YES'),
    ('messages', 'id', 'uuid', 'NO'),
    ('messages', 'legacy_record_id', 'bigint', 'YES'),
    ('messages', 'message_type', 'text', 'NO'),
    ('messages', 'content', 'text', 'NO'),
    ('messages', 'sender_id', 'uuid', 'YES'),
    ('messages', 'recipient_type', 'text', 'NO'),
    ('messages', 'recipient_patient_id', 'uuid', 'YES'),
    ('messages', 'recipient_profile_id', 'uuid', 'YES'),
    ('messages', 'is_read', 'boolean', 'NO'),
    ('messages', 'metadata', 'jsonb', 'NO'),
    ('messages', 'created_at', 'timestamp with time zone', 'NO'),
    ('messages', 'updated_at', 'timestamp with time zone', 'NO'),
    ('messages', 'deleted_at', 'timestamp with time zone', 'YES'),
    ('offices', 'id', 'uuid', 'NO'),
    ('offices', 'legacy_office_id', 'bigint', 'YES'),
    ('offices', 'name', 'text', 'NO'),
    ('offices', 'phone', 'text', 'YES'),
    ('offices', 'address', 'text', 'YES'),
    ('offices', 'is_active', 'boolean', 'NO'),
    ('offices', 'created_at', 'timestamp with time zone', 'NO'),
    ('offices', 'updated_at', 'timestamp with time zone', 'NO'),
    ('offices', 'deleted_at', 'timestamp with time zone', 'YES'),
    ('operations', 'id', 'uuid', 'NO'),
    ('operations', 'legacy_transaction_id', 'bigint', 'YES'),
    ('operations', 'order_id', 'uuid', 'YES'),
    ('operations', 'case_id', 'uuid', 'YES'),
    ('operations', 'operation_type', 'text', 'NO'),
    ('operations', 'amount', 'numeric', 'NO'),
    ('operations', 'made_at', 'timestamp with time zone', 'YES'),
    ('operations', 'metadata', 'jsonb', 'NO'),
    ('operations', 'created_at', 'timestamp with time zone', 'NO'),
    ('operations', 'updated_at', 'timestamp with time zone', 'NO'),
    ('operations', 'deleted_at', 'timestamp with time zone', 'YES'),
    ('orders', 'id', 'uuid', 'NO'),
    ('orders', 'legacy_order_id', 'bigint', 'YES'),
    ('orders', 'case_id', 'uuid', 'YES'),
    ('orders', 'patient_id', 'uuid', 'NO'),
    ('orders', 'office_id', 'uuid', 'YES'),
    ('orders', 'total', 'numeric', 'NO'),
    ('orders', 'status', 'text', 'NO'),
    ('orders', 'created_at', 'timestamp with time zone', 'NO'),
    ('orders', 'updated_at', 'timestamp with time zone', 'NO'),
    ('orders', 'deleted_at', 'timestamp with time zone', 'YES'),
    ('patients', 'id', 'uuid', 'NO'),
    ('patients', 'legacy_patient_id', 'bigint', 'YES'),
    ('patients', 'office_id', 'uuid', 'NO'),
    ('patients', 'profile_id', 'uuid', 'YES'),
    ('patients', 'doctor_id', 'uuid', 'YES'),
    ('patients', 'patient_number', 'text', 'NO'),
    ('patients', 'first_name', 'text', 'NO'),
    ('patients', 'last_name', 'text', 'NO'),
    ('patients', 'birthdate', 'date', 'YES'),
    ('patients', 'email', 'text', 'YES'),
    ('patients', 'status', 'text', 'NO'),
    ('patients', 'legacy_status_id', 'smallint', 'NO'),
    ('patients', 'medical_notes', 'text', 'YES'),
    ('patients', 'created_at', 'timestamp with time zone', 'NO'),
    ('patients', 'updated_at', 'timestamp with time zone', 'NO'),
    ('patients', 'deleted_at', 'timestamp with time zone', 'YES'),
    ('profiles', 'id', 'uuid', 'NO'),
    ('profiles', 'legacy_user_id', 'bigint', 'YES'),
    ('profiles', 'username', 'text', 'NO'),
    ('profiles', 'email', 'text', 'YES'),
    ('profiles', 'first_name', 'text', 'YES'),
    ('profiles', 'last_name', 'text', 'YES'),
    ('profiles', 'full_name', 'text', 'YES'),
    ('profiles', 'role', 'text', 'NO'),
    ('profiles', 'is_active', 'boolean', 'NO'),
    ('profiles', 'date_joined', 'timestamp with time zone', 'NO'),
    ('profiles', 'last_login', 'timestamp with time zone', 'YES'),
    ('profiles', 'created_at', 'timestamp with time zone', 'NO'),
    ('profiles', 'updated_at', 'timestamp with time zone', 'NO'),
    ('profiles', 'deleted_at', 'timestamp with time zone', 'YES'),
    ('system_messages', 'id', 'uuid', 'NO'),
    ('system_messages', 'legacy_notification_id', 'bigint', 'YES'),
    ('system_messages', 'recipient_type', 'text', 'YES'),
    ('system_messages', 'recipient_patient_id', 'uuid', 'YES'),
    ('system_messages', 'recipient_profile_id', 'uuid', 'YES'),
    ('system_messages', 'message_type', 'text', 'NO'),
    ('system_messages', 'sender', 'text', 'NO'),
    ('system_messages', 'template_name', 'text', 'NO'),
    ('system_messages', 'template_context', 'jsonb', 'NO'),
    ('system_messages', 'subject', 'text', 'NO'),
    ('system_messages', 'content', 'text', 'NO'),
    ('system_messages', 'priority', 'text', 'NO'),
    ('system_messages', 'is_urgent', 'boolean', 'NO'),
    ('system_messages', 'scheduled_at', 'timestamp with time zone', 'YES'),
    ('system_messages', 'sent_at', 'timestamp with time zone', 'YES'),
    ('system_messages', 'delivery_status', 'text', 'NO'),
    ('system_messages', 'metadata', 'jsonb', 'NO'),
    ('system_messages', 'created_at', 'timestamp with time zone', 'NO'),
    ('system_messages', 'updated_at', 'timestamp with time zone', 'NO'),
    ('system_messages', 'deleted_at', 'timestamp with time zone', 'YES'),
    ('treatment_plans', 'id', 'uuid', 'NO'),
    ('treatment_plans', 'legacy_plan_id', 'bigint', 'YES'),
    ('treatment_plans', 'case_id', 'uuid', 'NO'),
    ('treatment_plans', 'version', 'integer', 'NO'),
    ('treatment_plans', 'status', 'text', 'NO'),
    ('treatment_plans', 'approved_at', 'timestamp with time zone', 'YES'),
    ('treatment_plans', 'created_at', 'timestamp with time zone', 'NO'),
    ('treatment_plans', 'updated_at', 'timestamp with time zone', 'NO'),
    ('treatment_plans', 'deleted_at', 'timestamp with time zone', 'YES')
    $$,
    'every target table has exactly the columns, types and nullability of target-schema.md'
);

select set_eq(
    $$ select conrelid::regclass::text, pg_get_constraintdef(oid)
         from pg_constraint
        where connamespace = 'public'::regnamespace and contype in ('c', 'f') and conrelid::regclass::text in (select name from app) $$,
    $$ values
    ('case_files', 'FOREIGN KEY (case_id) REFERENCES cases(id)'),
    ('case_files', 'FOREIGN KEY (file_id) REFERENCES files(id)'),
    ('case_messages', 'CHECK ((message_type = ANY (ARRAY[''doctor_response''::text, ''patient_question''::text, ''treatment_update''::text, ''clinical_note''::text])))'),
    ('case_messages', 'FOREIGN KEY (case_id) REFERENCES cases(id)'),
    ('case_messages', 'FOREIGN KEY (sender_id) REFERENCES profiles(id)'),
    ('case_messages', 'FOREIGN KEY (treatment_plan_id) REFERENCES treatment_plans(id)'),
    ('cases', 'CHECK ((status = ANY (ARRAY[''draft''::text, ''submitted''::text, ''in_progress''::text, ''on_hold''::text, ''completed''::text, ''cancelled''::text, ''unknown''::text])))'),
    ('cases', 'FOREIGN KEY (doctor_id) REFERENCES profiles(id)'),
    ('cases', 'FOREIGN KEY (office_id) REFERENCES offices(id)'),
    ('cases', 'FOREIGN KEY (patient_id) REFERENCES patients(id)'),
    ('files', 'FOREIGN KEY (uploaded_by) REFERENCES profiles(id)'),
    ('messages', 'CHECK ((((recipient_type = ''patient''::text) AND (recipient_patient_id IS NOT NULL) AND (recipient_profile_id IS NULL)) OR ((recipient_type = ''user''::text) AND (recipient_profile_id IS NOT NULL) AND (recipient_patient_id IS NULL))))'),
    ('messages', 'CHECK ((message_type = ANY (ARRAY[''support''::text, ''clinical_note''::text, ''notification''::text, ''status_update''::text, ''general''::text])))'),
    ('messages', 'CHECK ((recipient_type = ANY (ARRAY[''patient''::text, ''user''::text])))'),
    ('messages', 'FOREIGN KEY (recipient_patient_id) REFERENCES patients(id)'),
    ('messages', 'FOREIGN KEY (recipient_profile_id) REFERENCES profiles(id)'),
    ('messages', 'FOREIGN KEY (sender_id) REFERENCES profiles(id)'),
    ('operations', 'CHECK ((operation_type = ANY (ARRAY[''payment''::text, ''refund''::text, ''chargeback''::text, ''adjustment''::text, ''other''::text])))'),
    ('operations', 'FOREIGN KEY (case_id) REFERENCES cases(id)'),
    ('operations', 'FOREIGN KEY (order_id) REFERENCES orders(id)'),
    ('orders', 'CHECK ((status = ANY (ARRAY[''pending''::text, ''paid''::text, ''shipped''::text, ''cancelled''::text, ''refunded''::text, ''unknown''::text])))'),
    ('orders', 'FOREIGN KEY (case_id) REFERENCES cases(id)'),
    ('orders', 'FOREIGN KEY (office_id) REFERENCES offices(id)'),
    ('orders', 'FOREIGN KEY (patient_id) REFERENCES patients(id)'),
    ('patients', 'CHECK ((status = ANY (ARRAY[''lead''::text, ''active''::text, ''in_treatment''::text, ''retention''::text, ''completed''::text, ''archived''::text, ''unknown''::text])))'),
    ('patients', 'FOREIGN KEY (doctor_id) REFERENCES profiles(id)'),
    ('patients', 'FOREIGN KEY (office_id) REFERENCES offices(id)'),
    ('patients', 'FOREIGN KEY (profile_id) REFERENCES profiles(id)'),
    ('profiles', 'CHECK ((role = ANY (ARRAY[''admin''::text, ''staff''::text, ''user''::text])))'),
    ('system_messages', 'CHECK ((message_type = ANY (ARRAY[''billing''::text, ''appointment''::text, ''clinical''::text, ''system''::text, ''onboarding''::text, ''general''::text])))'),
    ('system_messages', 'CHECK ((priority = ANY (ARRAY[''high''::text, ''normal''::text])))'),
    ('system_messages', 'CHECK ((recipient_type = ANY (ARRAY[''patient''::text, ''user''::text])))'),
    ('system_messages', 'FOREIGN KEY (recipient_patient_id) REFERENCES patients(id)'),
    ('system_messages', 'FOREIGN KEY (recipient_profile_id) REFERENCES profiles(id)'),
    ('treatment_plans', 'CHECK ((status = ANY (ARRAY[''proposed''::text, ''approved''::text, ''rejected''::text, ''superseded''::text, ''unknown''::text])))'),
    ('treatment_plans', 'FOREIGN KEY (case_id) REFERENCES cases(id)')
    $$,
    'every CHECK (enum values, recipient rule) and FOREIGN KEY of target-schema.md, and no other'
);

select results_eq(
    $$ select relname::text collate "default" from pg_class
        where relnamespace = 'public'::regnamespace and relkind = 'r' and not relrowsecurity order by 1 $$,
    $$ select name from app where false $$,
    'row level security is enabled on every table of public (the twelve and any a pack adds)'
);

select is_empty(
    $$ select c.conrelid::regclass::text, a.attname::text
         from pg_constraint c
         join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
        where c.connamespace = 'public'::regnamespace and c.contype = 'f'
          and not exists (select 1 from pg_index i where i.indrelid = c.conrelid and i.indkey[0] = c.conkey[1]) $$,
    'every foreign key column leads an index'
);

select results_eq(
    $$ select t.relname::text collate "default", a.attname::text collate "default"
         from pg_index i
         join pg_class t on t.oid = i.indrelid
         join pg_attribute a on a.attrelid = t.oid and a.attnum = i.indkey[0]
        where t.relnamespace = 'public'::regnamespace and i.indisunique and i.indnatts = 1
          and a.attname like 'legacy\_%\_id'
        order by 1 $$,
    $$ select c.relname::text collate "default", e.legacy_id_column collate "default"
         from sync.entities e join pg_class c on c.oid = e.target_table
        where c.relnamespace = 'public'::regnamespace order by 1 $$,
    'every registered entity''s legacy id column is unique and indexed, and no other'
);

select results_eq(
    $$ select rolname::text collate "default" from pg_roles where rolname in ('anon', 'authenticated', 'service_role') order by 1 $$,
    $$ values ('anon'), ('authenticated'), ('service_role') $$,
    'db:setup creates the Supabase roles'
);

select results_eq(
    $$ select extname::text collate "default", extnamespace::regnamespace::text from pg_extension
        where extname in ('uuid-ossp', 'pgcrypto', 'postgres_fdw') order by 1 $$,
    $$ values ('pgcrypto', 'extensions'), ('postgres_fdw', 'extensions'), ('uuid-ossp', 'extensions') $$,
    'extensions live in schema extensions, as on hosted Supabase'
);

select ok(
    (select count(*) = 3 from pg_proc where pronamespace in ('net'::regnamespace, 'vault'::regnamespace)
        and proname in ('http_post', 'create_secret', 'update_secret')),
    'the net.http_post and vault surfaces exist (stand-ins where the real extensions are absent)'
);

select * from finish();
rollback;
