import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.ts";

/** Output format chosen with `-o`: human-readable text, or JSON for scripts. */
export type OutputFormat = "text" | "json";

/** Where a command writes: stdout for results, stderr for progress and errors. */
export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
}

/** A failure the CLI reports as `error: <message>` with the given exit code (2 for usage errors). */
export class CliError extends Error {
  override readonly name = "CliError";
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** A Connect error as the CLI shows it: code, message and ErrorInfo (reason and metadata). */
export interface ErrorReport {
  code: string;
  message: string;
  reason?: string;
  domain?: string;
  metadata?: Record<string, string>;
}

/** Describes any error the CLI can meet: Connect errors with their details, anything else by message. */
export function describeError(error: unknown): ErrorReport {
  if (error instanceof CliError) return { code: error.exitCode === 2 ? "usage" : "failed", message: error.message };
  const connect = ConnectError.from(error);
  const report: ErrorReport = { code: codeName(connect.code), message: connect.rawMessage };
  const [info] = connect.findDetails(ErrorInfoSchema);
  if (info) {
    report.reason = info.reason;
    report.domain = info.domain;
    if (Object.keys(info.metadata).length > 0) report.metadata = { ...info.metadata };
  }
  if (connect.code === Code.Unavailable && /ECONNREFUSED|fetch failed|connect/i.test(connect.rawMessage)) {
    report.message += " (is the agent running? set --agent or FAAS_AGENT_URL)";
  }
  return report;
}

/** Connect's code name in snake case, as on the wire: `not_found`, `invalid_argument`. */
export function codeName(code: Code): string {
  return Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}

/** Writes an error report to stderr, as text or as one JSON object. */
export function printError(io: Io, report: ErrorReport, format: OutputFormat): void {
  if (format === "json") {
    io.stderr.write(`${JSON.stringify({ error: report })}\n`);
    return;
  }
  let text = report.code === "usage" || report.code === "failed" ? `error: ${report.message}\n` : `error: ${report.code}: ${report.message}\n`;
  if (report.reason) text += `  reason: ${report.reason}\n`;
  for (const [key, value] of Object.entries(report.metadata ?? {})) {
    if (value.includes("\n") && report.message.includes(value.trim())) continue; // a traceback the message already shows
    // Tracebacks are multi-line: indent them under their key.
    text += value.includes("\n") ? `  ${key}:\n${indent(value, "    ")}\n` : `  ${key}: ${value}\n`;
  }
  io.stderr.write(text);
}

/** A protobuf Timestamp as an ISO 8601 string, or "" when unset. */
export function isoTime(time: Timestamp | undefined): string {
  return time ? timestampDate(time).toISOString() : "";
}

/** Prints rows as a left-aligned table with a header. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join("  ");
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}

/** Pretty JSON, two-space indented, with a trailing newline. */
export function prettyJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

function indent(text: string, prefix: string): string {
  return text
    .replace(/\n$/, "")
    .split("\n")
    .map((l) => prefix + l)
    .join("\n");
}
