/**
 * A vitest reporter that ends the run with one line: the parts the machine lacked (recorded by
 * requires.ts in the directory FAAS_SKIP_DIR names), which tests were skipped for them, and the one
 * `apt-get install` line that provides them all. Prints nothing when nothing was skipped.
 */
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Reporter } from "vitest/reporters";
import { aptPackages, isPart, partNote, partTests, type Part } from "./requires.ts";

/** The summary line for the skips recorded in `dir`, or undefined when there were none. */
export function skipSummary(dir: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, "skips.tsv"), "utf8");
  } catch {
    return undefined;
  }
  const reasons = new Map<Part, string>();
  for (const line of text.split("\n")) {
    const [part, reason] = line.split("\t");
    if (part && isPart(part) && !reasons.has(part)) reasons.set(part, reason ?? "");
  }
  if (reasons.size === 0) return undefined;
  const parts = [...reasons].map(([part, reason]) => `${partTests(part)} (${reason})`);
  const apt = [...new Set([...reasons.keys()].flatMap(aptPackages))].join(" ");
  const notes = [...reasons.keys()].map(partNote).filter((n) => n !== undefined);
  return `Skipped, as this machine lacks what they need: ${parts.join("; ")}. To run them: apt-get install -y ${apt}${notes.length ? ` (${notes.join("; ")})` : ""}. FAAS_REQUIRE_ALL=1 turns these skips into failures.`;
}

/** Prints the summary after the run and removes the directory (requires.ts makes it again, for watch mode's next run). */
export class SkipSummaryReporter implements Reporter {
  constructor(private readonly dir: string) {}

  onTestRunEnd(): void {
    const line = skipSummary(this.dir);
    rmSync(this.dir, { recursive: true, force: true });
    if (line) process.stdout.write(`\n${line}\n`);
  }
}
