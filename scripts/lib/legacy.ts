/** The demo legacy database: schema, generator and live stream (sql/legacy). */
import { psql } from "./psql.ts";
import { ROOT } from "./stack.ts";

/** Row counts per legacy table, as the generator reports them. */
export type Counts = Record<string, number>;

/**
 * Data-shape options of the generator (`demo_gen.generate`'s `p_shape`, whose header in
 * sql/legacy/generate.sql defines them exactly); every one is optional and `{}` is the usual data.
 */
export interface Shape {
  /** Share (0..1) of the rows of every long-text column that get a text of about `wide_kb` KB. */
  wide_share?: number;
  /** Size of a wide text in KB (1..1024, default 120). */
  wide_kb?: number;
  /** Integer 1..100: every table below offices, users and patients gets that many times its rows. */
  children?: number;
  /** Share (0..1) of rows whose nullable foreign keys and optional texts are NULL (default: as generated). */
  null_share?: number;
  /** Integer 1..1000: ids spread out, id = (n - 1) * sparse_ids + 1 + a jitter below sparse_ids. */
  sparse_ids?: number;
}

const WIDE: Shape = { wide_share: 0.083, wide_kb: 120 };

/** Named shapes for the benchmark and `deno task legacy:generate -- --shape <name>`. */
export const SHAPES: Readonly<Record<string, Readonly<Shape>>> = {
  default: {},
  wide: WIDE,
  sparse: { sparse_ids: 10 },
  nulls: { null_share: 0.5 },
  children: { children: 3 },
  mixed: { ...WIDE, children: 2, null_share: 0.3, sparse_ids: 10 },
};

/** Each option's range: [min, max, integer]. */
const RANGES: Record<keyof Shape, [number, number, boolean]> = {
  wide_share: [0, 1, false],
  wide_kb: [1, 1024, false],
  children: [1, 100, true],
  null_share: [0, 1, false],
  sparse_ids: [1, 1000, true],
};

/**
 * Reads a shape: a name of {@link SHAPES} or a JSON object of shape options.
 * @throws Error naming the unknown name, the unknown option or the value out of range.
 */
export function parseShape(arg: string): Shape {
  const named = Object.hasOwn(SHAPES, arg) ? SHAPES[arg] : undefined;
  if (named) return { ...named };
  let value: unknown;
  try {
    value = JSON.parse(arg);
  } catch {
    throw new Error(`unknown shape '${arg}': expected one of ${Object.keys(SHAPES).join(", ")} or a JSON object`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(`shape '${arg}' is not a JSON object`);
  }
  const shape: Shape = {};
  for (const [key, v] of Object.entries(value)) {
    if (!Object.hasOwn(RANGES, key)) {
      throw new Error(`unknown shape option '${key}': expected ${Object.keys(RANGES).join(", ")}`);
    }
    const [min, max, integer] = RANGES[key as keyof Shape];
    if (typeof v !== "number" || !(v >= min && v <= max) || (integer && !Number.isInteger(v))) {
      throw new Error(
        `shape option ${key} must be ${integer ? "an integer" : "a number"} in [${min}, ${max}], got ${
          JSON.stringify(v)
        }`,
      );
    }
    shape[key as keyof Shape] = v;
  }
  return shape;
}

/**
 * Drops and recreates schema public of a legacy database with the Django schema, then fills it
 * deterministically at a scale, shaped by `shape` (default `{}`: the usual data). Destroys what
 * the database held.
 * @throws Error with psql's message when the generator refuses the shape.
 */
export async function buildLegacy(url: string, scale: number, seed: number, shape: Shape = {}): Promise<Counts> {
  await psql(url, {
    command: "drop schema if exists public cascade; drop schema if exists demo_gen cascade; create schema public",
  });
  await psql(url, {
    files: [`${ROOT}/sql/legacy/schema.sql`, `${ROOT}/sql/legacy/generate.sql`, `${ROOT}/sql/legacy/stream.sql`],
  });
  const shapeLiteral = `'${JSON.stringify(shape).replaceAll("'", "''")}'::jsonb`;
  const out = await psql(url, {
    command: `select table_name || '=' || row_count from demo_gen.generate(${Number(scale)}, ${
      Math.trunc(seed)
    }, ${shapeLiteral})`,
  });
  await psql(url, { command: "vacuum analyze" });
  return Object.fromEntries(
    out.split("\n").map((l) => {
      const [k, v] = l.split("=");
      return [k, Number(v)];
    }),
  );
}
