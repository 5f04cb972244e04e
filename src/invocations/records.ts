import { randomBytes } from "node:crypto";
import { FaasError, invalidArgument } from "../domain/errors.ts";
import type { InvocationRecord, StoredError } from "./types.ts";

/** A new invocation id: `inv-` and 32 hexadecimal digits (128 random bits). */
export function newInvocationId(): string {
  return `inv-${randomBytes(16).toString("hex")}`;
}

export interface NewInvocation {
  functionId: string;
  payloadJson: string;
  callbackUrl: string;
  idempotencyKey: string;
  maxAttempts: number;
}

/** A queued invocation, before its first attempt. */
export function newRecord(input: NewInvocation, now = Date.now()): InvocationRecord {
  return {
    id: newInvocationId(),
    functionId: input.functionId,
    status: "queued",
    payloadJson: input.payloadJson,
    callbackUrl: input.callbackUrl,
    idempotencyKey: input.idempotencyKey,
    attempts: 0,
    maxAttempts: input.maxAttempts,
    createdAt: now,
    updatedAt: now,
    startedAt: 0,
    finishedAt: 0,
    nextAttemptAt: now,
    executionTime: 0,
    coldStart: false,
    resultJson: undefined,
    error: undefined,
    callbackStatus: input.callbackUrl ? "pending" : "",
  };
}

/** A FaasError's parts, as stored. */
export function storedError(error: FaasError): StoredError {
  return { kind: error.kind, reason: error.reason, message: error.message, metadata: { ...error.metadata } };
}

/**
 * What becomes of an invocation found running when an agent starts (its agent died during the
 * attempt): queued for a new attempt, or failed with WORKER_CRASHED when that was its last one.
 */
export function recoveredAfterDeath(record: InvocationRecord, now: number): Partial<InvocationRecord> {
  if (record.attempts < record.maxAttempts) return { status: "queued", nextAttemptAt: now };
  return {
    status: "failed",
    finishedAt: now,
    error: {
      kind: "unavailable",
      reason: "WORKER_CRASHED",
      message: `the agent stopped while attempt ${record.attempts} of ${record.maxAttempts} was running`,
      metadata: { function_id: record.functionId },
    },
  };
}

export function queueFull(max: number): FaasError {
  return new FaasError("unavailable", `the invocation store is full (${max} queued and running invocations); retry later`, {
    reason: "QUEUE_FULL",
    metadata: { limit: String(max) },
  });
}

export function invocationNotFound(id: string): FaasError {
  return new FaasError("not_found", `invocation "${id}" not found`, { reason: "INVOCATION_NOT_FOUND", metadata: { invocation_id: id } });
}

/** A page token: the position after which the next page starts. */
export function encodeToken(position: number | string): string {
  return Buffer.from(String(position), "utf8").toString("base64url");
}

export function decodeToken(token: string): number {
  const value = Number(Buffer.from(token, "base64url").toString("utf8"));
  if (!Number.isSafeInteger(value) || value < 0) throw invalidArgument("page_token", "page_token is invalid: pass next_page_token of the previous page");
  return value;
}
