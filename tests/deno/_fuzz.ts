/**
 * The property-based differential test's generator and runner, shared by `fuzz_test.ts` and `deno task fuzz`.
 *
 * A case is a {@link Setup} and a sequence of {@link Op}s: Django-like legacy writes over every synced table,
 * each in one of {@link SESSIONS} concurrent sessions of the application's role whose transactions stay open until
 * a `commit` (or `rollback`) op, so commits interleave and session 0's transaction, opened by the first op, is held
 * open across ticks; and, between them, `sync.tick`, `sync.backfill` and `sync.rebuild_mappings` calls. Ids come
 * from small ranges so that ops collide: an insert of an existing id is Django's `save()` (an update), of a deleted
 * id an undelete. After the sequence every session commits, the source settles, ticks drain, and the target must
 * equal the oracle's expectation exactly (`oracle.diff()` empty: quarantine included), with no inbox row pending
 * or in conflict and rows parked only on a polymorphic recipient the source lacks.
 *
 * The driver is sequential (one statement in flight at a time), so a case is deterministic: a write that would
 * wait for another session's lock fails at once (`lock_timeout`) and is rolled back to its savepoint, as a
 * Django request would fail; a commit refused by a deferred foreign key rolls its transaction back. Every value
 * goes through a postgres.js parameter.
 */
import { deepStrictEqual } from "node:assert/strict";
import fc from "fast-check";
import type postgres from "postgres";
import { freshPair, type Pair, settleSource, tick } from "./_helpers.ts";

/** Concurrent legacy sessions; session 0 holds its transaction open from the first op. */
export const SESSIONS = 3;

/** The id range (1..n) of each legacy table: small, so that ops collide. */
export const IDS = {
  user: 4,
  office: 2,
  patient: 4,
  instruction: 4,
  plan: 4,
  comment: 5,
  record: 5,
  notification: 5,
  file: 3,
  link: 4,
  order: 3,
  transaction: 4,
  audit: 3,
} as const;

/** A legacy table, by a short name. */
export type Table = keyof typeof IDS;

/** The content types the setup creates (natural keys), in an order the setup shuffles: ids differ per case. */
export const CONTENT_TYPES = ["dispatch.patient", "auth.user", "dispatch.office", "auth.group"] as const;

/** A nullable reference: an id of the named range (one past it never exists), or null. */
type Ref = number | null;

/** One legacy row as Django's `save()` writes it (insert, or update of every column); parents by id. */
export type Row =
  | {
    t: "user";
    id: number;
    first: string;
    last: string;
    email: string;
    staff: boolean;
    superuser: boolean;
    active: boolean;
    login: boolean;
  }
  | {
    t: "office";
    id: number;
    name: string;
    phone: string;
    address: string;
    city: string;
    state: string;
    zip: string;
    active: boolean;
  }
  | {
    t: "patient";
    id: number;
    office: number;
    user: Ref;
    doctor: Ref;
    number: string;
    first: string;
    last: string;
    birthdate: string | null;
    email: string;
    status: number;
    notes: string | null;
  }
  | {
    t: "instruction";
    id: number;
    patient: number;
    doctor: Ref;
    office: Ref;
    status: number;
    product: string;
    notes: string;
    submitted: boolean;
  }
  | { t: "plan"; id: number; instruction: number; version: number; status: number; approved: boolean }
  | { t: "comment"; id: number; plan: number; author: Ref; text: string }
  | {
    t: "record";
    id: number;
    ct: number;
    target: number;
    author: Ref;
    type: number;
    text: string;
    group: Ref;
    public: boolean;
  }
  | {
    t: "notification";
    id: number;
    recipient: Ref;
    sender: string;
    template: string;
    context: string;
    subject: string;
    content: string;
    send: boolean;
    sent: boolean;
    scheduled: boolean;
  }
  | { t: "file"; id: number; name: string; path: string; size: number; mime: string; uploader: Ref }
  | { t: "link"; id: number; file: number; instruction: number }
  | { t: "order"; id: number; instruction: Ref; patient: number; office: Ref; total: string; status: number }
  | {
    t: "transaction";
    id: number;
    order: Ref;
    type: number;
    price: string | null;
    brand: string | null;
    last4: string | null;
    officeCard: boolean;
  }
  | { t: "audit"; id: number; user: Ref; action: string; repr: string };

/** One step of a case. `s` is the legacy session a write runs in (its transaction begins with its first write). */
export type Op =
  | { kind: "save"; s: number; row: Row }
  | { kind: "delete"; s: number; table: Table; id: number }
  /** A plan's comment, the plan, its instruction, patient and office inserted in that order (children first). */
  | { kind: "chain"; s: number; comment: number; plan: number; instruction: number; patient: number; office: number }
  /** `QuerySet.update()` of a record's content type and target id only (a content-type swap). */
  | { kind: "retarget"; s: number; id: number; ct: number; target: number }
  /** A Django migration renaming a model: the content type keeps its id and app label, its model changes. */
  | { kind: "rename_model"; s: number; ct: number; model: string }
  | { kind: "commit"; s: number }
  | { kind: "rollback"; s: number }
  | { kind: "tick" }
  | { kind: "backfill" }
  | { kind: "rebuild" };

