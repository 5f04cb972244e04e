import type { InvocationRecord, InvocationStatus } from "./types.ts";

/** A row of the invocations table, as better-sqlite3 returns it. */
export type Row = {
  seq: number;
  id: string;
  function_id: string;
  status: InvocationStatus;
  payload: string;
  callback_url: string;
  idempotency_key: string;
  attempts: number;
  max_attempts: number;
  created_at: number;
  updated_at: number;
  started_at: number;
  finished_at: number;
  next_attempt_at: number;
  execution_time: number;
  cold_start: number;
  result: string | null;
  error: string | null;
  callback_status: string;
};

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS invocations (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  function_id TEXT NOT NULL,
  status TEXT NOT NULL,
  payload TEXT NOT NULL,
  callback_url TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  finished_at INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  execution_time REAL NOT NULL,
  cold_start INTEGER NOT NULL,
  result TEXT,
  error TEXT,
  callback_status TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS invocations_idempotency ON invocations(function_id, idempotency_key) WHERE idempotency_key <> '';
CREATE INDEX IF NOT EXISTS invocations_queue ON invocations(function_id, status, seq);
CREATE INDEX IF NOT EXISTS invocations_by_function ON invocations(function_id, seq);
CREATE INDEX IF NOT EXISTS invocations_due ON invocations(status, next_attempt_at);
CREATE INDEX IF NOT EXISTS invocations_finished ON invocations(finished_at) WHERE finished_at > 0;
CREATE INDEX IF NOT EXISTS invocations_callbacks ON invocations(callback_status) WHERE callback_status = 'pending';
`;

export const COLUMNS = [
  "id", "function_id", "status", "payload", "callback_url", "idempotency_key", "attempts", "max_attempts", "created_at",
  "updated_at", "started_at", "finished_at", "next_attempt_at", "execution_time", "cold_start", "result", "error", "callback_status",
] as const;

/** The columns an update may change (the rest never change after the insert, and the indexes on them stay untouched). */
export const MUTABLE_COLUMNS = [
  "status", "attempts", "updated_at", "started_at", "finished_at", "next_attempt_at", "execution_time", "cold_start", "result", "error", "callback_status",
] as const;

export function toRow(r: InvocationRecord): Omit<Row, "seq"> {
  return {
    id: r.id,
    function_id: r.functionId,
    status: r.status,
    payload: r.payloadJson,
    callback_url: r.callbackUrl,
    idempotency_key: r.idempotencyKey,
    attempts: r.attempts,
    max_attempts: r.maxAttempts,
    created_at: r.createdAt,
    updated_at: r.updatedAt,
    started_at: r.startedAt,
    finished_at: r.finishedAt,
    next_attempt_at: r.nextAttemptAt,
    execution_time: r.executionTime,
    cold_start: r.coldStart ? 1 : 0,
    result: r.resultJson ?? null,
    error: r.error ? JSON.stringify(r.error) : null,
    callback_status: r.callbackStatus,
  };
}

export function fromRow(row: Row): InvocationRecord {
  return {
    id: row.id,
    functionId: row.function_id,
    status: row.status,
    payloadJson: row.payload,
    callbackUrl: row.callback_url,
    idempotencyKey: row.idempotency_key,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    nextAttemptAt: row.next_attempt_at,
    executionTime: row.execution_time,
    coldStart: row.cold_start === 1,
    resultJson: row.result ?? undefined,
    error: row.error ? (JSON.parse(row.error) as InvocationRecord["error"]) : undefined,
    callbackStatus: row.callback_status as InvocationRecord["callbackStatus"],
  };
}

