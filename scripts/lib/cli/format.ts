/** The CLI's shared formatters: tables, durations, counts, timestamps and the progress bar. Pure functions. */

/** Any JSON object the API returns. */
export type Obj = Record<string, unknown>;

/** Left-aligned columns, two spaces apart, under a header row; `(none)` for no rows. */
export function table(headers: string[], rows: unknown[][]): string {
  if (rows.length === 0) return "(none)";
  const cells = [headers, ...rows.map((r) => r.map(cell))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
}

/** A value as one table cell: `-` for null, compact JSON for objects. */
export function cell(v: unknown): string {
  if (v === null || v === undefined || v === "") return "-";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

/** A duration: `850 ms`, `12.3 s`, `4 min 05 s`, `2 h 03 min`; `-` when unknown. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "-";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const whole = Math.round(s);
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, "0")} s`;
  return `${Math.floor(whole / 3600)} h ${String(Math.floor(whole / 60) % 60).padStart(2, "0")} min`;
}

/** The time between two ISO timestamps (the second defaults to now), or `-` without a start. */
export function between(from: unknown, to?: unknown): string {
  if (typeof from !== "string") return "-";
  const end = typeof to === "string" ? Date.parse(to) : Date.now();
  return duration(end - Date.parse(from));
}

/** An ISO timestamp as `YYYY-MM-DD HH:MM:SS` UTC, or `-`. */
export function time(v: unknown): string {
  if (typeof v !== "string") return "-";
  return new Date(v).toISOString().slice(0, 19).replace("T", " ");
}

/** A run's counts `{entity: {outcome: n}}` summed per outcome: `inserted 5, updated 2`; `-` when none. */
export function countsSummary(counts: unknown): string {
  const sums = new Map<string, number>();
  for (const outcomes of Object.values((counts ?? {}) as Record<string, Record<string, number>>)) {
    for (const [k, n] of Object.entries(outcomes)) sums.set(k, (sums.get(k) ?? 0) + n);
  }
  return sums.size ? [...sums].map(([k, n]) => `${k} ${n}`).join(", ") : "-";
}

/** A run's counts as a table: one row per entity, one column per outcome. */
export function countsTable(counts: unknown): string {
  const byEntity = Object.entries((counts ?? {}) as Record<string, Record<string, number>>);
  const outcomes = [...new Set(byEntity.flatMap(([, o]) => Object.keys(o)))];
  return table(["entity", ...outcomes], byEntity.map(([e, o]) => [e, ...outcomes.map((k) => o[k] ?? 0)]));
}

/**
 * One progress line: `[########------------]  1200/2000 rows  60%  450.0 rows/s  ETA 2.0 s`.
 * `width` is the bar's number of cells.
 */
export function progressLine(
  p: { done?: number; total?: number; rate?: number | null; eta_seconds?: number | null },
  width = 30,
): string {
  const done = p.done ?? 0;
  const total = p.total ?? 0;
  const frac = total > 0 ? Math.min(done / total, 1) : 0;
  const full = Math.round(frac * width);
  const s = p.eta_seconds;
  const eta = s === null || s === undefined ? "-" : s < 60 ? `${Math.round(s)} s` : duration(s * 1000);
  const rate = p.rate === null || p.rate === undefined ? "-" : Number(p.rate).toFixed(1);
  return `[${"#".repeat(full)}${"-".repeat(width - full)}] ${done}/${total} rows  ${Math.floor(frac * 100)}%  ` +
    `${rate} rows/s  ETA ${eta}`;
}