/** How a case starts. */
export interface Setup {
  /** A permutation of 0..3: the order {@link CONTENT_TYPES} are inserted in, hence their ids. */
  ctOrder: number[];
  /** `batch_size` of the sync config. */
  batchSize: number;
  /** The baseline rows exist before connect_source and arrive by backfill (else they are captured). */
  backfillFirst: boolean;
}

// ---------------------------------------------------------------------------------------------------------------
// Arbitraries

const id = (t: Table) => fc.integer({ min: 1, max: IDS[t] });
/** An id one past the range never exists: a dangling polymorphic reference. */
const anyId = (t: Table) => fc.integer({ min: 1, max: IDS[t] + 1 });
const ref = (t: Table) => fc.option(id(t), { freq: 4 });
const NAMES = ["Ana", "", " ", "Zoë 👍", "  padded  ", "O'Brien", "Núñez", "line1\nline2"];
/** Short texts (names: varchar(150) at most). */
const text = fc.constantFrom(...NAMES);
/** Free texts (text columns): the names and a long one. */
const body = fc.constantFrom(...NAMES, "x".repeat(5000) + " é");
const code = (valid: number[], bad: number[]) =>
  fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...valid) }, { weight: 1, arbitrary: fc.constantFrom(...bad) });

const rowArb: fc.Arbitrary<Row> = fc.oneof(
  fc.record({
    t: fc.constant("user" as const),
    id: id("user"),
    first: text,
    last: text,
    email: fc.constantFrom("", "a@x.io", "A.B@X.IO"),
    staff: fc.boolean(),
    superuser: fc.boolean(),
    active: fc.boolean(),
    login: fc.boolean(),
  }),
  fc.record({
    t: fc.constant("office" as const),
    id: id("office"),
    name: text,
    phone: fc.constantFrom("", "+1 555 0100"),
    address: fc.constantFrom("", "12 Main St", " "),
    city: fc.constantFrom("", "Humble"),
    state: fc.constantFrom("", "TX"),
    zip: fc.constantFrom("", "77338"),
    active: fc.boolean(),
  }),
  fc.record({
    t: fc.constant("patient" as const),
    id: id("patient"),
    office: id("office"),
    user: ref("user"),
    doctor: ref("user"),
    number: fc.constantFrom("P-1", "P-2", ""),
    first: text,
    last: text,
    birthdate: fc.option(fc.constantFrom("1990-05-05", "2001-02-28")),
    email: fc.constantFrom("", "p@x.io"),
    status: code([1, 2, 3, 4, 5, 6], [0, 7, 99]),
    notes: fc.option(body),
  }),
  fc.record({
    t: fc.constant("instruction" as const),
    id: id("instruction"),
    patient: id("patient"),
    doctor: ref("user"),
    office: ref("office"),
    status: code([0, 1, 2, 3, 4, 5], [-1, 6, 42]),
    product: fc.constantFrom("Clear Aligner Full", "Retainer", ""),
    notes: body,
    submitted: fc.boolean(),
  }),
  fc.record({
    t: fc.constant("plan" as const),
    id: id("plan"),
    instruction: id("instruction"),
    version: fc.integer({ min: 1, max: 3 }),
    status: code([1, 2, 3, 4], [0, 9]),
    approved: fc.boolean(),
  }),
  fc.record({
    t: fc.constant("comment" as const),
    id: id("comment"),
    plan: id("plan"),
    author: ref("user"),
    text: fc.constantFrom(
      "Looks good!",
      "Question: when do we start?",
      "Plan revised",
      "",
      "\n  \n",
      "\r\n\t Subject line \t\r\nbody APPROVE",
      "TREATMENT ok",
      "y".repeat(100),
      "Noted 👍",
    ),
  }),
  fc.record({
    t: fc.constant("record" as const),
    id: id("record"),
    ct: fc.integer({ min: 0, max: CONTENT_TYPES.length - 1 }),
    target: anyId("patient"),
    author: ref("user"),
    type: code([3, 5, 6, 8], [1, 99]),
    text: body,
    group: fc.option(fc.integer({ min: 1, max: 3 })),
    public: fc.boolean(),
  }),
  fc.record({
    t: fc.constant("notification" as const),
    id: id("notification"),
    recipient: fc.option(anyId("patient"), { freq: 5 }),
    sender: fc.constantFrom("", "billing-bot"),
    template: fc.constantFrom(
      "patient_payment_reminder",
      "doctor_patient_assigned",
      "urgent_system_maintenance",
      "welcome_message",
      "patient_treatment_update_urgent",
      "appointment_confirmation",
    ),
    context: fc.constantFrom(
      "",
      "{}",
      '{"patient": {"first_name": "Ana"}, "amount": 12.5}',
      '{"amount": 1e2, "due": "9.0", "ok": true}',
      '{"patient": null, "amount": [1]}',
      "{bad json",
      "[1, 2]",
      '"a string"',
      "null",
    ),
    subject: fc.constantFrom("Payment reminder {{ amount }}", ""),
    content: fc.constantFrom(
      "Hi {{ patient.first_name }}, {{ amount }} is due.",
      "{{missing}} {{ patient.first_name.x }} {{\tamount }}",
      "{{ding}}{{ due }}{{ok}}",
      "plain",
      "",
    ),
    send: fc.boolean(),
    sent: fc.boolean(),
    scheduled: fc.boolean(),
  }),
  fc.record({
    t: fc.constant("file" as const),
    id: id("file"),
    name: fc.constantFrom("scan.stl", "", "ñ.pdf"),
    path: fc.constantFrom("uploads/a", "uploads/b"),
    size: fc.constantFrom(0, 1024, 5_000_000_000),
    mime: fc.constantFrom("model/stl", "application/pdf", ""),
    uploader: ref("user"),
  }),
  fc.record({ t: fc.constant("link" as const), id: id("link"), file: id("file"), instruction: id("instruction") }),
  fc.record({
    t: fc.constant("order" as const),
    id: id("order"),
    instruction: ref("instruction"),
    patient: id("patient"),
    office: ref("office"),
    total: fc.constantFrom("1499.00", "0", "-5.5", "12345678.99"),
    status: code([1, 2, 3, 4, 5], [0, 8]),
  }),
  fc.record({
    t: fc.constant("transaction" as const),
    id: id("transaction"),
    order: ref("order"),
    type: code([1, 2, 3, 4], [0, 7]),
    price: fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom("129.00", "-40.5", " 12.5 ", "0", "9999999999.99") },
      { weight: 2, arbitrary: fc.constantFrom(null, "", "12,50", "abc", "99999999999", "1e3", ".5", "12.345") },
    ),
    brand: fc.option(fc.constantFrom("VISA", "")),
    last4: fc.option(fc.constantFrom("1111", "")),
    officeCard: fc.boolean(),
  }),
  fc.record({
    t: fc.constant("audit" as const),
    id: id("audit"),
    user: ref("user"),
    action: fc.constantFrom("login", "export"),
    repr: fc.constantFrom("", "user 1", "Zoë"),
  }),
);

