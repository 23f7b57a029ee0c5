/**
 * The property-based differential test (quality.md, Reliability): random sequences of Django-like legacy writes
 * over every entity, from concurrent sessions with interleaved commits and a transaction held open across ticks,
 * with ticks, backfills and rebuild_mappings at random points; after each, the target equals the oracle exactly.
 * The generator and the runner are in `_fuzz.ts`; `deno task fuzz` runs the same property for longer.
 *
 * Below the property, the shrunk counterexamples it found, kept as regression tests (compared strictly).
 */
import fc from "fast-check";
import { fuzzProperty, KNOWN_DEFECTS, newTally, type Op, runCase, type Setup } from "./_fuzz.ts";

/** Fixed, so that every run tries the same sequences. */
const SEED = 20261128;

Deno.test("fuzz: random legacy operation sequences leave the target equal to the oracle", async () => {
  const tally = newTally();
  await fc.assert(fuzzProperty(tally, 40), { seed: SEED, numRuns: 16 });
  console.log(`fuzz: ${JSON.stringify(tally)}`);
});

// A synced row updated so that it cannot apply any more is quarantined, and its target row must not stay live
// with the old values (oracle: `unexpected`). TODO(#14): the engine keeps it; these run once KNOWN_DEFECTS says fixed.
const quarantinedStaysLive = { ignore: KNOWN_DEFECTS.quarantinedStaysLive };

Deno.test({
  name: "fuzz: regression: a synced record moved to an unsupported content type leaves no live message",
  ...quarantinedStaysLive,
  fn: async () => {
    // As fast-check shrank it (seed 20261128, path 0:0:0:0:0:0:2:1:1:6:6:6:6:6:6:6:6:3:3, generator of 4713bf8);
    // record 1 of the
    // baseline targets patient 1 and is moved to dispatch.office.
    const setup: Setup = { ctOrder: [2, 1, 3, 0], batchSize: 1, backfillFirst: false };
    const ops: Op[] = [
      { kind: "retarget", s: 0, id: 1, ct: 0, target: 1 },
      { kind: "tick" },
      {
        kind: "save",
        s: 0,
        row: { t: "record", id: 1, ct: 2, target: 1, author: null, type: 3, text: "Ana", group: null, public: false },
      },
      { kind: "rollback", s: 1 },
    ];
    await runCase(setup, ops, { strict: true });
  },
});

Deno.test({
  name: "fuzz: regression: a synced payment whose price stops parsing leaves no live operation",
  ...quarantinedStaysLive,
  fn: async () => {
    const ops: Op[] = [
      {
        kind: "save",
        s: 1,
        row: {
          t: "transaction",
          id: 1,
          order: 2,
          type: 1,
          price: "12,50",
          brand: "VISA",
          last4: "1111",
          officeCard: false,
        },
      },
      { kind: "commit", s: 1 },
    ];
    await runCase({ ctOrder: [0, 1, 2, 3], batchSize: 5000, backfillFirst: true }, ops, { strict: true });
  },
});

Deno.test({
  name: "fuzz: regression: a synced notification whose context stops being JSON leaves no live system message",
  ...quarantinedStaysLive,
  fn: async () => {
    const ops: Op[] = [
      {
        kind: "save",
        s: 1,
        row: {
          t: "notification",
          id: 1,
          recipient: 1,
          sender: "",
          template: "patient_payment_reminder",
          context: "{bad json",
          subject: "Due",
          content: "x",
          send: true,
          sent: true,
          scheduled: true,
        },
      },
      { kind: "commit", s: 1 },
    ];
    await runCase({ ctOrder: [0, 1, 2, 3], batchSize: 5000, backfillFirst: true }, ops, { strict: true });
  },
});

Deno.test({
  name: "fuzz: regression: a synced record moved to a patient the source lacks leaves no live message",
  ignore: KNOWN_DEFECTS.parkedStaysLive,
  fn: async () => {
    // As fast-check shrank it (seed 20261128, path 16:0:0:0:0:0:3:0:1:4:4:7:7:3:2:2, generator of 4713bf8): record 1 of
    // the baseline targets
    // patient 1 and is moved to patient 4, which the source never had; the audit saves are what was left of the rest.
    const setup: Setup = { ctOrder: [1, 3, 0, 2], batchSize: 1, backfillFirst: false };
    const ops: Op[] = [
      { kind: "save", s: 0, row: { t: "audit", id: 1, user: null, action: "login", repr: "" } },
      { kind: "tick" },
      { kind: "retarget", s: 0, id: 1, ct: 0, target: 4 },
      { kind: "save", s: 0, row: { t: "audit", id: 1, user: null, action: "login", repr: "" } },
    ];
    await runCase(setup, ops, { strict: true });
  },
});

Deno.test({
  name: "fuzz: regression: a content type renamed to an unsupported model quarantines the records pointing at it",
  ignore: KNOWN_DEFECTS.contentTypeRenameNotFollowed,
  fn: async () => {
    // As fast-check shrank it (seed 777, path 0:0:0:0:0:0:2:0:1:4:4:4): auth.user (id 1 here) becomes auth.patient,
    // which no mapping supports, so record 2 of the baseline (to user 2) must be quarantined and leave the target.
    const setup: Setup = { ctOrder: [1, 2, 3, 0], batchSize: 1, backfillFirst: false };
    const ops: Op[] = [
      { kind: "chain", s: 0, comment: 1, plan: 1, instruction: 1, patient: 1, office: 1 },
      { kind: "tick" },
      { kind: "rename_model", s: 0, ct: 1, model: "patient" },
      { kind: "tick" },
    ];
    await runCase(setup, ops, { strict: true });
  },
});
