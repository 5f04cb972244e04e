import { errorFacts, explain, type ErrorFacts, type Explanation } from "../clients/explain.ts";
import { CliError, type Io, type OutputFormat } from "./format.ts";

/** How an error is reported: the format, -v, and what the explanation may use. */
export interface ReportOptions {
  format: OutputFormat;
  verbose: boolean;
  functionId?: string;
  agentUrl?: string;
  /** Lines the command already printed (a deploy's build log): not repeated. */
  shown?: ReadonlySet<string>;
}

const RED = "\x1b[1;31m";
const DIM = "\x1b[2m";
const RESET = "\x1b[0m";

/**
 * Writes an error to stderr: in text a sentence (`error: …`), then the relevant lines once (the
 * one that says what went wrong highlighted on a terminal), a hint, and with -v the code, reason
 * and metadata; with `-o json` one object `{"error": {message, code, reason, domain, metadata,
 * lines, hint}}` (message = the sentence; lines and metadata without what was already printed).
 */
export function printError(io: Io, error: unknown, options: ReportOptions): void {
  const explanation = explainAny(error, options);
  if (options.format === "json") {
    const lines = explanation.lines.map((l) => l.text);
    io.stderr.write(`${JSON.stringify({ error: { ...explanation.details, ...(lines.length ? { lines } : {}), ...(explanation.hint ? { hint: explanation.hint } : {}) } })}\n`);
    return;
  }
  io.stderr.write(errorText(explanation, options.verbose, io.stderr.isTTY ?? false));
}

/** The text form of an explanation (see printError). */
export function errorText(explanation: Explanation, verbose: boolean, colour: boolean): string {
  let text = `error: ${explanation.summary}\n`;
  for (const line of explanation.lines) text += `  ${line.highlight && colour ? `${RED}${line.text}${RESET}` : line.text}\n`;
  if (explanation.hint) text += `${colour ? DIM : ""}hint: ${explanation.hint}${colour ? RESET : ""}\n`;
  const { code, reason, domain, metadata } = explanation.details;
  if (verbose && code !== "usage" && code !== "failed") {
    text += `  code: ${code}${reason ? `  reason: ${reason}` : ""}${domain ? `  domain: ${domain}` : ""}\n`;
    for (const [key, value] of Object.entries(metadata ?? {})) {
      text += value.includes("\n") ? `  ${key}:\n${value.replace(/\n+$/, "").replace(/^/gm, "    ")}\n` : `  ${key}: ${value}\n`;
    }
  }
  return text;
}

/** Explains any error the CLI meets: its own CliErrors (usage or failed) and the agent's. */
export function explainAny(error: unknown, options: Omit<ReportOptions, "format" | "verbose">): Explanation {
  if (error instanceof CliError) {
    const details: ErrorFacts = { code: error.exitCode === 2 ? "usage" : "failed", message: error.message };
    return { summary: error.message, lines: [], details };
  }
  return explain(errorFacts(error), { functionId: options.functionId, agentUrl: options.agentUrl, shown: options.shown, surface: "cli" });
}