const TABLES = Object.keys(IDS) as Table[];

/** A write op in session `s`. */
function writeArb(s: fc.Arbitrary<number>): fc.Arbitrary<Op> {
  return fc.oneof(
    { weight: 8, arbitrary: fc.record({ kind: fc.constant("save" as const), s, row: rowArb }) },
    {
      weight: 3,
      arbitrary: fc.constantFrom(...TABLES).chain((t) =>
        fc.record({ kind: fc.constant("delete" as const), s, table: fc.constant(t), id: id(t) })
      ),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("chain" as const),
        s,
        comment: id("comment"),
        plan: id("plan"),
        instruction: id("instruction"),
        patient: id("patient"),
        office: id("office"),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("rename_model" as const),
        s,
        ct: fc.integer({ min: 0, max: CONTENT_TYPES.length - 1 }),
        model: fc.constantFrom("patient", "user", "office", "group", "client"),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("retarget" as const),
        s,
        id: id("record"),
        ct: fc.integer({ min: 0, max: CONTENT_TYPES.length - 1 }),
        target: anyId("patient"),
      }),
    },
  );
}

const session = fc.integer({ min: 0, max: SESSIONS - 1 });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 20, arbitrary: writeArb(session) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("commit" as const), s: fc.integer({ min: 1, max: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("commit" as const), s: fc.constant(0) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("rollback" as const), s: fc.integer({ min: 1, max: 2 }) }) },
  { weight: 4, arbitrary: fc.constant({ kind: "tick" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "backfill" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "rebuild" as const }) },
);

/** A case's setup. */
export const setupArb: fc.Arbitrary<Setup> = fc.record({
  ctOrder: fc.shuffledSubarray([0, 1, 2, 3], { minLength: 4, maxLength: 4 }),
  batchSize: fc.constantFrom(1, 3, 5000),
  backfillFirst: fc.boolean(),
});

/** A sequence: a write in session 0 (its transaction stays open), a tick, then up to `maxLength` random ops. */
export function opsArb(maxLength: number): fc.Arbitrary<Op[]> {
  return fc.tuple(writeArb(fc.constant(0)), fc.array(opArb, { minLength: 1, maxLength, size: "max" }))
    .map(([first, rest]) => [first, { kind: "tick" } as Op, ...rest]);
}

// ---------------------------------------------------------------------------------------------------------------
// Runner

/** Options of a case. */
export interface CaseOptions {
  /** Run against the pair after the comparison, before it is closed (a regression test's own assertions). */
  after?: (p: Pair) => Promise<void>;
}

