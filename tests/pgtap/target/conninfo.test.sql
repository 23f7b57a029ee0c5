-- sync._parse_conninfo: both libpq forms, percent-encoded URIs, quoted key=value values.
begin;
select plan(4);

select is(sync._parse_conninfo('postgresql://us%40er:p%40ss%3Aw0rd%F0%9F%98%80@db.example.com:6543/my%20db?sslmode=require'),
          '{"user": "us@er", "password": "p@ss:w0rd😀", "host": "db.example.com", "port": "6543", "dbname": "my db", "sslmode": "require"}'::jsonb,
          'a URI with percent-encoded user, password and database, and a query option');
select is(sync._parse_conninfo('postgres://127.0.0.1/legacy'), '{"host": "127.0.0.1", "dbname": "legacy"}'::jsonb,
          'a URI without user, password or port');
select is(sync._parse_conninfo($$host=127.0.0.1 port=5432 dbname=legacy user=app password='a b\'c'$$),
          '{"host": "127.0.0.1", "port": "5432", "dbname": "legacy", "user": "app", "password": "a b''c"}'::jsonb,
          'key=value pairs with a quoted, escaped value');
select throws_ok($$ select sync._parse_conninfo('nonsense') $$, 'SY400',
                 'the source connection string has no key=value pairs and is not a postgres:// URI', 'junk is refused');

select * from finish();
rollback;
