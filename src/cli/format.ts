import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { relativeTime } from "../clients/time.ts";

/** Output format chosen with `-o`: human-readable text, or JSON for scripts. */
export type OutputFormat = "text" | "json";

/** Exit code of a command that ran and failed (an RPC error, a degraded agent). */
export const EXIT_FAILED = 1;
/** Exit code of a usage error: unknown command or option, missing argument, unreadable file. */
export const EXIT_USAGE = 2;

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
    readonly exitCode = EXIT_FAILED,
  ) {
    super(message);
  }
}

/** A protobuf Timestamp as an ISO 8601 string, or "" when unset. */
export function isoTime(time: Timestamp | undefined): string {
  return time ? timestampDate(time).toISOString() : "";
}

/** A protobuf Timestamp as "3m ago" ("-" when unset). */
export function agoTime(time: Timestamp | undefined, now = new Date()): string {
  return relativeTime(time ? timestampDate(time) : undefined, now);
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

/** What went wrong reading a file, in words ("no such file") rather than an errno code. */
export function fileProblem(error: unknown): string {
  switch ((error as NodeJS.ErrnoException).code) {
    case "ENOENT":
      return "no such file";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "it is a directory";
    case "ENOTDIR":
      return "a part of the path is not a directory";
    default:
      return (error as Error).message;
  }
}
