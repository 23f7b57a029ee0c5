/**
 * The generator's data shapes (demo_gen.generate's p_shape, buildLegacy's shape): each named shape
 * changes exactly what it says (sizes, counts, NULLs, id spacing) and nothing else, against a default
 * build of the same scale and seed; the default is byte for byte the data the suite was built on.
 */
import { deepStrictEqual, ok, rejects, throws } from "node:assert/strict";
import postgres from "postgres";
import { buildLegacy, parseShape, type Shape, SHAPES } from "../../scripts/lib/legacy.ts";
import { psql, withDatabase } from "../../scripts/lib/psql.ts";
import { paths, TEST } from "../../scripts/lib/stack.ts";

const SCALE = 0.01;
const SEED = 42;

/** Every table's `rows:md5` at scale 0.01 seed 42, recorded before the generator had shapes. */
const DEFAULT_MD5: Record<string, string> = {
  auth_group: "3:72e034e52e2e3686e4560b47436ee3ad",
  auth_user: "200:b9f8643b0f038c5d73f22b6497c4c333",
  dispatch_auditlog: "500:69e039aa3196e82851d0d1535e1795fd",
  dispatch_comment: "5946:061daa2490b5e572b62eb1ecad658061",
  dispatch_file: "1000:df9b6e31856d59eb2c2f16aa41ef4305",
  dispatch_file_instruction: "1488:0d7c8cb72d09de56d9d0b7bdd3a5e54d",
  dispatch_instruction: "1486:2e57ce3dc82cb788eae0e6ab68aecd92",
  dispatch_notification: "3000:e252eb236be33d640e4df76a7e0269be",
  dispatch_office: "2:c5b679f0d92172406c165e87bc03c196",
  dispatch_order: "1486:2a464a41038841da8ce5edb3d899ac7b",
  dispatch_patient: "996:1870b8fb2fd789dd37de93dbfdae3a5c",
  dispatch_plan: "2974:0a22f8466df9f8d44e992a614103930f",
  dispatch_record: "4000:2fa742d84b1892444755de3629c8e9aa",
  dispatch_transaction: "1977:cf2aa4f10c68d2ad6095b6cb38a71f78",
  django_admin_log: "20:b8106ae98180cfb2a03377958d911019",
  django_content_type: "20:635b6f91601f059a8f4277e54506d3b8",
  django_migrations: "6:8613293eabf65bdaa3095968bc2dc1ff",
  django_session: "20:4be4d389663f814272f191c3d944e281",
};

/** The long-text columns that the wide shape grows (template_context as a JSON object). */
const LONG_TEXTS: [table: string, column: string, json: boolean][] = [
  ["dispatch_comment", "text", false],
  ["dispatch_record", "text", false],
  ["dispatch_notification", "content", false],
  ["dispatch_notification", "template_context", true],
  ["dispatch_patient", "medical_notes", false],
  ["dispatch_instruction", "notes", false],
];

/** The nullable columns that null_share drives, with the rows whose deliberate bad value stays. */
const NULLABLE: [table: string, column: string, keep: string][] = [
  ["dispatch_patient", "user_id", "false"],
  ["dispatch_patient", "doctor_id", "false"],
  ["dispatch_patient", "medical_notes", "id % 20 = 1"],
  ["dispatch_instruction", "doctor_id", "false"],
  ["dispatch_instruction", "office_id", "false"],
  ["dispatch_comment", "author_id", "false"],
  ["dispatch_record", "author_id", "false"],
  ["dispatch_notification", "recipient_id", "false"],
  ["dispatch_file", "uploaded_by_id", "false"],
  ["dispatch_order", "instruction_id", "false"],
  ["dispatch_order", "office_id", "false"],
  ["dispatch_transaction", "order_id", "false"],
  ["dispatch_transaction", "price", "id % 97 between 1 and 9"],
  ["dispatch_transaction", "sq_order_id", "false"],
  ["dispatch_transaction", "sq_payment_id", "false"],
  ["dispatch_transaction", "sq_refund_id", "false"],
  ["dispatch_transaction", "card_brand", "false"],
  ["dispatch_transaction", "card_bin", "false"],
  ["dispatch_transaction", "card_last", "false"],
  ["dispatch_transaction", "payment_id", "false"],
  ["dispatch_auditlog", "user_id", "false"],
];

