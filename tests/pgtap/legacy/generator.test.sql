-- The demo generator (sql/legacy/generate.sql) on the test template (scale 0.01, seed 7): row
-- counts match the scale, every awkward case of legacy-schema.md exists, output is deterministic
-- per seed, and content-type ids change with the seed.
begin;
select plan(21);

create function pg_temp.is_json_object(p text) returns boolean language plpgsql as $$
begin
    return jsonb_typeof(p::jsonb) = 'object';
exception when others then
    return false;
end;
$$;

select results_eq(
    $$ select t, n >= e * 0.97 and n <= e
         from (values ('auth_user', (select count(*) from auth_user), demo_gen.count_for(20000, 0.01)),
                      ('dispatch_office', (select count(*) from dispatch_office), demo_gen.count_for(200, 0.01)),
                      ('dispatch_patient', (select count(*) from dispatch_patient), demo_gen.count_for(100000, 0.01)),
                      ('dispatch_instruction', (select count(*) from dispatch_instruction), demo_gen.count_for(150000, 0.01)),
                      ('dispatch_plan', (select count(*) from dispatch_plan), demo_gen.count_for(300000, 0.01)),
                      ('dispatch_comment', (select count(*) from dispatch_comment), demo_gen.count_for(600000, 0.01)),
                      ('dispatch_record', (select count(*) from dispatch_record), demo_gen.count_for(400000, 0.01)),
                      ('dispatch_notification', (select count(*) from dispatch_notification), demo_gen.count_for(300000, 0.01)),
                      ('dispatch_file', (select count(*) from dispatch_file), demo_gen.count_for(100000, 0.01)),
                      ('dispatch_file_instruction', (select count(*) from dispatch_file_instruction), demo_gen.count_for(150000, 0.01)),
                      ('dispatch_order', (select count(*) from dispatch_order), demo_gen.count_for(150000, 0.01)),
                      ('dispatch_transaction', (select count(*) from dispatch_transaction), demo_gen.count_for(200000, 0.01)),
                      ('dispatch_auditlog', (select count(*) from dispatch_auditlog), demo_gen.count_for(50000, 0.01))
              ) v(t, n, e) $$,
    $$ values ('auth_user', true), ('dispatch_office', true), ('dispatch_patient', true), ('dispatch_instruction', true),
              ('dispatch_plan', true), ('dispatch_comment', true), ('dispatch_record', true),
              ('dispatch_notification', true), ('dispatch_file', true), ('dispatch_file_instruction', true),
              ('dispatch_order', true), ('dispatch_transaction', true), ('dispatch_auditlog', true) $$,
    'each table holds its scale''s share of the 2.5M rows (less the cascade-deleted few)'
);

