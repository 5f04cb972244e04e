import type { Logger } from "pino";
import { isFaasError } from "../domain/errors.ts";

/** Errors already logged as a failed call or deploy (the server logs every other failed request). */
const reported = new WeakSet<object>();

/**
 * Logs one line for a failed call or deploy — warn with the reason and the first line of the
 * message, or error with the cause for an internal error — and marks the error as logged.
 */
export function reportFailure(logger: Logger | undefined, error: unknown, message: string, fields: Record<string, unknown>): void {
  markReported(error);
  if (!logger) return;
  if (isFaasError(error) && error.kind === "cancelled") {
    logger.info({ ...fields, reason: error.reason, detail: firstLine(error.message) }, message);
  } else if (isFaasError(error) && error.kind !== "internal") {
    logger.warn({ ...fields, reason: error.reason, detail: firstLine(error.message) }, message);
  } else {
    logger.error({ ...fields, reason: "INTERNAL", err: isFaasError(error) ? (error.cause ?? error) : error }, message);
  }
}

/** Whether the error was logged already (reportFailure): the server then logs nothing more. */
export function wasReported(error: unknown): boolean {
  return typeof error === "object" && error !== null && reported.has(error);
}

/** Marks an error as logged (e.g. the same failure with more detail), and returns it. */
export function markReported<T>(error: T): T {
  if (typeof error === "object" && error !== null) reported.add(error);
  return error;
}

/** The first line of a message, at most 300 characters: a log line stays one line. */
export function firstLine(text: string): string {
  const line = text.split("\n", 1)[0]!;
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
