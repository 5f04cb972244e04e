import type { FaasErrorKind, FaasErrorReason } from "../domain/errors.ts";

/** Where an invocation is: queued and running move on; succeeded, failed and cancelled are final. */
export type InvocationStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled";

export const FINAL_STATUSES: readonly InvocationStatus[] = ["succeeded", "failed", "cancelled"];

export function isFinal(status: InvocationStatus): boolean {
  return FINAL_STATUSES.includes(status);
}

/** An error as a sync call would have reported it (a FaasError's parts). */
export interface StoredError {
  kind: FaasErrorKind;
  reason: FaasErrorReason;
  message: string;
  metadata: Record<string, string>;
}

/** "" when no callback was asked for. */
export type CallbackStatus = "" | "pending" | "delivered" | "failed";

/** One asynchronous call as the store keeps it. Times are milliseconds since the epoch. */
export interface InvocationRecord {
  id: string;
  functionId: string;
  status: InvocationStatus;
  /** The payload's JSON text, as a sync call would pass it to the function. */
  payloadJson: string;
  callbackUrl: string;
  idempotencyKey: string;
  /** Attempts started so far (one the agent's death interrupted counts). */
  attempts: number;
  maxAttempts: number;
  createdAt: number;
  updatedAt: number;
  /** When the latest attempt started; 0 before the first. */
  startedAt: number;
  /** When the invocation reached a final status; 0 before. */
  finishedAt: number;
  /** When the next attempt may start (the backoff of a retry); the creation time at first. */
  nextAttemptAt: number;
  executionTime: number;
  coldStart: boolean;
  /** What `handle` returned, as JSON text (succeeded only). */
  resultJson: string | undefined;
  error: StoredError | undefined;
  callbackStatus: CallbackStatus;
}

export interface ListFilter {
  functionId?: string;
  status?: InvocationStatus;
  /** Page size (1..1000). */
  limit: number;
  /** Opaque cursor from a previous page. */
  pageToken?: string;
}

export interface ListPage {
  records: InvocationRecord[];
  nextPageToken: string;
}

/**
 * Runs one claimed invocation (status running, attempts counted) and resolves with the record as
 * the attempt left it: final, or queued again for a retry at nextAttemptAt.
 */
export type RunAttempt = (record: InvocationRecord) => Promise<InvocationRecord>;

/**
 * Where invocations are kept and how the queued ones are handed out: embedded SQLite
 * (sqlite.ts) or NATS JetStream shared by several agents (jetstream.ts). Both keep every write
 * durable before they resolve, so an accepted invocation survives the agent's death.
 */
export interface InvocationBackend {
  readonly kind: "sqlite" | "jetstream";
  /**
   * Stores a new queued invocation, or, when an invocation of the same function has the same
   * idempotency key, returns that one (duplicate). Throws QUEUE_FULL when the store is full.
   */
  create(record: InvocationRecord): Promise<{ record: InvocationRecord; duplicate: boolean }>;
  get(id: string): Promise<InvocationRecord | undefined>;
  /** Newest first. */
  list(filter: ListFilter): Promise<ListPage>;
  /**
   * Changes a record when its status is one of `from` (a compare-and-set): `change` gets the
   * current record and returns the fields to set. Undefined when the status did not match.
   */
  update(id: string, from: readonly InvocationStatus[], change: (current: InvocationRecord) => Partial<InvocationRecord>): Promise<InvocationRecord | undefined>;
  /** Calls `listener` with every record written, by this agent or (shared backends) another. */
  onChange(listener: (record: InvocationRecord) => void): void;
  /**
   * Starts handing out queued invocations whose time has come: each is claimed (status running,
   * attempts + 1, startedAt) and given to `run`, with at most `slots` of one function running in
   * this agent at once. Invocations left running by an agent that died are queued again first.
   */
  start(run: RunAttempt, slots: number): Promise<void>;
  /** Says this agent queued work for `functionId` (so that it is handed out without a delay). */
  notify(functionId: string): void;
  /** Deletes final invocations that finished before `before`; resolves with how many. */
  prune(before: number): Promise<number>;
  /** Records with a callback still to deliver (after a restart). */
  pendingCallbacks(): Promise<InvocationRecord[]>;
  /** Stops handing out work (attempts running finish or are abandoned) and closes the store. */
  close(): Promise<void>;
}

/** FAAS_QUEUE_URL (nats://… for JetStream; unset: SQLite in the state dir), FAAS_INVOCATION_RETENTION, FAAS_INVOCATION_MAX, FAAS_ASYNC_*, FAAS_CALLBACK_*. */
export interface InvocationsConfig {
  queueUrl: string | undefined;
  /** JetStream: how long a message an agent holds waits for its ack (kept alive while running) before another agent gets it. */
  ackWaitMs: number;
  retentionMs: number;
  maxRecords: number;
  concurrency: number;
  maxAttempts: number;
  retryBaseMs: number;
  callbackSecret: string | undefined;
  callbackTries: number;
}
