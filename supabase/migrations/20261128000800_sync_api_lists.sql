-- The rest of the HTTPS API's lists and writes (api.md): conflicts, alerts (list, acknowledge) and
-- the audit trail, keyset-paged by id, newest first, as {items, next_cursor}. Row images only when
-- asked (admins only at the API).

-- Conflicts newest first; status 'open' | 'resolved' | NULL (all); entity; images adds the three row images.
create function sync.list_conflicts(
    status text default 'open', entity text default null, "limit" integer default 50, cursor bigint default null,
    images boolean default false)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    v_limit integer := sync._check_limit(list_conflicts."limit");
begin
    if list_conflicts.status is not null and list_conflicts.status not in ('open', 'resolved') then
        perform sync._raise(400, format('status must be open or resolved, got %s', list_conflicts.status));
    end if;
    return sync._page((
        select jsonb_agg(p.item order by p.id desc)
          from (select c.id,
                       jsonb_build_object('id', c.id, 'entity', c.entity, 'legacy_id', c.legacy_id, 'op', c.op,
                           'strategy', c.strategy, 'status', c.status, 'decision', c.decision, 'columns', c.columns,
                           'created_at', c.created_at, 'resolved_at', c.resolved_at, 'resolved_by', c.resolved_by)
                       || case when list_conflicts.images
                               then jsonb_build_object('source_image', c.source_image, 'target_image', c.target_image,
                                                       'base_image', c.base_image)
                               else '{}' end as item
                  from sync.conflicts c
                 where (list_conflicts.status is null or c.status = list_conflicts.status)
                   and (list_conflicts.entity is null or c.entity = list_conflicts.entity)
                   and (list_conflicts.cursor is null or c.id < list_conflicts.cursor)
                 order by c.id desc
                 limit v_limit) p), v_limit);
end;
$$;
comment on function sync.list_conflicts(text, text, integer, bigint, boolean) is
    'Conflicts newest first, keyset-paged: {items, next_cursor}; row images only when asked.';

-- Alerts newest first (by last occurrence id order); open_only leaves out acknowledged ones.
create function sync.list_alerts(
    open_only boolean default true, severity text default null, "limit" integer default 50, cursor bigint default null)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    v_limit integer := sync._check_limit(list_alerts."limit");
begin
    if list_alerts.severity is not null and list_alerts.severity not in ('info', 'warning', 'critical') then
        perform sync._raise(400, format('severity must be info, warning or critical, got %s', list_alerts.severity));
    end if;
    return sync._page((
        select jsonb_agg(p.item order by p.id desc)
          from (select a.id,
                       jsonb_build_object('id', a.id, 'kind', a.kind, 'severity', a.severity, 'message', a.message,
                           'details', a.details, 'occurrences', a.occurrences, 'created_at', a.created_at,
                           'last_seen_at', a.last_seen_at, 'acknowledged_at', a.acknowledged_at,
                           'acknowledged_by', a.acknowledged_by, 'resolved_at', a.resolved_at) as item
                  from sync.alerts a
                 where (not list_alerts.open_only or a.acknowledged_at is null and a.resolved_at is null)
                   and (list_alerts.severity is null or a.severity = list_alerts.severity)
                   and (list_alerts.cursor is null or a.id < list_alerts.cursor)
                 order by a.id desc
                 limit v_limit) p), v_limit);
end;
$$;
comment on function sync.list_alerts(boolean, text, integer, bigint) is
    'Alerts newest first, keyset-paged: {items, next_cursor}; open ones only unless open_only is false.';

-- Acknowledges an alert: the next occurrence of its condition opens a new one. SY404 unknown,
-- SY409 already acknowledged. Audited. Returns the alert.
create function sync.ack_alert(id bigint, caller text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    a sync.alerts;
    v_who text := sync._caller(ack_alert.caller);
begin
    select * into a from sync.alerts x where x.id = ack_alert.id for update;
    if not found then
        perform sync._raise(404, format('alert %s does not exist', ack_alert.id), format('id %s', ack_alert.id));
    end if;
    if a.acknowledged_at is not null then
        perform sync._raise(409, format('alert %s was acknowledged by %s at %s', a.id, a.acknowledged_by, a.acknowledged_at),
                            format('id %s', a.id));
    end if;
    update sync.alerts x set acknowledged_at = pg_catalog.now(), acknowledged_by = v_who where x.id = a.id returning * into a;
    insert into sync.audit (kind, subject, caller, details)
    values ('alert.ack', 'alert:' || a.id, v_who, jsonb_build_object('kind', a.kind, 'severity', a.severity));
    return sync.list_alerts(false, null, 1, a.id + 1) -> 'items' -> 0;
end;
$$;
comment on function sync.ack_alert(bigint, text) is 'Acknowledges an alert. SY404 unknown, SY409 already acknowledged. Audited. Returns the alert.';

-- The audit trail newest first; filters: time window, kind (exact, or a prefix ending in '.': 'run.'), caller.
create function sync.list_audit(
    "from" timestamptz default null, "to" timestamptz default null, kind text default null, caller text default null,
    "limit" integer default 50, cursor bigint default null)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    v_limit integer := sync._check_limit(list_audit."limit");
begin
    return sync._page((
        select jsonb_agg(p.item order by p.id desc)
          from (select a.id, jsonb_build_object('id', a.id, 'kind', a.kind, 'subject', a.subject, 'caller', a.caller,
                                                'details', a.details, 'at', a.at) as item
                  from sync.audit a
                 where (list_audit."from" is null or a.at >= list_audit."from")
                   and (list_audit."to" is null or a.at < list_audit."to")
                   and (list_audit.kind is null or a.kind = list_audit.kind
                        or list_audit.kind like '%.' and starts_with(a.kind, list_audit.kind))
                   and (list_audit.caller is null or a.caller = list_audit.caller)
                   and (list_audit.cursor is null or a.id < list_audit.cursor)
                 order by a.id desc
                 limit v_limit) p), v_limit);
end;
$$;
comment on function sync.list_audit(timestamptz, timestamptz, text, text, integer, bigint) is
    'The audit trail newest first, keyset-paged: {items, next_cursor}; filters from, to, kind (or a prefix like ''run.''), caller.';

revoke execute on function sync.list_conflicts(text, text, integer, bigint, boolean), sync.list_alerts(boolean, text, integer, bigint),
    sync.ack_alert(bigint, text), sync.list_audit(timestamptz, timestamptz, text, text, integer, bigint) from public;
