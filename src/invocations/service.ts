import type { Logger } from "pino";
import { AsyncQueue } from "../adapters/kit/queue.ts";
import { FaasError, type FaasErrorReason } from "../domain/errors.ts";
import { asFaasError } from "../server/errors.ts";
import type { InvokeResult } from "../service/results.ts";
import type { CallbackSender } from "./callback.ts";
import { invocationJson } from "./messages.ts";
import { invocationNotFound, newRecord, storedError, type NewInvocation } from "./records.ts";
import { isFinal, type InvocationBackend, type InvocationRecord, type InvocationStatus, type ListPage } from "./types.ts";

export interface InvocationServiceOptions {
  backend: InvocationBackend;
  /** The sync call (AgentCore.invoke): an attempt is exactly what a sync call does. */
  invoke: (functionId: string, payloadJson: string, signal: AbortSignal) => Promise<InvokeResult>;
  /** Attempts of one function running at once in this agent (FAAS_ASYNC_CONCURRENCY). */
  concurrency: number;
  /** How long final invocations are kept (FAAS_INVOCATION_RETENTION). */
  retentionMs: number;
  defaultMaxAttempts: number;
  /** The first retry's backoff (FAAS_ASYNC_RETRY_BASE); doubled per attempt, with jitter, at most retryMaxMs. */
  retryBaseMs: number;
  retryMaxMs: number;
  callbacks: CallbackSender;
  logger: Logger;
}

/** Reasons a new attempt may cure: the function's process died, the platform was unreachable, the call timed out. */
const RETRIED_REASONS: ReadonlySet<FaasErrorReason> = new Set(["WORKER_CRASHED", "INVOKE_TIMEOUT", "PLATFORM_UNAVAILABLE"]);

/** Whether a failed attempt is tried again: never FUNCTION_ERROR or a bad request; yes for crashes, unavailable, timeouts. */
export function isRetried(error: FaasError): boolean {
  if (error.reason === "FUNCTION_ERROR") return false;
  return RETRIED_REASONS.has(error.reason) || error.kind === "unavailable" || error.kind === "deadline_exceeded";
}

/**
 * Durable asynchronous invocations, whatever the platform: accepted into the backend's store
 * (SQLite or JetStream), run from it through the core's invoke (the sync path, so the outcome is
 * exactly a sync call's), retried with backoff on crashes, unavailability and timeouts, watched,
 * cancelled, reported to a signed callback, and pruned after the retention.
 */
export class InvocationService {
  private readonly running = new Map<string, AbortController>();
  private readonly watchers = new Map<string, Set<(r: InvocationRecord) => void>>();
  private readonly closing = new AbortController();
  private pruneTimer: NodeJS.Timeout | undefined;
  private readonly delivering = new Set<Promise<void>>();

  constructor(private readonly options: InvocationServiceOptions) {
    options.backend.onChange((record) => this.changed(record));
  }

  get backendKind(): InvocationBackend["kind"] {
    return this.options.backend.kind;
  }

  /** Starts running queued invocations (those left running by a dead agent first), pruning, and pending callbacks. */
  async start(): Promise<void> {
    await this.prune();
    await this.options.backend.start((record) => this.attempt(record), this.options.concurrency);
    for (const record of await this.options.backend.pendingCallbacks()) if (isFinal(record.status)) this.callback(record);
    const every = Math.min(Math.max(this.options.retentionMs / 10, 1000), 60_000);
    this.pruneTimer = setInterval(() => void this.prune().catch((error: unknown) => this.options.logger.warn({ err: error }, "pruning invocations failed")), every);
    this.pruneTimer.unref();
  }

  /** Queues an invocation (or returns the one its idempotency key names). */
  async accept(input: Omit<NewInvocation, "maxAttempts"> & { maxAttempts?: number }): Promise<{ record: InvocationRecord; duplicate: boolean }> {
    const maxAttempts = input.maxAttempts || this.options.defaultMaxAttempts;
    return this.options.backend.create(newRecord({ ...input, maxAttempts }));
  }

  async get(id: string): Promise<InvocationRecord> {
    const record = await this.options.backend.get(id);
    if (!record) throw invocationNotFound(id);
    return record;
  }

  list(filter: { functionId?: string; status?: InvocationStatus; limit: number; pageToken?: string }): Promise<ListPage> {
    return this.options.backend.list(filter);
  }

  /** Cancels a queued or running invocation; a cancelled one is returned as it is, a finished one refused. */
  async cancel(id: string): Promise<InvocationRecord> {
    const now = Date.now();
    const cancelled = await this.options.backend.update(id, ["queued", "running"], () => ({
      status: "cancelled",
      finishedAt: now,
      error: storedError(new FaasError("cancelled", "the invocation was cancelled", { reason: "CANCELLED" })),
    }));
    if (cancelled) {
      this.callback(cancelled);
      return cancelled;
    }
    const current = await this.get(id);
    if (current.status === "cancelled") return current;
    throw new FaasError("failed_precondition", `invocation "${id}" already ${current.status}`, {
      reason: "INVOCATION_FINISHED",
      metadata: { invocation_id: id, status: current.status },
    });
  }