/** What a case did. */
export interface CaseStats {
  ops: number;
  /** Writes rolled back to their savepoint (a lock held by another session, a unique key). */
  refusedWrites: number;
  /** Commits the source refused (a deferred foreign key whose parent another session deleted). */
  refusedCommits: number;
  ticks: number;
  /** Source rows at the end (all synced tables). */
  rows: number;
  /** Rows quarantined at the end, and rows parked (on a recipient the source lacks). */
  quarantined: number;
  parked: number;
}

/** SQLSTATEs a Django request can meet and roll back on: lock timeout, unique and foreign-key violations. */
const REFUSED = new Set(["55P03", "23505", "23503"]);

function refused(e: unknown): boolean {
  return e instanceof Error && REFUSED.has((e as { code?: string }).code ?? "");
}

type Conn = postgres.ReservedSql;

/** Django-like writes of one row (`save()`): guarded on required parents, so a missing parent makes it a no-op. */
async function save(c: Conn, r: Row, ct: number[]): Promise<void> {
  switch (r.t) {
    case "user":
      await c`insert into auth_user (id, password, last_login, is_superuser, username, first_name, last_name, email,
                                     is_staff, is_active, date_joined)
              values (${r.id}, 'pbkdf2_sha256$fuzz', case when ${r.login}::boolean then now() end, ${r.superuser},
                      ${"u" + r.id}, ${r.first}, ${r.last}, ${r.email}, ${r.staff}, ${r.active}, now())
              on conflict (id) do update set last_login = excluded.last_login, is_superuser = excluded.is_superuser,
                first_name = excluded.first_name, last_name = excluded.last_name, email = excluded.email,
                is_staff = excluded.is_staff, is_active = excluded.is_active`;
      return;
    case "office":
      await c`insert into dispatch_office (id, name, phone, address, city, state, zip_code, is_active, created_at,
                                           updated_at)
              values (${r.id}, ${r.name}, ${r.phone}, ${r.address}, ${r.city}, ${r.state}, ${r.zip}, ${r.active},
                      now(), now())
              on conflict (id) do update set name = excluded.name, phone = excluded.phone, address = excluded.address,
                city = excluded.city, state = excluded.state, zip_code = excluded.zip_code,
                is_active = excluded.is_active, updated_at = excluded.updated_at`;
      return;
    case "patient":
      await c`insert into dispatch_patient (id, office_id, user_id, doctor_id, patient_number, first_name, last_name,
                                            birthdate, email, status_id, medical_notes, created_at, updated_at)
              select ${r.id}, o.id, (select u.id from auth_user u where u.id = ${r.user}::int),
                     (select u.id from auth_user u where u.id = ${r.doctor}::int), ${r.number}, ${r.first}, ${r.last},
                     ${r.birthdate}::date, ${r.email}, ${r.status}, ${r.notes}, now(), now()
                from dispatch_office o where o.id = ${r.office}
              on conflict (id) do update set office_id = excluded.office_id, user_id = excluded.user_id,
                doctor_id = excluded.doctor_id, patient_number = excluded.patient_number,
                first_name = excluded.first_name, last_name = excluded.last_name, birthdate = excluded.birthdate,
                email = excluded.email, status_id = excluded.status_id, medical_notes = excluded.medical_notes,
                updated_at = excluded.updated_at`;
      return;
    case "instruction":
      await c`insert into dispatch_instruction (id, patient_id, doctor_id, office_id, status, product, notes,
                                                submitted_at, created_at, updated_at)
              select ${r.id}, p.id, (select u.id from auth_user u where u.id = ${r.doctor}::int),
                     (select o.id from dispatch_office o where o.id = ${r.office}::int), ${r.status}, ${r.product},
                     ${r.notes}, case when ${r.submitted}::boolean then now() end, now(), now()
                from dispatch_patient p where p.id = ${r.patient}
              on conflict (id) do update set patient_id = excluded.patient_id, doctor_id = excluded.doctor_id,
                office_id = excluded.office_id, status = excluded.status, product = excluded.product,
                notes = excluded.notes, submitted_at = excluded.submitted_at, updated_at = excluded.updated_at`;
      return;
    case "plan":
      await c`insert into dispatch_plan (id, instruction_id, version, status, approved_at, created_at, updated_at)
              select ${r.id}, i.id, ${r.version}, ${r.status}, case when ${r.approved}::boolean then now() end,
                     now(), now()
                from dispatch_instruction i where i.id = ${r.instruction}
              on conflict (id) do update set instruction_id = excluded.instruction_id, version = excluded.version,
                status = excluded.status, approved_at = excluded.approved_at, updated_at = excluded.updated_at`;
      return;
    case "comment":
      await c`insert into dispatch_comment (id, plan_id, author_id, text, created_at)
              select ${r.id}, p.id, (select u.id from auth_user u where u.id = ${r.author}::int), ${r.text}, now()
                from dispatch_plan p where p.id = ${r.plan}
              on conflict (id) do update set plan_id = excluded.plan_id, author_id = excluded.author_id,
                text = excluded.text`;
      return;
    case "record":
      await c`insert into dispatch_record (id, target_type_id, target_id, author_id, type, text, group_id, public,
                                           created_at)
              values (${r.id}, ${ct[r.ct]}, ${r.target}, (select u.id from auth_user u where u.id = ${r.author}::int),
                      ${r.type}, ${r.text}, ${r.group}, ${r.public}, now())
              on conflict (id) do update set target_type_id = excluded.target_type_id, target_id = excluded.target_id,
                author_id = excluded.author_id, type = excluded.type, text = excluded.text,
                group_id = excluded.group_id, public = excluded.public`;
      return;
    case "notification":
      await c`insert into dispatch_notification (id, recipient_id, sender, template_name, template_context, subject,
                                                 content, send, sent, send_at, sent_at, created_at)
              values (${r.id}, ${r.recipient}, ${r.sender}, ${r.template}, ${r.context}, ${r.subject}, ${r.content},
                      ${r.send}, ${r.sent}, case when ${r.scheduled}::boolean then now() end,
                      case when ${r.sent}::boolean then now() end, now())
              on conflict (id) do update set recipient_id = excluded.recipient_id, sender = excluded.sender,
                template_name = excluded.template_name, template_context = excluded.template_context,
                subject = excluded.subject, content = excluded.content, send = excluded.send, sent = excluded.sent,
                send_at = excluded.send_at, sent_at = excluded.sent_at`;
      return;
    case "file":
      await c`insert into dispatch_file (id, name, path, size, mime_type, uploaded_by_id, created_at)
              values (${r.id}, ${r.name}, ${r.path}, ${r.size}, ${r.mime},
                      (select u.id from auth_user u where u.id = ${r.uploader}::int), now())
              on conflict (id) do update set name = excluded.name, path = excluded.path, size = excluded.size,
                mime_type = excluded.mime_type, uploaded_by_id = excluded.uploaded_by_id`;
      return;
    case "link":
      await c`insert into dispatch_file_instruction (id, file_id, instruction_id, created_at)
              select ${r.id}, f.id, i.id, now()
                from dispatch_file f, dispatch_instruction i where f.id = ${r.file} and i.id = ${r.instruction}
              on conflict (id) do update set file_id = excluded.file_id, instruction_id = excluded.instruction_id`;
      return;
    case "order":
      await c`insert into dispatch_order (id, instruction_id, patient_id, office_id, total, status, created_at,
                                          updated_at)
              select ${r.id}, (select i.id from dispatch_instruction i where i.id = ${r.instruction}::int), p.id,
                     (select o.id from dispatch_office o where o.id = ${r.office}::int), ${r.total}::numeric,
                     ${r.status}, now(), now()
                from dispatch_patient p where p.id = ${r.patient}
              on conflict (id) do update set instruction_id = excluded.instruction_id,
                patient_id = excluded.patient_id, office_id = excluded.office_id, total = excluded.total,
                status = excluded.status, updated_at = excluded.updated_at`;
      return;
    case "transaction":
      await c`insert into dispatch_transaction (id, order_id, type, price, made_at, sq_order_id, sq_payment_id,
                                                sq_refund_id, card_brand, card_bin, card_last, office_card,
                                                payment_id, created_at)
              values (${r.id}, (select o.id from dispatch_order o where o.id = ${r.order}::int), ${r.type}, ${r.price},
                      now(), 'sqo_' || ${r.id}, null, null, ${r.brand}, null, ${r.last4}, ${r.officeCard}, null, now())
              on conflict (id) do update set order_id = excluded.order_id, type = excluded.type,
                price = excluded.price, card_brand = excluded.card_brand, card_last = excluded.card_last,
                office_card = excluded.office_card`;
      return;
    case "audit":
      await c`insert into dispatch_auditlog (id, user_id, action, object_repr, created_at)
              values (${r.id}, (select u.id from auth_user u where u.id = ${r.user}::int), ${r.action}, ${r.repr},
                      now())
              on conflict (id) do update set user_id = excluded.user_id, action = excluded.action,
                object_repr = excluded.object_repr`;
      return;
  }
}

