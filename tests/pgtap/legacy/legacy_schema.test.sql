-- The legacy demo schema (legacy-schema.md), exactly: the synced tables' columns, types and
-- nullability, their foreign keys, and the unsynced Django tables beside them.
begin;
select plan(4);

select results_eq(
    $$ select table_name::text collate "default", column_name::text collate "default",
              case when data_type = 'character varying' then 'varchar(' || character_maximum_length || ')'
                   else data_type::text end collate "default",
              is_nullable::text collate "default", coalesce(column_default like 'nextval%', false)
         from information_schema.columns
        where table_schema = 'public'
          and table_name in ('django_content_type', 'auth_user', 'dispatch_office', 'dispatch_patient',
                             'dispatch_instruction', 'dispatch_plan', 'dispatch_comment', 'dispatch_record',
                             'dispatch_notification', 'dispatch_file', 'dispatch_file_instruction',
                             'dispatch_order', 'dispatch_transaction')
        order by table_name, ordinal_position $$,
    $$ values
    ('auth_user', 'id', 'integer', 'NO', true),
    ('auth_user', 'password', 'varchar(128)', 'NO', false),
    ('auth_user', 'last_login', 'timestamp with time zone', 'YES', false),
    ('auth_user', 'is_superuser', 'boolean', 'NO', false),
    ('auth_user', 'username', 'varchar(150)', 'NO', false),
    ('auth_user', 'first_name', 'varchar(150)', 'NO', false),
    ('auth_user', 'last_name', 'varchar(150)', 'NO', false),
    ('auth_user', 'email', 'varchar(254)', 'NO', false),
    ('auth_user', 'is_staff', 'boolean', 'NO', false),
    ('auth_user', 'is_active', 'boolean', 'NO', false),
    ('auth_user', 'date_joined', 'timestamp with time zone', 'NO', false),
    ('dispatch_comment', 'id', 'integer', 'NO', true),
    ('dispatch_comment', 'plan_id', 'integer', 'NO', false),
    ('dispatch_comment', 'author_id', 'integer', 'YES', false),
    ('dispatch_comment', 'text', 'text', 'NO', false),
    ('dispatch_comment', 'created_at', 'timestamp with time zone', 'NO', false),
    ('dispatch_file', 'id', 'integer', 'NO', true),
    ('dispatch_file', 'name', 'varchar(255)', 'NO', false),
    ('dispatch_file', 'path', 'varchar(500)', 'NO', false),
    ('dispatch_file', 'size', 'bigint', 'NO', false),
    ('dispatch_file', 'mime_type', 'varchar(100)', 'NO', false),
    ('dispatch_file', 'uploaded_by_id', 'integer', 'YES', false),
    ('dispatch_file', 'created_at', 'timestamp with time zone', 'NO', false),
    ('dispatch_file_instruction', 'id', 'integer', 'NO', true),
    ('dispatch_file_instruction', 'file_id', 'integer', 'NO', false),
    ('dispatch_file_instruction', 'instruction_id', 'integer', 'NO', false),
    ('dispatch_file_instruction', 'created_at', 'timestamp with time zone', 'NO', false),
    ('dispatch_instruction', 'id', 'integer', 'NO', true),
    ('dispatch_instruction', 'patient_id', 'integer', 'NO', false),
    ('dispatch_instruction', 'doctor_id', 'integer', 'YES', false),
    ('dispatch_instruction', 'office_id', 'integer', 'YES', false),
    ('dispatch_instruction', 'status', 'smallint', 'NO', false),
    ('dispatch_instruction', 'product', 'varchar(100)', 'NO', false),
    ('dispatch_instruction', 'notes', 'text', 'NO', false),
    ('dispatch_instruction', 'submitted_at', 'timestamp with time zone', 'YES', false),
    ('dispatch_instruction', 'created_at', 'timestamp with time zone', 'NO', false),
    ('dispatch_instruction', 'updated_at', 'timestamp with time zone', 'NO', false),
    ('dispatch_notification', 'id', 'integer', 'NO', true),
    ('dispatch_notification', 'recipient_id', 'integer', 'YES', false),
    ('dispatch_notification', 'sender', 'varchar(100)', 'NO', false),
    ('dispatch_notification', 'template_name', 'varchar(100)', 'NO', false),
    ('dispatch_notification', 'template_context', 'text', 'NO', false),
    ('dispatch_notification', 'subject', 'varchar(255)', 'NO', false),
    ('dispatch_notification', 'content', 'text', 'NO', false),
    ('dispatch_notification', 'send', 'boolean', 'NO', false),
    ('dispatch_notification', 'sent', 'boolean', 'NO', false),
    ('dispatch_notification', 'send_at', 'timestamp with time zone', 'YES', false),
    ('dispatch_notification', 'sent_at', 'timestamp with time zone', 'YES', false),
    ('dispatch_notification', 'created_at', 'timestamp with time zone', 'NO', false),
    ('dispatch_office', 'id', 'integer', 'NO', true),
    ('dispatch_office', 'name', 'varchar(200)', 'NO', false),
    ('dispatch_office', 'phone', 'varchar(32)', 'NO', false),
    ('dispatch_office', 'address', 'varchar(255)', 'NO', false),
    ('dispatch_office', 'city', 'varchar(100)', 'NO', false),
    ('dispatch_office', 'state', 'varchar(50)', 'NO', false),
    ('dispatch_office', 'zip_code', 'varchar(20)', 'NO', false),
    ('dispatch_office', 'is_active', 'boolean', 'NO', false),
    ('dispatch_office', 'created_at', 'timestamp with time zone', 'NO', false),
    ('dispatch_office', 'updated_at', 'timestamp with time zone', 'NO', false),
    ('dispatch_order', 'id', 'integer', 'NO', true),
    ('dispatch_order', 'instruction_id', 'integer', 'YES', false),
    ('dispatch_order', 'patient_id', 'integer', 'NO', false),
    ('dispatch_order', 'office_id', 'integer', 'YES', false),
    ('dispatch_order', 'total', 'numeric', 'NO', false),
    ('dispatch_order', 'status', 'smallint', 'NO', false),
    ('dispatch_order', 'created_at', 'timestamp with time zone', 'NO', false),
    ('dispatch_order', 'updated_at', 'timestamp with time zone', 'NO', false),
    ('dispatch_patient', 'id', 'integer', 'NO', true),
    ('dispatch_patient', 'office_id', 'integer', 'NO', false),
    ('dispatch_patient', 'user_id', 'integer', 'YES', false),
    ('dispatch_patient', 'doctor_id', 'integer', 'YES', false),
    ('dispatch_patient', 'patient_number', 'varchar(32)', 'NO', false),
    ('dispatch_patient', 'first_name', 'varchar(150)', 'NO', false),
    ('dispatch_patient', 'last_name', 'varchar(150)', 'NO', false),
    ('dispatch_patient', 'birthdate', 'date', 'YES', false),
    ('dispatch_patient', 'email', 'varchar(254)', 'NO', false),
    ('dispatch_patient', 'status_id', 'smallint', 'NO', false),
    ('dispatch_patient', 'medical_notes', 'text', 'YES', false),
    ('dispatch_patient', 'created_at', 'timestamp with time zone', 'NO', false),
    ('dispatch_patient', 'updated_at', 'timestamp with time zone', 'NO', false),
    ('dispatch_plan', 'id', 'integer', 'NO', true),
    ('dispatch_plan', 'instruction_id', 'integer', 'NO', false),
    ('dispatch_plan', 'version', 'integer', 'NO', false),
    ('dispatch_plan', 'status', 'smallint', 'NO', false),
    ('dispatch_plan', 'approved_at', 'timestamp with time zone', 'YES', false),
    ('dispatch_plan', 'created_at', 'timestamp with time zone', 'NO', false),
    ('dispatch_plan', 'updated_at', 'timestamp with time zone', 'NO', false),
    ('dispatch_record', 'id', 'integer', 'NO', true),
    ('dispatch_record', 'target_type_id', 'integer', 'NO', false),
    ('dispatch_record', 'target_id', 'integer', 'NO', false),
    ('dispatch_record', 'author_id', 'integer', 'YES', false),
    ('dispatch_record', 'type', 'smallint', 'NO', false),
    ('dispatch_record', 'text', 'text', 'NO', false),
    ('dispatch_record', 'group_id', 'integer', 'YES', false),
    ('dispatch_record', 'public', 'boolean', 'NO', false),
    ('dispatch_record', 'created_at', 'timestamp with time zone', 'NO', false),
    ('dispatch_transaction', 'id', 'integer', 'NO', true),
    ('dispatch_transaction', 'order_id', 'integer', 'YES', false),
    ('dispatch_transaction', 'type', 'smallint', 'NO', false),
    ('dispatch_transaction', 'price', 'varchar(32)', 'YES', false),
    ('dispatch_transaction', 'made_at', 'timestamp with time zone', 'YES', false),
    ('dispatch_transaction', 'sq_order_id', 'varchar(64)', 'YES', false),
    ('dispatch_transaction', 'sq_payment_id', 'varchar(64)', 'YES', false),
    ('dispatch_transaction', 'sq_refund_id', 'varchar(64)', 'YES', false),
    ('dispatch_transaction', 'card_brand', 'varchar(32)', 'YES', false),
    ('dispatch_transaction', 'card_bin', 'varchar(8)', 'YES', false),
    ('dispatch_transaction', 'card_last', 'varchar(4)', 'YES', false),
    ('dispatch_transaction', 'office_card', 'boolean', 'NO', false),
    ('dispatch_transaction', 'payment_id', 'varchar(64)', 'YES', false),
    ('dispatch_transaction', 'created_at', 'timestamp with time zone', 'NO', false),
    ('django_content_type', 'id', 'integer', 'NO', true),
    ('django_content_type', 'app_label', 'varchar(100)', 'NO', false),
    ('django_content_type', 'model', 'varchar(100)', 'NO', false)
    $$,
    'the synced legacy tables have exactly the columns of legacy-schema.md (serial ids)'
);

