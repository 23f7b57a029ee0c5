-- The sync schema is not reachable by anon or authenticated (quality.md, Security): neither they
-- nor PUBLIC hold any privilege on schema sync, its tables (or columns), sequences, functions and
-- procedures. Functions of the API (sync, no leading _) are security definer with an empty
-- search_path; the exceptions are listed: procedures (COMMIT forbids both), the transforms that
-- the registry names (run by the applier only) and the mapping pack's pure helpers.
begin;
select plan(7);

create temp table grantee (role text);
insert into grantee values ('anon'), ('authenticated'), ('public');

select is_empty(
    $$ select g.role, p.priv from grantee g, unnest(array['USAGE', 'CREATE']) p (priv)
        where has_schema_privilege(g.role, 'sync', p.priv) $$,
    'anon, authenticated and PUBLIC have no privilege on schema sync'
);
select is_empty(
    $$ select g.role, c.oid::regclass, p.priv
         from pg_class c, grantee g,
              unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p (priv)
        where c.relnamespace = 'sync'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f')
          and has_table_privilege(g.role, c.oid, p.priv) $$,
    'nor on its tables'
);
select is_empty(
    $$ select g.role, c.oid::regclass, p.priv
         from pg_class c, grantee g, unnest(array['SELECT', 'INSERT', 'UPDATE', 'REFERENCES']) p (priv)
        where c.relnamespace = 'sync'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f')
          and has_any_column_privilege(g.role, c.oid, p.priv) $$,
    'nor on any of their columns'
);
select is_empty(
    $$ select g.role, c.oid::regclass, p.priv
         from pg_class c, grantee g, unnest(array['USAGE', 'SELECT', 'UPDATE']) p (priv)
        where c.relnamespace = 'sync'::regnamespace and c.relkind = 'S'
          and has_sequence_privilege(g.role, c.oid, p.priv) $$,
    'nor on its sequences'
);
select is_empty(
    $$ select g.role, p.oid::regprocedure
         from pg_proc p, grantee g
        where p.pronamespace = 'sync'::regnamespace and has_function_privilege(g.role, p.oid, 'EXECUTE') $$,
    'nor on its functions and procedures'
);

select set_eq(
    $$ select p.proname::text from pg_proc p
        where p.pronamespace = 'sync'::regnamespace and p.proname !~ '^_' and p.prokind = 'p' $$,
    $$ values ('backfill'), ('backfill_worker'), ('tick'), ('verify_worker') $$,
    'the procedures of the API: they COMMIT, so they can be neither security definer nor SET search_path'
);
select set_eq(
    $$ select p.proname::text from pg_proc p
        where p.pronamespace = 'sync'::regnamespace and p.proname !~ '^_' and p.prokind = 'f'
          and not (p.prosecdef and 'search_path=""' = any (coalesce(p.proconfig, '{}')))
          and p.oid not in (select e.transform::oid from sync.entities e) $$,
    $$ values ('ascii_lower'), ('code_label'), ('parse_amount'), ('placeholder_value'), ('render_placeholders'), ('try_jsonb') $$,
    'every other API function is security definer with search_path '''', but the transforms and these pack helpers'
);

select * from finish();
rollback;