/** Tables below the roots (offices, users, patients): children multiplies their rows. */
const CHILD_TABLES = [
  "dispatch_auditlog",
  "dispatch_comment",
  "dispatch_file",
  "dispatch_file_instruction",
  "dispatch_instruction",
  "dispatch_notification",
  "dispatch_order",
  "dispatch_plan",
  "dispatch_record",
  "dispatch_transaction",
];

/** Words the mappings look for in a text (classification, placeholders): the bulk must hold none. */
const LOOKED_FOR = String.raw`(approve|looks good|question|treatment|plan|\?|\{\{)`;

let counter = 0;

/** Builds a legacy database with a shape on the test stack, runs fn on it (TimeZone UTC), drops it. */
async function withLegacy<T>(shape: Shape, fn: (sql: postgres.Sql) => Promise<T>, seed = SEED): Promise<T> {
  const owner = paths(TEST).dbUrl;
  const db = `d_genshape_${Deno.pid}_${counter++}`;
  await psql(owner, { command: `drop database if exists ${db} with (force)` });
  await psql(owner, { command: `create database ${db}` });
  const url = withDatabase(owner, db);
  const sql = postgres(url, { max: 1, onnotice: () => {}, connection: { TimeZone: "UTC" } });
  try {
    await buildLegacy(url, SCALE, seed, shape);
    return await fn(sql);
  } finally {
    await sql.end();
    await psql(owner, { command: `drop database if exists ${db} with (force)` });
  }
}

/** Builds the default and a shaped database of the same scale and seed, side by side. */
function withPair<T>(shape: Shape, fn: (base: postgres.Sql, shaped: postgres.Sql) => Promise<T>): Promise<T> {
  return withLegacy({}, (base) => withLegacy(shape, (shaped) => fn(base, shaped)));
}

/** Runs one query per table of schema public and collects its single value by table name. */
async function perTable(sql: postgres.Sql, query: (table: string) => string): Promise<Record<string, string>> {
  const tables = await sql<{ t: string }[]>`
    select relname::text as t from pg_class where relnamespace = 'public'::regnamespace and relkind = 'r' order by 1`;
  const out: Record<string, string> = {};
  for (const { t } of tables) {
    const [row] = await sql.unsafe(query(t));
    out[t] = String(row.v);
  }
  return out;
}

/** Every table's `rows:md5` over its rows' text, as recorded in DEFAULT_MD5. */
function tableMd5s(sql: postgres.Sql): Promise<Record<string, string>> {
  return perTable(
    sql,
    (t) =>
      `select count(*) || ':' || coalesce(md5(string_agg(x::text, '|' order by x::text collate "C")), '-') as v
         from public.${t} x`,
  );
}

/** Every table's md5 over its rows as JSON without the given columns, in id order (session key order). */
function digestsWithout(sql: postgres.Sql, drop: (table: string) => string[]): Promise<Record<string, string>> {
  return perTable(sql, (t) => {
    const cols = drop(t).map((c) => ` - '${c}'`).join("");
    const order = t === "django_session" ? "session_key" : "id";
    return `select count(*) || ':' || md5(coalesce(string_agg((to_jsonb(x)${cols})::text, '|' order by x.${order}), ''))
              as v from public.${t} x`;
  });
}

/** Rows violating a foreign key of schema public, per constraint (all zero when consistent). */
async function orphans(sql: postgres.Sql): Promise<Record<string, number>> {
  const fks = await sql<{ t: string; col: string; p: string }[]>`
    select c.conrelid::regclass::text as t, a.attname::text as col, c.confrelid::regclass::text as p
      from pg_constraint c join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
     where c.contype = 'f' and c.connamespace = 'public'::regnamespace order by 1, 2`;
  const out: Record<string, number> = {};
  for (const { t, col, p } of fks) {
    const [{ n }] = await sql.unsafe(
      `select count(*)::int as n from ${t} x where x.${col} is not null
          and not exists (select 1 from ${p} y where y.id = x.${col})`,
    );
    out[`${t}.${col}`] = n;
  }
  return out;
}