select set_eq(
    $$ select conrelid::regclass::text, a.attname::text, confrelid::regclass::text
         from pg_constraint c
         join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
        where contype = 'f' and connamespace = 'public'::regnamespace $$,
    $$ values
    ('django_admin_log', 'content_type_id', 'django_content_type'),
    ('django_admin_log', 'user_id', 'auth_user'),
    ('dispatch_patient', 'office_id', 'dispatch_office'),
    ('dispatch_patient', 'user_id', 'auth_user'),
    ('dispatch_patient', 'doctor_id', 'auth_user'),
    ('dispatch_instruction', 'patient_id', 'dispatch_patient'),
    ('dispatch_instruction', 'doctor_id', 'auth_user'),
    ('dispatch_instruction', 'office_id', 'dispatch_office'),
    ('dispatch_plan', 'instruction_id', 'dispatch_instruction'),
    ('dispatch_comment', 'plan_id', 'dispatch_plan'),
    ('dispatch_comment', 'author_id', 'auth_user'),
    ('dispatch_record', 'target_type_id', 'django_content_type'),
    ('dispatch_record', 'author_id', 'auth_user'),
    ('dispatch_file', 'uploaded_by_id', 'auth_user'),
    ('dispatch_file_instruction', 'file_id', 'dispatch_file'),
    ('dispatch_file_instruction', 'instruction_id', 'dispatch_instruction'),
    ('dispatch_order', 'instruction_id', 'dispatch_instruction'),
    ('dispatch_order', 'patient_id', 'dispatch_patient'),
    ('dispatch_order', 'office_id', 'dispatch_office'),
    ('dispatch_transaction', 'order_id', 'dispatch_order'),
    ('dispatch_auditlog', 'user_id', 'auth_user')
    $$,
    'foreign keys as Django declares them; record targets and notification recipients have none'
);

select set_eq(
    $$ select conrelid::regclass::text, pg_get_constraintdef(oid)
         from pg_constraint where contype = 'u' and connamespace = 'public'::regnamespace $$,
    $$ values ('auth_user', 'UNIQUE (username)'), ('auth_group', 'UNIQUE (name)'),
              ('django_content_type', 'UNIQUE (app_label, model)'),
              ('dispatch_file_instruction', 'UNIQUE (file_id, instruction_id)') $$,
    'the unique constraints of legacy-schema.md'
);

select results_eq(
    $$ select relname::text collate "default" from pg_class
        where relnamespace = 'public'::regnamespace and relkind = 'r'
          and relname in ('django_session', 'django_admin_log', 'django_migrations', 'dispatch_auditlog', 'auth_group')
        order by 1 $$,
    $$ values ('auth_group'), ('dispatch_auditlog'), ('django_admin_log'), ('django_migrations'), ('django_session') $$,
    'unsynced Django tables exist beside the synced ones'
);

select * from finish();
rollback;