/** Deletes an instruction as Django does (on_delete=CASCADE): plans, their comments, file links, orders, payments. */
async function deleteInstruction(c: Conn, id: number): Promise<void> {
  await c`delete from dispatch_comment c using dispatch_plan p where c.plan_id = p.id and p.instruction_id = ${id}`;
  await c`delete from dispatch_plan where instruction_id = ${id}`;
  await c`delete from dispatch_file_instruction where instruction_id = ${id}`;
  await c`delete from dispatch_transaction t using dispatch_order o where t.order_id = o.id and o.instruction_id = ${id}`;
  await c`delete from dispatch_order where instruction_id = ${id}`;
  await c`delete from dispatch_instruction where id = ${id}`;
}

/** Deletes a patient with its instructions, orders and payments (records and notifications are polymorphic: kept). */
async function deletePatient(c: Conn, id: number): Promise<void> {
  for (const i of await c`select id from dispatch_instruction where patient_id = ${id} order by id`) {
    await deleteInstruction(c, i.id);
  }
  await c`delete from dispatch_transaction t using dispatch_order o where t.order_id = o.id and o.patient_id = ${id}`;
  await c`delete from dispatch_order where patient_id = ${id}`;
  await c`delete from dispatch_patient where id = ${id}`;
}

/** Django's delete with its on_delete rules: CASCADE for required parents, SET_NULL for optional ones. */
async function remove(c: Conn, t: Table, id: number): Promise<void> {
  switch (t) {
    case "user":
      await c`update dispatch_patient set user_id = null where user_id = ${id}`;
      await c`update dispatch_patient set doctor_id = null where doctor_id = ${id}`;
      await c`update dispatch_instruction set doctor_id = null where doctor_id = ${id}`;
      await c`update dispatch_comment set author_id = null where author_id = ${id}`;
      await c`update dispatch_record set author_id = null where author_id = ${id}`;
      await c`update dispatch_file set uploaded_by_id = null where uploaded_by_id = ${id}`;
      await c`update dispatch_auditlog set user_id = null where user_id = ${id}`;
      await c`delete from auth_user where id = ${id}`;
      return;
    case "office":
      for (const p of await c`select id from dispatch_patient where office_id = ${id} order by id`) {
        await deletePatient(c, p.id);
      }
      await c`update dispatch_instruction set office_id = null where office_id = ${id}`;
      await c`update dispatch_order set office_id = null where office_id = ${id}`;
      await c`delete from dispatch_office where id = ${id}`;
      return;
    case "patient":
      return await deletePatient(c, id);
    case "instruction":
      return await deleteInstruction(c, id);
    case "plan":
      await c`delete from dispatch_comment where plan_id = ${id}`;
      await c`delete from dispatch_plan where id = ${id}`;
      return;
    case "file":
      await c`delete from dispatch_file_instruction where file_id = ${id}`;
      await c`delete from dispatch_file where id = ${id}`;
      return;
    case "order":
      await c`delete from dispatch_transaction where order_id = ${id}`;
      await c`delete from dispatch_order where id = ${id}`;
      return;
    default:
      // Nothing depends on these: a plain delete.
      await c`delete from ${c(LEAVES[t])} where id = ${id}`;
  }
}

