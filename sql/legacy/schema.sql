-- The legacy Django database (legacy-schema.md), exactly: the synced tables and a few of the
-- ~40 that are not synced. Django conventions: serial ids, `<field>_id` foreign keys declared
-- DEFERRABLE INITIALLY DEFERRED with an index each, '' for blank text, timestamptz everywhere.
-- The application deletes children itself before a parent (Django's on_delete=CASCADE), so
-- the foreign keys carry no ON DELETE action. Idempotent only on an empty database: the demo
-- and the tests drop and recreate schema public before running it.

create table public.django_content_type (
    id serial primary key,
    app_label varchar(100) not null,
    model varchar(100) not null,
    constraint django_content_type_app_label_model_76bd3d3b_uniq unique (app_label, model)
);

create table public.django_migrations (
    id serial primary key,
    app varchar(255) not null,
    name varchar(255) not null,
    applied timestamptz not null
);

create table public.auth_user (
    id serial primary key,
    password varchar(128) not null,
    last_login timestamptz,
    is_superuser boolean not null,
    username varchar(150) not null unique,
    first_name varchar(150) not null,
    last_name varchar(150) not null,
    email varchar(254) not null,
    is_staff boolean not null,
    is_active boolean not null,
    date_joined timestamptz not null
);

create table public.auth_group (
    id serial primary key,
    name varchar(150) not null unique
);

create table public.django_session (
    session_key varchar(40) primary key,
    session_data text not null,
    expire_date timestamptz not null
);
create index django_session_expire_date_a5c62663 on public.django_session (expire_date);

create table public.django_admin_log (
    id serial primary key,
    action_time timestamptz not null,
    object_id text,
    object_repr varchar(200) not null,
    action_flag smallint not null check (action_flag >= 0),
    change_message text not null,
    content_type_id integer references public.django_content_type (id) deferrable initially deferred,
    user_id integer not null references public.auth_user (id) deferrable initially deferred
);
create index django_admin_log_content_type_id_c4bce8eb on public.django_admin_log (content_type_id);
create index django_admin_log_user_id_c564eba6 on public.django_admin_log (user_id);

create table public.dispatch_office (
    id serial primary key,
    name varchar(200) not null,
    phone varchar(32) not null,
    address varchar(255) not null,
    city varchar(100) not null,
    state varchar(50) not null,
    zip_code varchar(20) not null,
    is_active boolean not null,
    created_at timestamptz not null,
    updated_at timestamptz not null
);

create table public.dispatch_patient (
    id serial primary key,
    office_id integer not null references public.dispatch_office (id) deferrable initially deferred,
    user_id integer references public.auth_user (id) deferrable initially deferred,
    doctor_id integer references public.auth_user (id) deferrable initially deferred,
    patient_number varchar(32) not null,
    first_name varchar(150) not null,
    last_name varchar(150) not null,
    birthdate date,
    email varchar(254) not null,
    status_id smallint not null,
    medical_notes text,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create index dispatch_patient_office_id_5c1b7b1e on public.dispatch_patient (office_id);
create index dispatch_patient_user_id_0b1f8e6a on public.dispatch_patient (user_id);
create index dispatch_patient_doctor_id_7d2c4a90 on public.dispatch_patient (doctor_id);

create table public.dispatch_instruction (
    id serial primary key,
    patient_id integer not null references public.dispatch_patient (id) deferrable initially deferred,
    doctor_id integer references public.auth_user (id) deferrable initially deferred,
    office_id integer references public.dispatch_office (id) deferrable initially deferred,
    status smallint not null,
    product varchar(100) not null,
    notes text not null,
    submitted_at timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create index dispatch_instruction_patient_id_3e5f2c11 on public.dispatch_instruction (patient_id);
create index dispatch_instruction_doctor_id_9a8b7c6d on public.dispatch_instruction (doctor_id);
create index dispatch_instruction_office_id_1f2e3d4c on public.dispatch_instruction (office_id);

create table public.dispatch_plan (
    id serial primary key,
    instruction_id integer not null references public.dispatch_instruction (id) deferrable initially deferred,
    version integer not null,
    status smallint not null,
    approved_at timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create index dispatch_plan_instruction_id_6b5a4c3d on public.dispatch_plan (instruction_id);

create table public.dispatch_comment (
    id serial primary key,
    plan_id integer not null references public.dispatch_plan (id) deferrable initially deferred,
    author_id integer references public.auth_user (id) deferrable initially deferred,
    text text not null,
    created_at timestamptz not null
);
create index dispatch_comment_plan_id_2a3b4c5d on public.dispatch_comment (plan_id);
create index dispatch_comment_author_id_8e9f0a1b on public.dispatch_comment (author_id);

create table public.dispatch_record (
    id serial primary key,
    target_type_id integer not null references public.django_content_type (id) deferrable initially deferred,
    target_id integer not null,
    author_id integer references public.auth_user (id) deferrable initially deferred,
    type smallint not null,
    text text not null,
    group_id integer,
    public boolean not null,
    created_at timestamptz not null
);
create index dispatch_record_target_type_id_4c5d6e7f on public.dispatch_record (target_type_id);
create index dispatch_record_author_id_0c1d2e3f on public.dispatch_record (author_id);

create table public.dispatch_notification (
    id serial primary key,
    recipient_id integer,
    sender varchar(100) not null,
    template_name varchar(100) not null,
    template_context text not null,
    subject varchar(255) not null,
    content text not null,
    send boolean not null,
    sent boolean not null,
    send_at timestamptz,
    sent_at timestamptz,
    created_at timestamptz not null
);

create table public.dispatch_file (
    id serial primary key,
    name varchar(255) not null,
    path varchar(500) not null,
    size bigint not null,
    mime_type varchar(100) not null,
    uploaded_by_id integer references public.auth_user (id) deferrable initially deferred,
    created_at timestamptz not null
);
create index dispatch_file_uploaded_by_id_5e6f7a8b on public.dispatch_file (uploaded_by_id);

create table public.dispatch_file_instruction (
    id serial primary key,
    file_id integer not null references public.dispatch_file (id) deferrable initially deferred,
    instruction_id integer not null references public.dispatch_instruction (id) deferrable initially deferred,
    created_at timestamptz not null,
    constraint dispatch_file_instruction_file_id_instruction_id_uniq unique (file_id, instruction_id)
);
create index dispatch_file_instruction_instruction_id_9c0d1e2f on public.dispatch_file_instruction (instruction_id);

create table public.dispatch_order (
    id serial primary key,
    instruction_id integer references public.dispatch_instruction (id) deferrable initially deferred,
    patient_id integer not null references public.dispatch_patient (id) deferrable initially deferred,
    office_id integer references public.dispatch_office (id) deferrable initially deferred,
    total numeric(10, 2) not null,
    status smallint not null,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create index dispatch_order_instruction_id_3a4b5c6d on public.dispatch_order (instruction_id);
create index dispatch_order_patient_id_7e8f9a0b on public.dispatch_order (patient_id);
create index dispatch_order_office_id_1c2d3e4f on public.dispatch_order (office_id);

create table public.dispatch_transaction (
    id serial primary key,
    order_id integer references public.dispatch_order (id) deferrable initially deferred,
    type smallint not null,
    price varchar(32),
    made_at timestamptz,
    sq_order_id varchar(64),
    sq_payment_id varchar(64),
    sq_refund_id varchar(64),
    card_brand varchar(32),
    card_bin varchar(8),
    card_last varchar(4),
    office_card boolean not null,
    payment_id varchar(64),
    created_at timestamptz not null
);
create index dispatch_transaction_order_id_5a6b7c8d on public.dispatch_transaction (order_id);

create table public.dispatch_auditlog (
    id serial primary key,
    user_id integer references public.auth_user (id) deferrable initially deferred,
    action varchar(50) not null,
    object_repr varchar(200) not null,
    created_at timestamptz not null
);
create index dispatch_auditlog_user_id_2b3c4d5e on public.dispatch_auditlog (user_id);
