-- The sync engine's own schema: registry, id map, inbox, batches, runs, quarantine, alerts,
-- integrity issues, configuration. Generic: nothing here names a legacy or target table; mapping
-- packs register their entities (later migrations). Not exposed through the Data API.

create schema sync;
revoke all on schema sync from public;
comment on schema sync is 'Legacy → Supabase sync engine (legacy-sync). Not exposed through the Data API.';

-- Entity registry: one row per entity of a mapping pack.
create table sync.entities (
    name text primary key,
    source_table text not null unique,          -- schema-qualified table on the source, e.g. public.auth_user
    source_pk text not null default 'id',
    source_exclude text[] not null default '{}', -- source columns never read (credential material)
    target_table regclass not null,             -- where the rows go (a public table, or a sync lookup table)
    legacy_id_column text not null,             -- the target's legacy id column
    transform regproc not null,                 -- returns setof sync.transformed over the entity's pending changes
    write_columns text[] not null,              -- the columns the sync writes (the rest belong to the application)
    depends_on text[] not null default '{}',    -- entities whose id map this one reads
    delete_mode text not null default 'soft' check (delete_mode in ('soft', 'hard')),
    delete_alert text,                          -- alert kind raised for each source delete (e.g. financial_delete)
    derive jsonb not null default '[]',          -- derived columns: [{parent, fk, column, parent_column}], re-derived when the parent changes
    reread jsonb not null default '[]',          -- [{parent, fk}]: rows read again from the source when a parent they map through changes
    has_updated_at boolean not null default true,
    has_deleted_at boolean not null default true,
    -- The source table may be missing on a legacy database (an older release of the application):
    -- connect_source then connects the others and marks the entity unavailable.
    optional boolean not null default false,
    -- Set by connect_source: false while the connected source lacks an optional entity's table (not
    -- captured, applied, backfilled or verified).
    available boolean not null default true
);
comment on table sync.entities is 'Entity registry: one transform function, one row, one pgTAP file per entity.';

-- What a transform returns for each pending upsert: a row to write, or why not.
create type sync.transformed as (
    work_id bigint,            -- the work_in row it answers
    outcome text,              -- write | park | quarantine | skip
    data jsonb,                -- write: target columns (without id and legacy id column)
    parent_entity text,        -- park: the entity of the missing parent
    parent_legacy_id bigint,   -- park: its legacy id
    reason text,               -- quarantine: machine-readable reason
    message text,              -- quarantine: human message
    issues jsonb               -- write: data-integrity issues, [{column, code}]
);