  /** The invocation now, then after each change, until a final status (or `signal`). */
  async *watch(id: string, signal: AbortSignal): AsyncGenerator<InvocationRecord> {
    const queue = new AsyncQueue<InvocationRecord>({ signal: AbortSignal.any([signal, this.closing.signal]), maxItems: 1024 });
    let set = this.watchers.get(id);
    if (!set) this.watchers.set(id, (set = new Set()));
    const listener = (r: InvocationRecord) => queue.push(r);
    set.add(listener);
    try {
      let last = await this.get(id);
      yield last;
      if (isFinal(last.status)) return;
      for await (const record of queue) {
        if (record.updatedAt < last.updatedAt || (record.updatedAt === last.updatedAt && record.status === last.status && record.attempts === last.attempts)) continue;
        last = record;
        yield record;
        if (isFinal(record.status)) return;
      }
    } finally {
      set.delete(listener);
      if (set.size === 0) this.watchers.delete(id);
    }
  }

  /**
   * Stops: running attempts are aborted and queued again (the attempt is given back: the agent,
   * not the function, ended it), watchers end, callbacks in flight are abandoned (pending ones are
   * sent again at the next start), and the backend closes.
   */
  async close(): Promise<void> {
    if (this.closing.signal.aborted) return;
    this.closing.abort();
    clearInterval(this.pruneTimer);
    const now = Date.now();
    const ids = [...this.running.keys()];
    for (const controller of this.running.values()) controller.abort(new Error("the agent is stopping"));
    for (const id of ids) {
      await this.options.backend
        .update(id, ["running"], (r) => ({ status: "queued", attempts: Math.max(0, r.attempts - 1), nextAttemptAt: now }))
        .catch(() => undefined);
    }
    await Promise.allSettled([...this.delivering]);
    await this.options.backend.close();
  }

  private async prune(): Promise<void> {
    const removed = await this.options.backend.prune(Date.now() - this.options.retentionMs);
    if (removed > 0) this.options.logger.debug({ removed }, "pruned finished invocations");
  }

  private changed(record: InvocationRecord): void {
    if (record.status === "cancelled") this.running.get(record.id)?.abort(new Error("cancelled"));
    const set = this.watchers.get(record.id);
    if (set) for (const listener of set) listener(record);
  }

  /** One attempt: the sync call, then the record moved on (final, or queued again after a backoff). */
  private async attempt(record: InvocationRecord): Promise<InvocationRecord> {
    const { backend, logger } = this.options;
    const controller = new AbortController();
    this.running.set(record.id, controller);
    const start = performance.now();
    let after: InvocationRecord | undefined;
    try {
      const out = await this.options.invoke(record.functionId, record.payloadJson, controller.signal);
      after = await backend.update(record.id, ["running"], () => ({
        status: "succeeded",
        finishedAt: Date.now(),
        executionTime: out.executionTime,
        coldStart: out.coldStart,
        resultJson: out.resultJson,
        error: undefined,
      }));
    } catch (thrown) {
      if (this.closing.signal.aborted) return record;
      const error = asFaasError(thrown);
      if (error.kind === "internal") logger.error({ err: error.cause ?? thrown, invocation_id: record.id }, "internal error in an async invocation");
      const executionTime = (performance.now() - start) / 1000;
      const retry = isRetried(error) && record.attempts < record.maxAttempts;
      const now = Date.now();
      after = await backend.update(record.id, ["running"], (r) =>
        retry
          ? { status: "queued", nextAttemptAt: now + this.backoff(r.attempts), error: storedError(error), executionTime }
          : { status: "failed", finishedAt: now, error: storedError(error), executionTime, coldStart: false },
      );
    } finally {
      this.running.delete(record.id);
    }
    // Undefined: it was cancelled meanwhile (the cancel sent its callback).
    after ??= await backend.get(record.id);
    if (!after) return record;
    if (isFinal(after.status) && after.status !== "cancelled") this.callback(after);
    return after;
  }

  private backoff(attempts: number): number {
    const base = Math.min(this.options.retryBaseMs * 2 ** Math.max(0, attempts - 1), this.options.retryMaxMs);
    return Math.round(base / 2 + (Math.random() * base) / 2);
  }

  private callback(record: InvocationRecord): void {
    if (!record.callbackUrl || record.callbackStatus !== "pending" || this.closing.signal.aborted) return;
    const body = JSON.stringify(invocationJson(record));
    const delivery = this.options.callbacks
      .deliver(record.callbackUrl, record.id, body, this.closing.signal)
      .then(async (ok) => {
        if (this.closing.signal.aborted && !ok) return; // sent again at the next start
        await this.options.backend.update(record.id, [record.status], () => ({ callbackStatus: ok ? "delivered" : "failed" }));
      })
      .catch((error: unknown) => this.options.logger.warn({ err: error, invocation_id: record.id }, "recording a callback failed"))
      .finally(() => this.delivering.delete(delivery));
    this.delivering.add(delivery);
  }
}