/** The same keys, every value zero. */
function zeros(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.keys(o).map((k) => [k, 0]));
}

Deno.test("generate_shape: parseShape reads a preset name or a JSON object and refuses anything else", () => {
  deepStrictEqual(parseShape("default"), {});
  deepStrictEqual(parseShape("wide"), { wide_share: 0.083, wide_kb: 120 });
  deepStrictEqual(parseShape("mixed"), {
    wide_share: 0.083,
    wide_kb: 120,
    children: 2,
    null_share: 0.3,
    sparse_ids: 10,
  });
  deepStrictEqual(parseShape('{"children": 2, "null_share": 0}'), { children: 2, null_share: 0 });
  deepStrictEqual(Object.keys(SHAPES), ["default", "wide", "sparse", "nulls", "children", "mixed"]);
  throws(() => parseShape("narrow"), /unknown shape 'narrow': expected one of default, wide/);
  throws(() => parseShape("[1]"), /not a JSON object/);
  throws(() => parseShape('{"wide": 1}'), /unknown shape option 'wide'/);
  throws(() => parseShape('{"wide_share": 1.5}'), /wide_share must be a number in \[0, 1\], got 1.5/);
  throws(() => parseShape('{"children": 2.5}'), /children must be an integer in \[1, 100\]/);
  throws(() => parseShape('{"sparse_ids": "3"}'), /sparse_ids must be an integer in \[1, 1000\], got "3"/);
});

Deno.test("generate_shape: the default is byte for byte the data generated before shapes", async () => {
  await withLegacy({}, async (sql) => {
    deepStrictEqual(await tableMd5s(sql), DEFAULT_MD5);
    deepStrictEqual(await orphans(sql), zeros(await orphans(sql)));
  });
});

Deno.test("generate_shape: generate refuses unknown options and values out of range", async () => {
  await withLegacy({}, async (sql) => {
    for (
      const [shape, message] of [
        ['{"wide": 1}', /unknown shape option\(s\): wide/],
        ['{"null_share": -0.1}', /null_share must be a number in \[0, 1\], got -0.1/],
        ['{"children": 1.5}', /children must be an integer in \[1, 100\], got 1.5/],
        ['{"sparse_ids": "x"}', /sparse_ids must be an integer in \[1, 1000\], got "x"/],
        ['{"wide_kb": 0}', /wide_kb must be a number in \[1, 1024\], got 0/],
        ["[]", /the shape must be a JSON object, got \[\]/],
      ] as const
    ) {
      await rejects(sql`select count(*) from demo_gen.generate(0.01, 42, ${shape}::text::jsonb)`, (e: Error) => {
        ok(message.test(e.message), `${shape}: ${e.message}`);
        deepStrictEqual((e as Error & { code?: string }).code, "22023");
        return true;
      });
    }
  });
});