/** The tables no other row depends on, by the fuzz's name for them. */
const LEAVES: Record<
  Exclude<Table, "user" | "office" | "patient" | "instruction" | "plan" | "file" | "order">,
  string
> = {
  comment: "dispatch_comment",
  record: "dispatch_record",
  notification: "dispatch_notification",
  link: "dispatch_file_instruction",
  transaction: "dispatch_transaction",
  audit: "dispatch_auditlog",
};

/** Children first in one transaction: the deferred foreign keys are checked at commit. */
async function chain(c: Conn, op: Extract<Op, { kind: "chain" }>): Promise<void> {
  await c`insert into dispatch_comment (id, plan_id, author_id, text, created_at)
          values (${op.comment}, ${op.plan}, null, 'Before its plan?', now()) on conflict do nothing`;
  await c`insert into dispatch_plan (id, instruction_id, version, status, approved_at, created_at, updated_at)
          values (${op.plan}, ${op.instruction}, 1, 1, null, now(), now()) on conflict do nothing`;
  await c`insert into dispatch_instruction (id, patient_id, doctor_id, office_id, status, product, notes,
                                            submitted_at, created_at, updated_at)
          values (${op.instruction}, ${op.patient}, null, ${op.office}, 0, 'Chain', '', null, now(), now())
          on conflict do nothing`;
  await c`insert into dispatch_patient (id, office_id, user_id, doctor_id, patient_number, first_name, last_name,
                                        birthdate, email, status_id, medical_notes, created_at, updated_at)
          values (${op.patient}, ${op.office}, null, null, 'C-1', 'Chain', 'First', null, '', 1, null, now(), now())
          on conflict do nothing`;
  await c`insert into dispatch_office (id, name, phone, address, city, state, zip_code, is_active, created_at,
                                       updated_at)
          values (${op.office}, 'Chain office', '', '', '', '', '', true, now(), now()) on conflict do nothing`;
}

/** One legacy session: a reserved connection and whether its transaction is open. */
interface Session {
  c: Conn;
  open: boolean;
}

async function write(x: Session, op: Op, ct: number[]): Promise<boolean> {
  if (!x.open) {
    await x.c`begin`;
    x.open = true;
  }
  await x.c`savepoint op`;
  try {
    if (op.kind === "save") await save(x.c, op.row, ct);
    else if (op.kind === "delete") await remove(x.c, op.table, op.id);
    else if (op.kind === "chain") await chain(x.c, op);
    else if (op.kind === "rename_model") {
      await x.c`update django_content_type set model = ${op.model} where id = ${ct[op.ct]}`;
    } else if (op.kind === "retarget") {
      await x.c`update dispatch_record set target_type_id = ${ct[op.ct]}, target_id = ${op.target} where id = ${op.id}`;
    }
    await x.c`release savepoint op`;
    return true;
  } catch (e) {
    if (!refused(e)) throw e;
    await x.c`rollback to savepoint op`;
    return false;
  }
}