-- (entity names no foreign key: only the engine writes the map, for registered entities, and a
-- foreign-key check per mapped row cost a quarter of the map's insert during a backfill.)
create table sync.id_map (
    entity text not null,
    legacy_id bigint not null,
    target_id uuid not null,
    source_version bigint not null default 0,  -- xmax of the source snapshot the last image was read at
    image jsonb,                               -- the columns the sync last wrote (hash it on demand: md5(image::text))
    source_image jsonb,                        -- what the source last mapped to, before a merge kept target values
    deleted boolean not null default false,
    updated_at timestamptz not null default now(),
    primary key (entity, legacy_id)
);
-- By target id alone: no index but the primary key may lead with the entity, so a lookup by
-- (entity, legacy id) can never pick the wrong one while statistics lag behind a backfill.
create index id_map_target_idx on sync.id_map (target_id);

-- Children to read again from the source because a parent their mapping reads changed (the
-- registry's reread rules): the child entity, its source column naming the parent, the parent's
-- legacy id. Drained by the tick (sync._reread).
create table sync.reread (
    entity text not null,
    fk text not null,
    parent_legacy_id bigint not null,
    primary key (entity, fk, parent_legacy_id)
);

create table sync.source (
    id boolean primary key default true check (id),
    server_name text not null,
    conninfo_redacted text not null,
    cursor_snapshot text,            -- the source snapshot up to which changes are in the inbox
    identity jsonb,                  -- the source's identity at connect (system identifier, timeline, database): a pull from another source is refused
    -- A backlog larger than batch_size is pulled in pages of the log's blocks, all bounded by one
    -- snapshot (pending_snapshot): the cursor moves to it when the last page is in the inbox.
    pending_snapshot text,
    page_block bigint,               -- next block of the log to read
    page_end bigint,                 -- blocks of the log when the paged batch began
    page_blocks integer,             -- blocks per page (halved when a page would exceed batch_size)
    -- The circuit breaker (engine.md §7): consecutive ticks whose pull failed, and until when ticks
    -- leave the source alone (NULL: closed; once passed, the next tick is the one probe).
    failures integer not null default 0,
    open_until timestamptz,
    connected_at timestamptz not null default now(),
    last_pull_at timestamptz
);

-- The applier's lease: which run applies now, from which backend. The advisory lock that guards
-- it is transaction-scoped (no lock outlives a transaction, whatever ends it); between its
-- transactions a run keeps its claim through this row, which counts only while its backend still
-- runs the statement that took it (sync._lease_alive): a cancelled or terminated run's claim lapses.
create table sync.applier (
    id boolean primary key default true check (id),
    run_id bigint,
    pid integer,
    backend_start timestamptz,
    query_start timestamptz,
    heartbeat_at timestamptz,
    backfill_run_id bigint          -- the backfill run the holder is stepping, if any
);
insert into sync.applier default values;

-- Operator actions on data: quarantine releases and overrides, conflict decisions, run control.
create table sync.audit (
    id bigserial primary key,
    kind text not null,             -- e.g. quarantine.retry, quarantine.discard, run.cancel
    subject text not null,          -- what it acted on, e.g. quarantine:12
    caller text not null,
    details jsonb not null default '{}',
    at timestamptz not null default now()
);
create index audit_at_idx on sync.audit (at);

create table sync.runs (
    id bigserial primary key,
    mode text not null check (mode in ('incremental', 'backfill', 'verify', 'repair', 'dry_run')),
    status text not null default 'queued'
        check (status in ('queued', 'running', 'paused', 'succeeded', 'partial', 'failed', 'cancelled')),
    trigger text not null default 'manual',
    caller text not null default session_user,
    entities text[],
    started_at timestamptz,
    ended_at timestamptz,
    timings jsonb not null default '{}',
    counts jsonb not null default '{}',
    progress jsonb not null default '{}',
    error jsonb,
    summary jsonb,
    created_at timestamptz not null default now()
);
create index runs_status_idx on sync.runs (status, id);
create index runs_created_idx on sync.runs (created_at);

create table sync.batches (
    id bigserial primary key,
    run_id bigint references sync.runs (id),
    snapshot_from text,
    snapshot_to text not null,
    version bigint not null,
    changes integer not null,
    rows integer not null,
    pulled_at timestamptz not null default now()
);

create table sync.inbox (
    id bigserial primary key,
    -- (No foreign keys: only the engine writes these, and each one's check per pulled row only cost time.)
    batch_id bigint,                 -- the sync.batches row it was pulled in
    entity text not null,            -- a registered entity
    legacy_id bigint not null,
    op text not null check (op in ('upsert', 'delete')),
    image jsonb,
    source_version bigint not null,
    captured_at timestamptz not null,
    status text not null default 'pending'
        check (status in ('pending', 'applied', 'parked', 'quarantined', 'skipped', 'conflict', 'superseded', 'discarded')),
    parent_entity text,
    parent_legacy_id bigint,
    reason text,
    message text,
    run_id bigint,
    attempts integer not null default 0,
    created_at timestamptz not null default now(),
    applied_at timestamptz
);
create index inbox_open_idx on sync.inbox (entity, status, legacy_id) where status in ('pending', 'parked', 'quarantined', 'conflict');
create index inbox_parked_idx on sync.inbox (parent_entity, parent_legacy_id) where status = 'parked';
create index inbox_run_idx on sync.inbox (run_id);
-- GET /sync/runs?entity&legacy_id: the runs that touched one legacy row.
create index inbox_legacy_idx on sync.inbox (entity, legacy_id);
create index inbox_created_idx on sync.inbox (created_at) where status not in ('pending', 'parked', 'quarantined', 'conflict');

create table sync.quarantine (
    id bigserial primary key,
    entity text not null,
    legacy_id bigint not null,
    inbox_id bigint not null references sync.inbox (id),
    reason text not null,
    message text not null,
    created_at timestamptz not null default now(),
    released_at timestamptz,
    released_by text,
    resolution text check (resolution in ('newer change', 'retried', 'custom', 'discarded', 'auto retry', 'backfill'))
);
create unique index quarantine_open_idx on sync.quarantine (entity, legacy_id) where released_at is null;
create index quarantine_inbox_idx on sync.quarantine (inbox_id);

-- Target-side edits met by a source change (engine.md §5): one row per conflict, with the three
-- images and the decision. At most one open (held, strategy manual) conflict per row.
create table sync.conflicts (
    id bigserial primary key,
    entity text not null references sync.entities (name),
    legacy_id bigint not null,
    target_id uuid,
    inbox_id bigint references sync.inbox (id),
    op text not null check (op in ('upsert', 'delete')),
    strategy text not null check (strategy in ('source_wins', 'target_wins', 'merge', 'newest_wins', 'manual')),
    status text not null check (status in ('open', 'resolved')),
    decision text check (decision in ('accept_source', 'keep_target', 'custom', 'merged')),
    columns text[] not null,
    source_image jsonb,
    target_image jsonb,
    base_image jsonb,
    created_at timestamptz not null default now(),
    resolved_at timestamptz,
    resolved_by text
);
create unique index conflicts_open_idx on sync.conflicts (entity, legacy_id) where status = 'open';
create index conflicts_created_idx on sync.conflicts (created_at);

-- Legacy rows that the pack's filter skips (a transform's outcome 'skip'): so verification tells a
-- filtered row from a missing one. Removed when the row is written again.
create table sync.filtered (
    entity text not null references sync.entities (name),
    legacy_id bigint not null,
    reason text not null,
    at timestamptz not null default now(),
    primary key (entity, legacy_id)
);

create table sync.integrity_issues (
    entity text not null,
    legacy_id bigint not null,
    source_table text not null,
    column_name text not null,
    code text not null,
    first_seen_at timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    primary key (entity, legacy_id, column_name)
);

create table sync.alerts (
    id bigserial primary key,
    kind text not null,
    severity text not null default 'warning' check (severity in ('info', 'warning', 'critical')),
    dedup_key text not null,
    message text not null,
    details jsonb not null default '{}',
    occurrences integer not null default 1,
    created_at timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    acknowledged_at timestamptz,
    acknowledged_by text,
    resolved_at timestamptz,        -- its condition cleared (sync.evaluate_alerts); an event alert never resolves
    notified_at timestamptz         -- last handed to the destinations (sync.deliver_alerts)
);
create unique index alerts_open_idx on sync.alerts (dedup_key) where acknowledged_at is null and resolved_at is null;

create table sync.config (
    id boolean primary key default true check (id),
    settings jsonb not null default '{}',
    updated_at timestamptz not null default now(),
    updated_by text not null default session_user
);
insert into sync.config default values;

create table sync.config_audit (
    id bigserial primary key,
    patch jsonb not null,
    before jsonb not null,
    after jsonb not null,
    changed_by text not null,
    changed_at timestamptz not null default now()
);

-- The content-type lookup: a captured entity with no application table. Messages resolve their
-- polymorphic recipient through it by natural key (app_label, model), never by id number.
create table sync.content_types (
    id uuid primary key,
    legacy_content_type_id bigint unique,
    app_label text not null,
    model text not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    deleted_at timestamptz
);

-- Work tables of the puller (one applier at a time holds the advisory lock): unlogged, emptied
-- before each use. Permanent rather than temporary so that every statement that reads them is
-- planned once and checked by plpgsql_check, and no catalog rows churn per batch.
create unlogged table sync.work_pull (tbl text not null, pk bigint not null, captured_at timestamptz not null, n integer not null);

-- The applier's work set is the session's own (temporary tables, created once per session by
-- sync._work_open, emptied before each use): a backfill applies chunks, and a deep verification checks
-- them, in several sessions at once (sync.backfill_worker, sync.verify_worker), each with its own
-- work set. Statements that read them are still planned once per session, and plpgsql_check sees
-- them once sync._work_open has run.
--   work_in     the changes being applied now, for one entity: from the inbox (tick) or straight from
--               the source (backfill). work_id is the inbox id, or the legacy id for backfill rows
--               (which have no inbox row unless they park or are quarantined).
--   work_del    the deletes among them, with what conflict detection needs.
--   work_t      the pack's transform of work_in.
--   work_w      what the upsert writes, with the target ids, versions and conflict columns.
--   work_t2     verification's second transform of the same rows (the capture time moved).
--   work_drift  verification's rows whose written columns differ from the target's.
-- Stored images compress with lz4 where the server has it (hosted Supabase does): wide rows (long
-- notes, documents) are written several times on their way through, and pglz spent more time
-- compressing them than the rest of their apply. Decompression is ~5x faster too.
create function sync._work_open()
returns void
language plpgsql
set search_path = ''
as $$
begin
    if pg_catalog.to_regclass('pg_temp.work_drift') is not null then
        return;
    end if;
    create temp table if not exists work_in (
        work_id bigint primary key,
        inbox_id bigint,
        legacy_id bigint not null,
        op text not null,
        image jsonb,
        source_version bigint not null,
        captured_at timestamptz not null
    );
    create temp table if not exists work_del (
        work_id bigint not null, inbox_id bigint, legacy_id bigint not null, captured_at timestamptz not null, target_id uuid,
        base jsonb, target_image jsonb, tcols text[], keep boolean not null default false
    );
    create temp table if not exists work_t of sync.transformed;
    create temp table if not exists work_w (
        work_id bigint not null,
        inbox_id bigint,
        legacy_id bigint not null,
        source_version bigint not null,
        captured_at timestamptz not null,
        data jsonb,
        issues jsonb,
        id uuid not null,
        mapped_version bigint,
        base jsonb,            -- the image the sync last wrote (conflict detection)
        target_image jsonb,    -- the target row's current values of the written columns
        tcols text[],          -- columns changed on the target side since the sync wrote them
        scols text[],          -- columns the source changes now
        source_data jsonb,     -- the source's mapped row before a merge kept target values
        keep boolean not null default false  -- a conflict whose strategy keeps the target row
    );
    create temp table if not exists work_t2 of sync.transformed;
    create temp table if not exists work_drift (work_id bigint primary key, legacy_id bigint not null, cols text[] not null);
    -- Every role of the session reaches them (an API function runs as its owner, a test as itself).
    grant all on pg_temp.work_in, pg_temp.work_del, pg_temp.work_t, pg_temp.work_w, pg_temp.work_t2, pg_temp.work_drift to public;
    begin
        alter table pg_temp.work_in alter column image set compression lz4;
        alter table pg_temp.work_t alter column data set compression lz4;
        alter table pg_temp.work_w alter column data set compression lz4, alter column base set compression lz4,
                                   alter column target_image set compression lz4, alter column source_data set compression lz4;
    exception when feature_not_supported then
        null;
    end;
end;
$$;
revoke execute on function sync._work_open() from public;
select sync._work_open();

-- What transforms read: the work set with each image detoasted once per row (jsonb || '{}'
-- returns the argument, decompressed, in memory). A transform reads a dozen fields of an image,
-- and each read of a stored image that is compressed or out of line (a wide row: long notes, a
-- document) decompressed the whole image again. OFFSET 0 keeps the planner from pulling the
-- subquery up, which would copy the expression into every reference. A view over an SQL function
-- (inlined by the planner: no SET clause, hence the qualified operator) because a permanent view
-- cannot name a temporary table.
create function sync._work_images()
returns table (work_id bigint, inbox_id bigint, legacy_id bigint, op text, image jsonb, source_version bigint,
               captured_at timestamptz)
language sql
stable
as $$
    select w.work_id, w.inbox_id, w.legacy_id, w.op, w.image operator(pg_catalog.||) '{}'::pg_catalog.jsonb, w.source_version,
           w.captured_at
      from pg_temp.work_in w
    offset 0;
$$;
revoke execute on function sync._work_images() from public;
create view sync.work_images as
select i.work_id, i.inbox_id, i.legacy_id, i.op, i.image, i.source_version, i.captured_at from sync._work_images() i;

-- The stored copies of row images compress with lz4 where the server has it (see above).
do $$
begin
    alter table sync.inbox alter column image set compression lz4;
    alter table sync.id_map alter column image set compression lz4, alter column source_image set compression lz4;
exception when feature_not_supported then
    raise notice 'this server has no lz4: the sync''s stored images keep pglz';
end;
$$;

-- Nobody but the owner (and service_role through the API functions) reaches the sync schema.
revoke all on all tables in schema sync from public, anon, authenticated;
alter default privileges in schema sync revoke all on tables from public;
alter default privileges in schema sync revoke execute on functions from public;