Deno.test("generate_shape: wide grows exactly the rows of the share, keeping each text as its beginning", async () => {
  const { wide_share: share, wide_kb: kb } = SHAPES.wide as Required<Shape>;
  await withPair(SHAPES.wide, async (base, wide) => {
    for (const [table, column, json] of LONG_TEXTS) {
      const rows = await base.unsafe(`select id, ${column} as t from public.${table} order by id`);
      const reference = JSON.stringify(rows.map((r) => ({ id: r.id, t: r.t })));
      const grows = json ? `b.t like '{%}'` : `btrim(b.t, E' \\t\\r\\n') <> ''`;
      const prefix = json ? `left(b.t, -1) || ', "notes": "'` : `b.t || E'\\n'`;
      const bulk = json ? `w.${column}::jsonb ->> 'notes'` : `substr(w.${column}, char_length(b.t) + 2)`;
      const [facts] = await wide.unsafe(
        `with b as (select * from jsonb_to_recordset($1::text::jsonb) b (id int, t text)),
              r as (select b.t, w.${column} as now,
                           coalesce(round(b.id * ${share}) > round((b.id - 1) * ${share}) and ${grows}, false)
                             as expected,
                           w.${column} is distinct from b.t as grown,
                           starts_with(w.${column}, ${prefix}) as kept_beginning,
                           case when w.${column} is distinct from b.t then ${bulk} end as bulk
                      from b join public.${table} w on w.id = b.id)
         select count(*)::int as rows,
                count(*) filter (where expected)::int as expected,
                count(*) filter (where grown)::int as grown,
                count(*) filter (where grown <> expected)::int as wrong_rows,
                count(*) filter (where grown and not kept_beginning)::int as lost_beginning,
                count(*) filter (where grown and octet_length(bulk) < ${kb * 1000})::int as short,
                count(*) filter (where bulk ~* '${LOOKED_FOR}')::int as looked_for_words,
                count(*) filter (where grown and bulk !~ E'\\n.*\\n')::int as single_line,
                count(*) filter (where octet_length(now) >= ${kb * 1000})::int as wide_rows,
                (count(*) filter (where expected) + count(*) filter (where not expected and octet_length(t) >= ${
          kb * 1000
        }))::int as wide_rows_rule
           from r`,
        [reference],
      );
      const label = `${table}.${column}`;
      ok(facts.expected > 0, `${label}: some rows in the share`);
      deepStrictEqual({ label, ...facts }, {
        label,
        rows: rows.length,
        expected: facts.expected,
        grown: facts.expected,
        wrong_rows: 0,
        lost_beginning: 0,
        short: 0,
        looked_for_words: 0,
        single_line: 0,
        wide_rows: facts.wide_rows_rule,
        wide_rows_rule: facts.wide_rows_rule,
      });
    }
    // Compressible like real notes, not like one repeated character.
    const [{ ratio }] = await wide`
      select sum(octet_length(text))::float8 / sum(pg_column_size(text)) as ratio
        from public.dispatch_comment where octet_length(text) >= 120000 and id % 5000 <> 17`;
    ok(ratio > 1.5 && ratio < 5, `compression ratio ${ratio}`);
    // Nothing else changes.
    const longCols = (t: string) => LONG_TEXTS.filter(([lt]) => lt === t).map(([, c]) => c);
    deepStrictEqual(await digestsWithout(wide, longCols), await digestsWithout(base, longCols));
  });
});