async function end(x: Session, how: "commit" | "rollback"): Promise<boolean> {
  if (!x.open) return true;
  x.open = false;
  try {
    if (how === "commit") await x.c`commit`;
    else await x.c`rollback`;
    return true;
  } catch (e) {
    if (!refused(e)) throw e;
    return false;
  }
}

async function syncTick(p: Pair, stats: CaseStats): Promise<Record<string, unknown>> {
  const s = await tick(p.target, 30);
  stats.ticks++;
  deepStrictEqual(s.status, "succeeded", `tick ${s.run_id}: ${JSON.stringify(s.error)}`);
  return s;
}

/**
 * The baseline, committed by the application: most ids of each range taken (2 offices, 3 users, 3 patients with a
 * case and a plan each, comments, orders with payments, files linked to cases, records, notifications, audit rows),
 * so that ops update, move, delete and cascade real rows, and the rest of each range is free for inserts.
 */
async function baseline(app: postgres.Sql, ct: number[]): Promise<void> {
  await app.begin(async (tx) => {
    await tx`insert into dispatch_office (id, name, phone, address, city, state, zip_code, is_active, created_at,
                                          updated_at)
             select g, 'Office ' || g, '', '', 'Humble', 'TX', '', true, now(), now() from generate_series(1, 2) g`;
    await tx`insert into auth_user (id, password, is_superuser, username, first_name, last_name, email, is_staff,
                                    is_active, date_joined)
             select g, 'x', false, 'u' || g, 'User', '', '', g = 1, true, now() from generate_series(1, 3) g`;
    await tx`insert into dispatch_patient (id, office_id, user_id, doctor_id, patient_number, first_name, last_name,
                                           birthdate, email, status_id, medical_notes, created_at, updated_at)
             select g, 1 + g % 2, case when g = 2 then 2 end, 1, 'P-' || g, 'Ana', 'Núñez', null, '', 2, null,
                    now(), now()
               from generate_series(1, 3) g`;
    await tx`insert into dispatch_instruction (id, patient_id, doctor_id, office_id, status, product, notes,
                                               submitted_at, created_at, updated_at)
             select g, g, 1, case when g = 1 then 1 end, 1, 'Clear Aligner Full', '', now(), now(), now()
               from generate_series(1, 3) g`;
    await tx`insert into dispatch_plan (id, instruction_id, version, status, approved_at, created_at, updated_at)
             select g, g, 1, 1, null, now(), now() from generate_series(1, 3) g`;
    await tx`insert into dispatch_comment (id, plan_id, author_id, text, created_at)
             select g, 1 + g % 3, 2, 'Looks good?', now() from generate_series(1, 3) g`;
    await tx`insert into dispatch_order (id, instruction_id, patient_id, office_id, total, status, created_at,
                                         updated_at)
             select g, g, g, null, 1499.00, 1, now(), now() from generate_series(1, 2) g`;
    await tx`insert into dispatch_transaction (id, order_id, type, price, made_at, sq_order_id, sq_payment_id,
                                               sq_refund_id, card_brand, card_bin, card_last, office_card,
                                               payment_id, created_at)
             select g, 1 + g % 2, 1, '1499.00', now(), 'sqo', null, null, 'VISA', '411111', '1111', false, null, now()
               from generate_series(1, 3) g`;
    await tx`insert into dispatch_file (id, name, path, size, mime_type, uploaded_by_id, created_at)
             select g, 'scan.stl', 'uploads/' || g, 1024, 'model/stl', 3, now() from generate_series(1, 2) g`;
    await tx`insert into dispatch_file_instruction (id, file_id, instruction_id, created_at)
             select g, g, g, now() from generate_series(1, 2) g`;
    await tx`insert into dispatch_record (id, target_type_id, target_id, author_id, type, text, group_id, public,
                                          created_at)
             values (1, ${ct[0]}, 1, 1, 3, 'To a patient', null, true, now()),
                    (2, ${ct[1]}, 2, 1, 5, 'To a user', 1, false, now()),
                    (3, ${ct[0]}, 3, null, 8, 'To another patient', null, true, now())`;
    await tx`insert into dispatch_notification (id, recipient_id, sender, template_name, template_context, subject,
                                                content, send, sent, send_at, sent_at, created_at)
             values (1, 1, '', 'patient_payment_reminder', '{"amount": 12.5}', 'Due', '{{ amount }} due', true, true,
                     now(), now(), now()),
                    (2, 2, 'ops', 'welcome_message', '', 'Hi', 'Welcome', true, false, null, null, now()),
                    (3, 3, '', 'urgent_system_maintenance', '{}', 'Down', 'Tonight', true, true, now(), now(), now())`;
    await tx`insert into dispatch_auditlog (id, user_id, action, object_repr, created_at)
             select g, g, 'login', 'user ' || g, now() from generate_series(1, 2) g`;
  });
}

/**
 * Runs one case on a fresh pair and checks it: the target equals the oracle exactly, no inbox row is pending or
 * in conflict, and parked rows are only messages or system messages (a polymorphic recipient the source lacks).
 * @throws AssertionError when the target differs (the message names the differences).
 */