select ok(exists (select 1 from auth_user where email = '') and exists (select 1 from dispatch_patient where email = '')
          and exists (select 1 from dispatch_instruction where notes = '') and exists (select 1 from dispatch_office where phone = '')
          and exists (select 1 from dispatch_auditlog where object_repr = ''),
          'blank optional text is stored as ''''');
select ok(exists (select 1 from dispatch_office where address = '' and city = '' and state = '' and zip_code = ''),
          'an office has every address part blank');
select ok(exists (select 1 from auth_user where first_name ~ '[^\x01-\x7f]') and exists (select 1 from dispatch_patient where last_name ~ '[\U0001F300-\U0001FAFF]'),
          'names carry unicode and emoji');
select ok(exists (select 1 from auth_user where first_name like ' %' and first_name like '% '),
          'a first name carries leading and trailing spaces');
select ok(exists (select 1 from dispatch_comment where octet_length(text) > 102400) and exists (select 1 from dispatch_record where octet_length(text) > 102400),
          'comments and records hold text over 100 kB');
select ok((select bool_and(x) from (values
              (exists (select 1 from dispatch_patient where user_id is null)), (exists (select 1 from dispatch_patient where doctor_id is null)),
              (exists (select 1 from dispatch_instruction where office_id is null)), (exists (select 1 from dispatch_instruction where doctor_id is null)),
              (exists (select 1 from dispatch_order where instruction_id is null)), (exists (select 1 from dispatch_order where office_id is null)),
              (exists (select 1 from dispatch_transaction where order_id is null)), (exists (select 1 from dispatch_file where uploaded_by_id is null)),
              (exists (select 1 from dispatch_comment where author_id is null)), (exists (select 1 from dispatch_record where author_id is null)),
              (exists (select 1 from dispatch_notification where recipient_id is null)),
              (exists (select 1 from dispatch_auditlog where user_id is null))) v(x)),
          'every nullable foreign key is NULL somewhere');
select ok(exists (select 1 from dispatch_record r join django_content_type ct on ct.id = r.target_type_id
                   where (ct.app_label, ct.model) not in (('dispatch', 'patient'), ('auth', 'user'))),
          'some records target a content type that is neither patient nor user');
select ok(exists (select 1 from dispatch_notification where template_context = ''), 'some notification contexts are empty');
select ok(exists (select 1 from dispatch_notification where template_context <> '' and not pg_temp.is_json_object(template_context)),
          'some notification contexts are invalid JSON or not an object');
select ok(exists (select 1 from dispatch_notification where content like '%{{ missing.key }}%'), 'some placeholders have no value');
select ok(exists (select 1 from dispatch_notification where send and sent) and exists (select 1 from dispatch_notification where not (send and sent)),
          'some notifications qualify for sync and some do not');
select ok((select bool_and(x) from (values
              (exists (select 1 from dispatch_patient where status_id not between 1 and 6)),
              (exists (select 1 from dispatch_instruction where status not between 0 and 5)),
              (exists (select 1 from dispatch_plan where status not between 1 and 4)),
              (exists (select 1 from dispatch_order where status not between 1 and 5)),
              (exists (select 1 from dispatch_transaction where type not between 1 and 4)),
              (exists (select 1 from dispatch_record where type not in (3, 5, 6, 8)))) v(x)),
          'every coded column has an unknown code somewhere');
select set_eq($$ select price from dispatch_transaction
                  where price is null or btrim(price, ' ') !~ '^-?[0-9]+(\.[0-9]{1,2})?$' or abs(btrim(price, ' ')::numeric) >= 1e10 $$,
              $$ values (null::varchar), (''), ('12,50'), ('abc'), ('99999999999'), ('1.999'), ('.5') $$,
              'prices that do not parse: NULL, blank, comma, junk, too large, three decimals, no integer part');
select ok(exists (select 1 from dispatch_transaction where price = ' 15.00 ') and exists (select 1 from dispatch_transaction where price = '-40.5'),
          'prices with spaces around them and negative prices exist');
select ok(exists (select 1 from dispatch_record r join django_content_type ct on ct.id = r.target_type_id
                   where (ct.app_label, ct.model) = ('dispatch', 'patient') and not exists (select 1 from dispatch_patient p where p.id = r.target_id)),
          'some records point at patients that were deleted');
select ok(exists (select 1 from generate_series(1, (select max(id) from dispatch_patient)) g where g % 293 = 5
                   and not exists (select 1 from dispatch_patient where id = g)),
          'patients were deleted by a Django-style cascade');
select is_empty($$ select 1 from dispatch_instruction i where not exists (select 1 from dispatch_patient p where p.id = i.patient_id)
                   union all select 1 from dispatch_order o where not exists (select 1 from dispatch_patient p where p.id = o.patient_id) $$,
                'the cascade left no dangling foreign key');

create temp table before_regen as
select md5(string_agg(p::text, ',' order by p.id)) as h from dispatch_patient p;
select lives_ok($$ select demo_gen.generate(0.01, 7) $$, 'the generator runs again on a filled database');
select is((select md5(string_agg(p::text, ',' order by p.id)) from dispatch_patient p), (select h from before_regen),
          'the same seed gives the same rows');
create temp table ct_seed7 as select id from django_content_type where (app_label, model) = ('dispatch', 'patient');
create temp table regen8 as select * from demo_gen.generate(0.01, 8);
select isnt((select id from django_content_type where (app_label, model) = ('dispatch', 'patient')), (select id from ct_seed7),
            'another seed gives other content-type ids');

select * from finish();
rollback;