Deno.test("generate_shape: sparse spreads every id, every reference follows, and the stream goes on", async () => {
  const k = SHAPES.sparse.sparse_ids!;
  await withPair(SHAPES.sparse, async (base, sparse) => {
    // Reference columns (constrained or not) and the table they point at.
    const refs = await base<{ t: string; col: string; p: string }[]>`
      select c.conrelid::regclass::text as t, a.attname::text as col, c.confrelid::regclass::text as p
        from pg_constraint c join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
       where c.contype = 'f' and c.connamespace = 'public'::regnamespace and c.confrelid <> 'public.django_content_type'::regclass
       order by 1, 2`;
    const ordinal = (e: string) => `((${e} - 1) / ${k} + 1)`;
    // Every row's ordinal, and every reference's ordinal, as in the default (content types by natural key).
    const view = (ord: (e: string) => string) => async (sql: postgres.Sql) => {
      const out: Record<string, string> = await perTable(
        sql,
        (t) =>
          t === "django_session"
            ? `select count(*)::text as v from public.${t}`
            : t === "django_content_type"
            ? `select string_agg(app_label || '.' || model, ',' order by id) as v from public.${t}`
            : `select md5(string_agg(${ord("id")}::text, ',' order by id)) as v from public.${t}`,
      );
      for (const { t, col } of refs) {
        const [{ v }] = await sql.unsafe(`select md5(string_agg(coalesce(${ord(col)}::text, '-'), ',' order by id)) as v
                                            from ${t}`);
        out[`${t}.${col}`] = v;
      }
      const [{ v }] = await sql.unsafe(
        `select md5(string_agg(ct.model || ':' || ${ord("r.target_id")}, ',' order by r.id)) as v
           from public.dispatch_record r join public.django_content_type ct on ct.id = r.target_type_id`,
      );
      out["dispatch_record.target"] = v;
      const [{ w }] = await sql.unsafe(
        `select md5(string_agg(coalesce(${ord("recipient_id")}::text, '-'), ',' order by id)) as w
           from public.dispatch_notification`,
      );
      out["dispatch_notification.recipient_id"] = w;
      return out;
    };
    deepStrictEqual(await view(ordinal)(sparse), await view((e) => `(${e})`)(base));
    // Ids are really spread: one id per block of k, most off the block's start, none past the blocks.
    // (Content type ids start at the default's first one, a seed-dependent number.)
    const [{ ct0 }] = await base`select min(id) as ct0 from public.django_content_type`;
    const spread = await perTable(sparse, (t) => {
      const start = t === "django_content_type" ? ct0 : 1;
      return t === "django_session" ? `select 'ok' as v` : `select case
         when count(distinct (id - ${start}) / ${k}) = count(*)
          and (count(*) < 10 or count(*) filter (where (id - ${start}) % ${k} <> 0) > count(*) / 2) then 'ok'
         else 'blocks ' || count(distinct (id - ${start}) / ${k}) || ' of ' || count(*) end as v from public.${t}`;
    });
    deepStrictEqual(spread, Object.fromEntries(Object.keys(spread).map((t) => [t, "ok"])));
    // References resolve, sequences stand at the max id, and the live stream writes on top.
    deepStrictEqual(await orphans(sparse), zeros(await orphans(sparse)));
    const seqs = await perTable(
      sparse,
      (t) =>
        t === "django_session"
          ? `select 'ok' as v`
          : `select case when (select last_value from ${`public.${t}_id_seq`}) = max(id) then 'ok' else 'seq ' || max(id) end
             as v from public.${t}`,
    );
    deepStrictEqual(seqs, Object.fromEntries(Object.keys(seqs).map((t) => [t, "ok"])));
    const [{ before }] = await sparse`select max(id) as before from public.dispatch_comment`;
    await sparse.begin(async (tx) => {
      await tx`select setseed(0.42)`;
      await tx`select demo_gen.stream_step() from generate_series(1, 300)`;
    });
    const [{ added }] = await sparse`select count(*)::int as added from public.dispatch_comment where id > ${before}`;
    ok(added > 0, "the stream inserted comments past the spread ids");
    deepStrictEqual(await orphans(sparse), zeros(await orphans(sparse)));
  });
});

Deno.test("generate_shape: children multiplies the rows below the roots exactly, per parent", async () => {
  const c = SHAPES.children.children!;
  await withPair(SHAPES.children, async (base, more) => {
    const count = (t: string) => `select count(*)::text as v from public.${t}`;
    const expected = Object.fromEntries(
      Object.entries(await perTable(base, count)).map((
        [t, n],
      ) => [t, String(CHILD_TABLES.includes(t) ? c * Number(n) : n)]),
    );
    deepStrictEqual(await perTable(more, count), expected);
    // Every patient has c times the cases and orders; every case as many plans as before (c cases).
    const perPatient = async (sql: postgres.Sql, mult: number) =>
      (await sql`
        select p.id, (select count(*) * ${mult} from public.dispatch_instruction i where i.patient_id = p.id)::int as cases,
               (select count(*) * ${mult} from public.dispatch_order o where o.patient_id = p.id)::int as orders
          from public.dispatch_patient p order by p.id`).map((r) => ({ ...r }));
    deepStrictEqual(await perPatient(more, 1), await perPatient(base, c));
    const plansPerCase = async (sql: postgres.Sql, mult: number) =>
      (await sql`
        select n, (count(*) * ${mult})::int as cases
          from (select (select count(*) from public.dispatch_plan p where p.instruction_id = i.id)::int as n
                  from public.dispatch_instruction i) x group by n order by n`).map((r) => ({ ...r }));
    deepStrictEqual(await plansPerCase(more, 1), await plansPerCase(base, c));
    deepStrictEqual(await orphans(more), zeros(await orphans(more)));
  });
});

