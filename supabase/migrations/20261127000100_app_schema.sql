-- The Supabase application's schema (target-schema.md), exactly. In production these tables
-- already exist, filled by the one-off migration: mark this migration as applied there with
-- `supabase migration repair --status applied 20261127000100` instead of running it.

create table public.profiles (
    id uuid primary key,
    legacy_user_id bigint unique,
    username text not null,
    email text,
    first_name text,
    last_name text,
    full_name text,
    role text not null check (role in ('admin', 'staff', 'user')),
    is_active boolean not null,
    date_joined timestamptz not null,
    last_login timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    deleted_at timestamptz
);

create table public.offices (
    id uuid primary key,
    legacy_office_id bigint unique,
    name text not null,
    phone text,
    address text,
    is_active boolean not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    deleted_at timestamptz
);

create table public.patients (
    id uuid primary key,
    legacy_patient_id bigint unique,
    office_id uuid not null references public.offices (id),
    profile_id uuid references public.profiles (id),
    doctor_id uuid references public.profiles (id),
    patient_number text not null,
    first_name text not null,
    last_name text not null,
    birthdate date,
    email text,
    status text not null
        check (status in ('lead', 'active', 'in_treatment', 'retention', 'completed', 'archived', 'unknown')),
    legacy_status_id smallint not null,
    medical_notes text,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    deleted_at timestamptz
);
create index patients_office_id_idx on public.patients (office_id);
create index patients_profile_id_idx on public.patients (profile_id);
create index patients_doctor_id_idx on public.patients (doctor_id);

create table public.cases (
    id uuid primary key,
    legacy_instruction_id bigint unique,
    patient_id uuid not null references public.patients (id),
    doctor_id uuid references public.profiles (id),
    office_id uuid references public.offices (id),
    status text not null
        check (status in ('draft', 'submitted', 'in_progress', 'on_hold', 'completed', 'cancelled', 'unknown')),
    product text not null,
    notes text,
    submitted_at timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    deleted_at timestamptz
);
create index cases_patient_id_idx on public.cases (patient_id);
create index cases_doctor_id_idx on public.cases (doctor_id);
create index cases_office_id_idx on public.cases (office_id);

create table public.treatment_plans (
    id uuid primary key,
    legacy_plan_id bigint unique,
    case_id uuid not null references public.cases (id),
    version integer not null,
    status text not null check (status in ('proposed', 'approved', 'rejected', 'superseded', 'unknown')),
    approved_at timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    deleted_at timestamptz
);
create index treatment_plans_case_id_idx on public.treatment_plans (case_id);

create table public.orders (
    id uuid primary key,
    legacy_order_id bigint unique,
    case_id uuid references public.cases (id),
    patient_id uuid not null references public.patients (id),
    office_id uuid references public.offices (id),
    total numeric(12, 2) not null,
    status text not null check (status in ('pending', 'paid', 'shipped', 'cancelled', 'refunded', 'unknown')),
    created_at timestamptz not null,
    updated_at timestamptz not null,
    deleted_at timestamptz
);
create index orders_case_id_idx on public.orders (case_id);
create index orders_patient_id_idx on public.orders (patient_id);
create index orders_office_id_idx on public.orders (office_id);

create table public.operations (
    id uuid primary key,
    legacy_transaction_id bigint unique,
    order_id uuid references public.orders (id),
    case_id uuid references public.cases (id),
    operation_type text not null check (operation_type in ('payment', 'refund', 'chargeback', 'adjustment', 'other')),
    amount numeric(12, 2) not null,
    made_at timestamptz,
    metadata jsonb not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    deleted_at timestamptz
);
create index operations_order_id_idx on public.operations (order_id);
create index operations_case_id_idx on public.operations (case_id);

create table public.messages (
    id uuid primary key,
    legacy_record_id bigint unique,
    message_type text not null
        check (message_type in ('support', 'clinical_note', 'notification', 'status_update', 'general')),
    content text not null,
    sender_id uuid references public.profiles (id),
    recipient_type text not null check (recipient_type in ('patient', 'user')),
    recipient_patient_id uuid references public.patients (id),
    recipient_profile_id uuid references public.profiles (id),
    is_read boolean not null default false,
    metadata jsonb not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    deleted_at timestamptz,
    constraint messages_recipient_check check (
        (recipient_type = 'patient' and recipient_patient_id is not null and recipient_profile_id is null)
        or (recipient_type = 'user' and recipient_profile_id is not null and recipient_patient_id is null)
    )
);
create index messages_sender_id_idx on public.messages (sender_id);
create index messages_recipient_patient_id_idx on public.messages (recipient_patient_id);
create index messages_recipient_profile_id_idx on public.messages (recipient_profile_id);

create table public.case_messages (
    id uuid primary key,
    legacy_comment_id bigint unique,
    case_id uuid not null references public.cases (id),
    treatment_plan_id uuid not null references public.treatment_plans (id),
    sender_id uuid references public.profiles (id),
    message_type text not null
        check (message_type in ('doctor_response', 'patient_question', 'treatment_update', 'clinical_note')),
    subject text not null,
    content text not null,
    requires_response boolean not null,
    is_confidential boolean not null default true,
    sent_at timestamptz not null,
    metadata jsonb not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    deleted_at timestamptz
);
create index case_messages_case_id_idx on public.case_messages (case_id);
create index case_messages_treatment_plan_id_idx on public.case_messages (treatment_plan_id);
create index case_messages_sender_id_idx on public.case_messages (sender_id);

create table public.system_messages (
    id uuid primary key,
    legacy_notification_id bigint unique,
    recipient_type text check (recipient_type in ('patient', 'user')),
    recipient_patient_id uuid references public.patients (id),
    recipient_profile_id uuid references public.profiles (id),
    message_type text not null
        check (message_type in ('billing', 'appointment', 'clinical', 'system', 'onboarding', 'general')),
    sender text not null,
    template_name text not null,
    template_context jsonb not null,
    subject text not null,
    content text not null,
    priority text not null check (priority in ('high', 'normal')),
    is_urgent boolean not null,
    scheduled_at timestamptz,
    sent_at timestamptz,
    delivery_status text not null,
    metadata jsonb not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    deleted_at timestamptz
);
create index system_messages_recipient_patient_id_idx on public.system_messages (recipient_patient_id);
create index system_messages_recipient_profile_id_idx on public.system_messages (recipient_profile_id);

create table public.files (
    id uuid primary key,
    legacy_file_id bigint unique,
    name text not null,
    storage_path text not null,
    size_bytes bigint not null,
    mime_type text not null,
    uploaded_by uuid references public.profiles (id),
    created_at timestamptz not null,
    updated_at timestamptz not null,
    deleted_at timestamptz
);
create index files_uploaded_by_idx on public.files (uploaded_by);

create table public.case_files (
    id uuid primary key,
    legacy_file_instruction_id bigint unique,
    file_id uuid not null references public.files (id),
    case_id uuid not null references public.cases (id),
    created_at timestamptz not null,
    unique (file_id, case_id)
);
create index case_files_case_id_idx on public.case_files (case_id);

alter table public.profiles enable row level security;
alter table public.offices enable row level security;
alter table public.patients enable row level security;
alter table public.cases enable row level security;
alter table public.treatment_plans enable row level security;
alter table public.orders enable row level security;
alter table public.operations enable row level security;
alter table public.messages enable row level security;
alter table public.case_messages enable row level security;
alter table public.system_messages enable row level security;
alter table public.files enable row level security;
alter table public.case_files enable row level security;
