/**
 * Report formatting shared by the benchmarks: aligned tables, number formats, and checks — a
 * measured figure against its bar — printed as one table of values with PASS/FAIL.
 */
import type { Say } from "./settings.ts";

/** Rows as lines of aligned columns; the first row is the header. */
export function table(rows: string[][], align: ("l" | "r")[]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (align[i] === "r" ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join("  ").trimEnd());
}

export function fmtRps(v: number | undefined): string {
  return v === undefined ? "-" : Math.round(v).toLocaleString("en-US");
}

export function fmtMs(v: number | undefined): string {
  return v === undefined || Number.isNaN(v) ? "-" : v.toFixed(3);
}

/** A figure and the bar it must meet. */
export interface Check {
  /** Short name, e.g. "c/d". */
  name: string;
  description: string;
  /** The measured value; undefined when it could not be measured (reported as ERROR). */
  value?: number;
  /** "ratio" (printed with 2 decimals), "ms" (3 decimals and the unit) or "MB" (1 decimal and the unit). */
  unit: "ratio" | "ms" | "MB";
  /** The value must be at least (">=") or at most ("<=") `limit`. */
  op: ">=" | "<=";
  limit: number;
}

/** The bar as text, e.g. ">= 0.6" or "<= 1 ms". */
export function barText(check: Check): string {
  return `${check.op} ${check.limit}${check.unit === "ratio" ? "" : ` ${check.unit}`}`;
}

/** Whether the check passes; undefined when its value is missing. */
export function passes(check: Check): boolean | undefined {
  if (check.value === undefined || Number.isNaN(check.value)) return undefined;
  return check.op === ">=" ? check.value >= check.limit : check.value <= check.limit;
}

/** A ratio check `numerator / denominator` (undefined when either is missing or the denominator is 0). */
export function ratioCheck(name: string, description: string, numerator: number | undefined, denominator: number | undefined, op: Check["op"], limit: number): Check {
  const value = numerator !== undefined && denominator !== undefined && denominator > 0 ? numerator / denominator : undefined;
  return { name, description, value, unit: "ratio", op, limit };
}

/** The checks as one table (ratio, value, bar, result, what); returns true when every one passed. */
export function printChecks(say: Say, checks: Check[]): boolean {
  const rows: string[][] = [["ratio", "value", "bar", "result", "what"]];
  for (const c of checks) {
    const value = c.value === undefined ? "n/a" : c.unit === "ms" ? `${c.value.toFixed(3)} ms` : c.unit === "MB" ? `${c.value.toFixed(1)} MB` : c.value.toFixed(2);
    const pass = passes(c);
    rows.push([c.name, value, barText(c), pass === undefined ? "ERROR" : pass ? "PASS" : "FAIL", c.description]);
  }
  for (const line of table(rows, ["l", "r", "l", "l", "l"])) say(line);
  return checks.every((c) => passes(c) === true);
}

/** The checks as JSON (value and pass null where missing). */
export function checksJson(checks: Check[]) {
  return checks.map((c) => ({ name: c.name, description: c.description, value: c.value ?? null, bar: barText(c), pass: passes(c) ?? null }));
}