Deno.test("generate_shape: nulls makes exactly the share of rows NULL in the nullable columns", async () => {
  const share = SHAPES.nulls.null_share!;
  await withPair(SHAPES.nulls, async (base, nulls) => {
    const wrong: Record<string, string> = {};
    for (const [t, col, keep] of NULLABLE) {
      const [{ v }] = await nulls.unsafe(
        `select count(*) filter (where (${col} is null)
                                  <> (case when ${keep} then ${col} is null
                                           else round(id * ${share}) > round((id - 1) * ${share}) end))
                  || ' of ' || count(*) as v
           from public.${t}`,
      );
      wrong[`${t}.${col}`] = v;
    }
    const [{ n: records }] = await nulls`select count(*)::int as n from public.dispatch_record`;
    deepStrictEqual(
      wrong,
      Object.fromEntries(Object.entries(wrong).map(([k, v]) => [k, `0 of ${v.split(" of ")[1]}`])),
    );
    // Exact counts where no cascade deleted rows.
    const [exact] = await nulls`
      select (select count(*) from public.dispatch_record where author_id is null)::int as record_authors,
             (select count(*) from public.dispatch_notification where recipient_id is null)::int as recipients,
             (select count(*) from public.dispatch_file where uploaded_by_id is null)::int as uploaders,
             (select count(*) from public.dispatch_auditlog where user_id is null)::int as audit_users`;
    deepStrictEqual({ ...exact }, {
      record_authors: Math.round(records * share),
      recipients: 1500,
      uploaders: 500,
      audit_users: 250,
    });
    // The deliberate bad values stay, and nothing but the nullable columns changes.
    const [bad] = await nulls`
      select (select count(*) from public.dispatch_transaction where price in ('', '12,50', 'abc'))::int as prices,
             (select count(*) from public.dispatch_patient where medical_notes = '')::int as blank_notes`;
    const [badBase] = await base`
      select (select count(*) from public.dispatch_transaction where price in ('', '12,50', 'abc'))::int as prices,
             (select count(*) from public.dispatch_patient where medical_notes = '')::int as blank_notes`;
    deepStrictEqual({ ...bad }, { ...badBase });
    // Orders whose instruction is NULL belong to a patient of their own (as the default's NULL ones do),
    // so Django's cascade deletes other orders and transactions: those two tables are compared by rule only.
    const nullCols = (t: string) => NULLABLE.filter(([nt]) => nt === t).map(([, c]) => c);
    const cascaded = (o: Record<string, string>) =>
      Object.fromEntries(Object.entries(o).filter(([t]) => t !== "dispatch_order" && t !== "dispatch_transaction"));
    deepStrictEqual(cascaded(await digestsWithout(nulls, nullCols)), cascaded(await digestsWithout(base, nullCols)));
    deepStrictEqual(await orphans(nulls), zeros(await orphans(nulls)));
  });
});

Deno.test("generate_shape: mixed combines every option into consistent data", async () => {
  await withLegacy(SHAPES.mixed, async (sql) => {
    deepStrictEqual(await orphans(sql), zeros(await orphans(sql)));
    const [facts] = await sql`
      select (select count(*) from public.dispatch_record)::int as records,
             (select count(*) from public.dispatch_record where octet_length(text) >= 120000)::int > 0 as wide,
             (select count(*) from public.dispatch_file where uploaded_by_id is null)::int as null_uploaders,
             (select count(distinct (id - 1) / 10) = count(*) from public.dispatch_comment) as sparse`;
    deepStrictEqual({ ...facts }, { records: 8000, wide: true, null_uploaders: 600, sparse: true });
  });
});