export async function runCase(setup: Setup, ops: Op[], opts: CaseOptions = {}): Promise<CaseStats> {
  const p = await freshPair("fuzz", { empty: true });
  const stats: CaseStats = {
    ops: ops.length,
    refusedWrites: 0,
    refusedCommits: 0,
    ticks: 0,
    rows: 0,
    quarantined: 0,
    parked: 0,
  };
  const sessions: Session[] = [];
  try {
    // Content types by natural key, in the setup's order (their ids differ from case to case), and the baseline:
    // before connect_source and copied by a backfill, or after it and captured.
    const ct: number[] = [];
    const seed = async () => {
      for (const i of setup.ctOrder) {
        const [app, model] = CONTENT_TYPES[i].split(".");
        const [r] = await p.legacyApp`insert into django_content_type (app_label, model) values (${app}, ${model})
                                      returning id`;
        ct[i] = r.id;
      }
      await baseline(p.legacyApp, ct);
    };
    if (setup.backfillFirst) await seed();
    await p.target`select sync.set_config(${p.target.json({ batch_size: setup.batchSize })})`;
    const [{ c }] = await p.target`select sync.connect_source(${p.legacyConninfo}) as c`;
    deepStrictEqual(c.connected, true, JSON.stringify(c));
    if (setup.backfillFirst) await p.target`call sync.backfill(null, null)`;
    else await seed();

    for (let i = 0; i < SESSIONS; i++) {
      const c = await p.legacyApp.reserve();
      // Never wait for another session's lock: the driver runs one statement at a time, so a wait would never end.
      await c`set lock_timeout = '50ms'`;
      sessions.push({ c, open: false });
    }
    for (const op of ops) {
      switch (op.kind) {
        case "commit":
        case "rollback":
          if (!await end(sessions[op.s], op.kind)) stats.refusedCommits++;
          break;
        case "tick":
          await syncTick(p, stats);
          break;
        case "backfill":
          await p.target`call sync.backfill(null, null)`;
          break;
        case "rebuild":
          await p.target`select sync.rebuild_mappings()`;
          break;
        default:
          if (!await write(sessions[op.s], op, ct)) stats.refusedWrites++;
      }
    }
    for (const x of sessions) if (!await end(x, "commit")) stats.refusedCommits++;

    await settleSource(p.legacy);
    for (let i = 0; i < 20; i++) {
      const s = await syncTick(p, stats);
      if (s.rows === 0) break;
    }
    const diff = await p.target`select * from oracle.diff()`;
    deepStrictEqual([...diff], [], "the target differs from the oracle");
    const open = await p.target`
      select entity, status, count(*)::int as n from sync.inbox
       where status in ('pending', 'conflict') or status = 'parked' and entity not in ('messages', 'system_messages')
       group by 1, 2 order by 1, 2`;
    deepStrictEqual([...open], [], "inbox rows left open");
    const [n] = await p.target`
      select (select count(*) from sync.quarantine where released_at is null)::int as quarantined,
             (select count(*) from sync.inbox where status = 'parked')::int as parked`;
    const [r] = await p.legacy`
      select (select count(*) from auth_user) + (select count(*) from dispatch_office)
             + (select count(*) from dispatch_patient) + (select count(*) from dispatch_instruction)
             + (select count(*) from dispatch_plan) + (select count(*) from dispatch_comment)
             + (select count(*) from dispatch_record) + (select count(*) from dispatch_notification)
             + (select count(*) from dispatch_file) + (select count(*) from dispatch_file_instruction)
             + (select count(*) from dispatch_order) + (select count(*) from dispatch_transaction)
             + (select count(*) from dispatch_auditlog) as rows`;
    n.rows = Number(r.rows);
    Object.assign(stats, n);
    await opts.after?.(p);
    return stats;
  } finally {
    for (const x of sessions) x.c.release();
    await p.close();
  }
}

/** Counts over a fuzz run. */
export interface FuzzTally {
  sequences: number;
  ops: number;
  refusedWrites: number;
  refusedCommits: number;
  ticks: number;
  rows: number;
  quarantined: number;
  parked: number;
}

/** A tally at zero. */
export function newTally(): FuzzTally {
  return { sequences: 0, ops: 0, refusedWrites: 0, refusedCommits: 0, ticks: 0, rows: 0, quarantined: 0, parked: 0 };
}

/** The property: every case passes {@link runCase}. Counts what it tried into `tally`. */
export function fuzzProperty(
  tally: FuzzTally,
  maxLength: number,
  opts: CaseOptions = {},
): fc.IAsyncPropertyWithHooks<[Setup, Op[]]> {
  return fc.asyncProperty(setupArb, opsArb(maxLength), async (setup, ops) => {
    const s = await runCase(setup, ops, opts);
    tally.sequences++;
    for (const k of ["ops", "refusedWrites", "refusedCommits", "ticks", "rows", "quarantined", "parked"] as const) {
      tally[k] += s[k];
    }
  });
}
